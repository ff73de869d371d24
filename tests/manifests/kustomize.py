"""A tiny offline stand-in for ``kustomize build`` (no kustomize binary runs here).

It supports exactly the kustomization fields the project's manifests use, with kustomize's
semantics for them, and rejects every other field, so a kustomization that starts using one
fails here instead of rendering differently from the real tool:

* ``resources``: YAML files in the kustomization's folder (kustomize refuses files outside
  it), each possibly holding several documents, concatenated in order;
* ``labels``: each entry's ``pairs`` are added to every object's ``metadata.labels``; with
  ``includeTemplates`` also to pod templates, with ``includeSelectors`` also to selectors
  (and templates);
* ``images``: like kustomize's image transformer, which rewrites the ``image`` of every
  entry of a ``containers`` or ``initContainers`` list anywhere in any kind, matched by
  image name (without tag or digest).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

SUPPORTED_FIELDS = frozenset({"apiVersion", "kind", "resources", "labels", "images"})
_LABEL_ENTRY_FIELDS = frozenset({"pairs", "includeSelectors", "includeTemplates"})
_IMAGE_ENTRY_FIELDS = frozenset({"name", "newName", "newTag", "digest"})
#: Kinds whose ``spec.template`` is a pod template (kustomize's template label field specs).
_POD_TEMPLATE_KINDS = frozenset({"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job"})


class KustomizeError(ValueError):
    """The kustomization uses something this renderer does not support, or is malformed."""


def load_kustomization(folder: Path) -> dict[str, Any]:
    """The parsed ``kustomization.yaml`` of ``folder``, checked for supported fields only."""
    path = folder / "kustomization.yaml"
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise KustomizeError(f"{path}: not a mapping")
    if (data.get("apiVersion"), data.get("kind")) != ("kustomize.config.k8s.io/v1beta1", "Kustomization"):
        raise KustomizeError(f"{path}: apiVersion/kind must be kustomize.config.k8s.io/v1beta1 Kustomization")
    unsupported = set(data) - SUPPORTED_FIELDS
    if unsupported:
        raise KustomizeError(f"{path}: fields not supported by the test renderer: {sorted(unsupported)}")
    return data


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """``(name, tag, digest)`` of an image reference; a ``:`` followed by a ``/`` is a registry
    port, not a tag."""
    name, _, digest = image.partition("@")
    head, sep, tag = name.rpartition(":")
    if sep and "/" not in tag:
        name = head
    else:
        tag = ""
    return name, tag or None, digest or None


def _set_images(node: Any, images: list[dict[str, Any]]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                for container in value:
                    if isinstance(container, dict) and isinstance(container.get("image"), str):
                        container["image"] = _new_image(container["image"], images)
            _set_images(value, images)
    elif isinstance(node, list):
        for item in node:
            _set_images(item, images)


def _new_image(image: str, images: list[dict[str, Any]]) -> str:
    name, tag, digest = split_image(image)
    for entry in images:
        if entry["name"] != name:
            continue
        name = entry.get("newName", name)
        if "digest" in entry:
            tag, digest = None, entry["digest"]
        elif "newTag" in entry:
            tag, digest = str(entry["newTag"]), None
        break
    return name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def _add_labels(doc: dict[str, Any], entry: dict[str, Any]) -> None:
    pairs = {str(k): str(v) for k, v in entry.get("pairs", {}).items()}
    selectors = bool(entry.get("includeSelectors", False))
    templates = selectors or bool(entry.get("includeTemplates", False))
    doc.setdefault("metadata", {}).setdefault("labels", {}).update(pairs)
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        return
    if templates and doc.get("kind") in _POD_TEMPLATE_KINDS:
        spec.setdefault("template", {}).setdefault("metadata", {}).setdefault("labels", {}).update(pairs)
    if selectors:
        if doc.get("kind") == "Service":
            spec.setdefault("selector", {}).update(pairs)
        elif doc.get("kind") in _POD_TEMPLATE_KINDS or doc.get("kind") == "PodDisruptionBudget":
            spec.setdefault("selector", {}).setdefault("matchLabels", {}).update(pairs)


def render(folder: Path) -> list[dict[str, Any]]:
    """The objects ``kustomize build folder`` would output (in resource order)."""
    folder = folder.resolve()
    kustomization = load_kustomization(folder)
    docs: list[dict[str, Any]] = []
    for resource in kustomization.get("resources", []):
        path = (folder / resource).resolve()
        if path.parent != folder and folder not in path.parents:
            raise KustomizeError(f"{resource}: kustomize loads no files outside {folder}")
        if not path.is_file():
            raise KustomizeError(f"{resource}: not a file in {folder} (directories are not supported)")
        docs.extend(copy.deepcopy(doc) for doc in yaml.safe_load_all(path.read_text()) if doc is not None)
    for entry in kustomization.get("labels", []):
        if set(entry) - _LABEL_ENTRY_FIELDS:
            raise KustomizeError(f"labels entry with unsupported fields: {sorted(set(entry) - _LABEL_ENTRY_FIELDS)}")
        for doc in docs:
            _add_labels(doc, entry)
    images = kustomization.get("images", [])
    for entry in images:
        if "name" not in entry or set(entry) - _IMAGE_ENTRY_FIELDS:
            raise KustomizeError(f"images entry must have a name and only {sorted(_IMAGE_ENTRY_FIELDS)}: {entry}")
    for doc in docs:
        _set_images(doc, images)
    return docs
