"""A small offline stand-in for ``kustomize build`` (no kustomize binary runs here).

It supports exactly the kustomization fields the project's manifests use, with kustomize's
semantics for them (checked against kustomize's source: api/internal/target, api/filters,
kyaml/yaml/merge2), and rejects every other field, so a kustomization that starts using one
fails here instead of rendering differently from the real tool. The steps run in kustomize's
order: resources, generators, patches, namespace, labels, images.

* ``resources``: YAML files in the kustomization's folder (kustomize refuses files outside
  it), each possibly holding several documents, and folders holding a kustomization (bases,
  anywhere, rendered recursively with their own transformations first), concatenated in
  order. Two objects with the same kind, name and namespace are an error, as in kustomize.
* ``configMapGenerator`` / ``secretGenerator``: entries with ``name``, ``envs`` (env files in
  the folder: ``KEY=VALUE`` lines, ``#`` comments and blank lines skipped, the value taken
  verbatim) and ``literals`` (``KEY=VALUE``, surrounding quotes removed), Secrets also with
  ``type``. Only with ``generatorOptions: {disableNameSuffixHash: true}``: the renderer does
  not compute kustomize's name hashes, and the project's Secrets must keep fixed names
  anyway, since pipeline tasks and PyTorchJobs created outside kustomize refer to them. A
  missing env file fails with an error naming the object and the file (and its
  ``.example``, where one exists).
* ``patches``: strategic-merge patches from files (``path``), each applied to the object with
  the patch's apiVersion, kind and name, or, with a ``target`` (``kind`` and/or ``name``,
  anchored regular expressions as in kustomize), to every object it selects; the patched
  object keeps its kind, name and namespace. Merging is kyaml's: maps merge key by key, a
  ``null`` value removes the key, lists of containers, initContainers, env, volumes and
  imagePullSecrets merge by ``name``, volumeMounts by ``mountPath`` and ports by
  ``containerPort`` (container ports) or ``port`` (Service ports), with the patch's elements
  first and the others after (kustomize prepends); other lists are replaced. ``$patch:
  delete`` removes a list element, a map, or (at the top of a patch) the whole object; other
  ``$patch`` directives and JSON 6902 patches are rejected. A patch that matches no object
  is an error (kustomize ignores an unmatched ``target``; here it is a mistake to report).
* ``namespace``: sets ``metadata.namespace`` of every namespaced object, and the namespace of
  RoleBinding/ClusterRoleBinding subjects named ``default`` (kustomize's default
  ``setRoleBindingSubjects: defaultOnly``; other subjects keep theirs, and a ServiceAccount
  subject of a RoleBinding without one means the binding's own namespace).
* ``labels``: each entry's ``pairs`` are added to every object's ``metadata.labels``; with
  ``includeTemplates`` also to pod templates, with ``includeSelectors`` also to selectors
  (and templates);
* ``images``: like kustomize's image transformer, which rewrites the ``image`` of every
  entry of a ``containers`` or ``initContainers`` list anywhere in any kind, matched by
  image name (without tag or digest).
"""

from __future__ import annotations

import base64
import copy
import re
from pathlib import Path
from typing import Any

import yaml

SUPPORTED_FIELDS = frozenset({
    "apiVersion", "kind", "resources", "namespace", "configMapGenerator", "secretGenerator", "generatorOptions",
    "patches", "labels", "images",
})
_LABEL_ENTRY_FIELDS = frozenset({"pairs", "includeSelectors", "includeTemplates"})
_IMAGE_ENTRY_FIELDS = frozenset({"name", "newName", "newTag", "digest"})
_GENERATOR_FIELDS = {"ConfigMap": frozenset({"name", "envs", "literals"}),
                     "Secret": frozenset({"name", "envs", "literals", "type"})}
_PATCH_FIELDS = frozenset({"path", "target"})
_TARGET_FIELDS = frozenset({"kind", "name"})
#: Kinds whose ``spec.template`` is a pod template (kustomize's template label field specs).
_POD_TEMPLATE_KINDS = frozenset({"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job"})
#: Kinds kustomize's namespace transformer leaves alone (cluster-scoped).
CLUSTER_SCOPED_KINDS = frozenset({
    "APIService", "CSIDriver", "CSINode", "CertificateSigningRequest", "ClusterRole", "ClusterRoleBinding",
    "ComponentStatus", "CustomResourceDefinition", "IngressClass", "MutatingWebhookConfiguration", "Namespace",
    "Node", "PersistentVolume", "PriorityClass", "RuntimeClass", "StorageClass", "ValidatingWebhookConfiguration",
    "VolumeAttachment",
})
#: Strategic-merge keys of the lists that merge element by element (k8s.io/api's
#: ``patchMergeKey``s); ``ports`` is decided by its elements, see :func:`_merge_key`.
MERGE_KEYS = {"containers": "name", "initContainers": "name", "ephemeralContainers": "name", "env": "name",
              "volumes": "name", "imagePullSecrets": "name", "volumeMounts": "mountPath"}
_DIRECTIVE = "$patch"
_DELETE = object()  # a merge result: remove this key / element / object
#: Env file keys kustomize accepts (its IsEnvVarName check).
_ENV_KEY = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")


class KustomizeError(ValueError):
    """The kustomization uses something this renderer does not support, or is malformed."""


def load_kustomization(folder: Path) -> dict[str, Any]:
    """The parsed ``kustomization.yaml`` of ``folder``, checked for supported fields only."""
    path = folder / "kustomization.yaml"
    if not path.is_file():
        raise KustomizeError(f"{folder}: no kustomization.yaml")
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


def object_id(doc: dict[str, Any]) -> str:
    """``Kind/name`` (``Kind/namespace/name`` when namespaced) of an object, for messages."""
    meta = doc.get("metadata", {})
    return "/".join(str(p) for p in (doc.get("kind"), meta.get("namespace"), meta.get("name")) if p)


# --- resources ------------------------------------------------------------------------------


def _file_in(folder: Path, name: str, what: str) -> Path:
    """``folder/name``, which must lie inside ``folder`` (kustomize's load restriction)."""
    path = (folder / name).resolve()
    if folder not in path.parents:
        raise KustomizeError(f"{what} {name}: kustomize loads no files outside {folder}")
    return path


def _resources(folder: Path, kustomization: dict[str, Any], stack: tuple[Path, ...]) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for resource in kustomization.get("resources", []):
        path = (folder / resource).resolve()
        if path.is_dir():
            docs.extend(_render(path, stack))
            continue
        path = _file_in(folder, resource, "resource")
        if not path.is_file():
            raise KustomizeError(f"{resource}: neither a file nor a folder in {folder}")
        docs.extend(copy.deepcopy(doc) for doc in yaml.safe_load_all(path.read_text()) if doc is not None)
    return docs


# --- generators -----------------------------------------------------------------------------


def _env_file(path: Path) -> list[tuple[str, str]]:
    """The ``(key, value)`` pairs of an env file, parsed as kustomize does; a line without
    ``=`` (which kustomize turns into an empty value) is rejected as a likely mistake."""
    pairs = []
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
        line = line.lstrip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not _ENV_KEY.fullmatch(key):
            raise KustomizeError(f"{path}:{number}: expected KEY=VALUE, got {line!r}")
        pairs.append((key, value))
    return pairs


def _literal(text: str) -> tuple[str, str]:
    key, sep, value = str(text).partition("=")
    if not sep or not key:
        raise KustomizeError(f"literal {text!r}: expected KEY=VALUE")
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return key, value


def _generated(folder: Path, kind: str, entry: dict[str, Any]) -> dict[str, Any]:
    """The ConfigMap or Secret a generator entry makes."""
    unsupported = set(entry) - _GENERATOR_FIELDS[kind]
    if "name" not in entry or unsupported:
        raise KustomizeError(f"{kind} generator entries need a name and support only "
                             f"{sorted(_GENERATOR_FIELDS[kind])}: {entry}")
    name, where = entry["name"], _display(folder)
    pairs: list[tuple[str, str]] = []
    for env in entry.get("envs", []):
        path = _file_in(folder, env, f"{kind} {name!r} env file")
        if not path.is_file():
            example = f" (copy {env}.example and fill in the values)" if Path(f"{path}.example").is_file() else ""
            raise KustomizeError(f"{where}: {kind} {name!r} needs {env}{example}")
        pairs += _env_file(path)
    pairs += [_literal(text) for text in entry.get("literals", [])]
    data: dict[str, str] = {}
    for key, value in pairs:
        if key in data:
            raise KustomizeError(f"{where}: {kind} {name!r}: key {key} is given twice")
        data[key] = value
    if kind == "ConfigMap":
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
            "type": entry.get("type", "Opaque"), "data": encoded}


def _display(folder: Path) -> str:
    """A kustomization folder as its last two path parts (``overlays/production``)."""
    return "/".join(folder.parts[-2:])


def _generators(folder: Path, kustomization: dict[str, Any]) -> list[dict[str, Any]]:
    entries = [("ConfigMap", e) for e in kustomization.get("configMapGenerator", [])]
    entries += [("Secret", e) for e in kustomization.get("secretGenerator", [])]
    options = kustomization.get("generatorOptions", {})
    if set(options) - {"disableNameSuffixHash"}:
        raise KustomizeError(f"generatorOptions supports only disableNameSuffixHash: {options}")
    if entries and options.get("disableNameSuffixHash") is not True:
        raise KustomizeError(f"{_display(folder)}: generators need generatorOptions.disableNameSuffixHash: true "
                             "(the renderer does not compute kustomize's name hashes, and Secrets read by pipeline "
                             "tasks and PyTorchJobs must keep fixed names)")
    return [_generated(folder, kind, entry) for kind, entry in entries]


# --- patches --------------------------------------------------------------------------------


def _merge_key(field: str, dest: list[Any], patch: list[Any]) -> str | None:
    """The strategic-merge key of list ``field``, or None when the list is replaced."""
    if field == "ports":
        elements = [e for e in [*dest, *patch] if isinstance(e, dict)]
        return "containerPort" if any("containerPort" in e for e in elements) else "port"
    return MERGE_KEYS.get(field)


def _directive(node: dict[str, Any]) -> str | None:
    directive = node.get(_DIRECTIVE)
    if directive not in (None, "delete"):
        raise KustomizeError(f"only `$patch: delete` is supported, not `$patch: {directive}`")
    return directive


def _plain(node: Any) -> Any:
    """Patch content added where the target has nothing: copied, with no directives left."""
    if isinstance(node, dict):
        if _directive(node):
            raise KustomizeError(f"`$patch: delete` on something that does not exist: {node}")
        return {k: _plain(v) for k, v in node.items() if v is not None}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def merge(dest: Any, patch: Any, field: str = "") -> Any:
    """``patch`` strategically merged into ``dest`` (neither is modified); ``_DELETE`` when
    the patch deletes it. ``field`` is the key ``dest`` sits under (it picks list merge keys)."""
    if isinstance(patch, dict):
        if _directive(patch):
            return _DELETE
        if not isinstance(dest, dict):
            return _plain(patch)
        out = dict(dest)
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)
                continue
            merged = merge(out[key], value, key) if key in out else _plain(value)
            if merged is _DELETE:
                out.pop(key, None)
            else:
                out[key] = merged
        return out
    if isinstance(patch, list) and isinstance(dest, list) and (key := _merge_key(field, dest, patch)):
        return _merge_list(dest, patch, key, field)
    return _plain(patch)


def _merge_list(dest: list[Any], patch: list[Any], key: str, field: str) -> list[Any]:
    """An associative list merged element by element on ``key``: the patch's elements first
    (merged with the target's element of the same key, if any), then the target's others."""
    by_key = {e.get(key): e for e in dest if isinstance(e, dict)}
    merged, seen = [], set()
    for element in patch:
        if not isinstance(element, dict) or key not in element:
            raise KustomizeError(f"a patch element of {field} has no merge key {key!r}: {element}")
        seen.add(element[key])
        if element[key] in by_key:
            result = merge(by_key[element[key]], element, field)
            if result is not _DELETE:
                merged.append(result)
        elif not _directive(element):  # deleting an element that is not there changes nothing
            merged.append(_plain(element))
    return merged + [e for e in dest if not (isinstance(e, dict) and e.get(key) in seen)]


def _selects(target: dict[str, Any], doc: dict[str, Any]) -> bool:
    return all(re.fullmatch(str(target[f]), str(doc.get(f) if f == "kind" else doc["metadata"].get(f)))
               for f in ("kind", "name") if f in target)


def _apply_patches(folder: Path, kustomization: dict[str, Any], docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for entry in kustomization.get("patches", []):
        if "path" not in entry or set(entry) - _PATCH_FIELDS:
            raise KustomizeError(f"patches entries need a path and support only {sorted(_PATCH_FIELDS)}: {entry}")
        target = entry.get("target")
        if target is not None and (not target or set(target) - _TARGET_FIELDS):
            raise KustomizeError(f"patch targets support only {sorted(_TARGET_FIELDS)}: {target}")
        path = _file_in(folder, entry["path"], "patch")
        patches = [p for p in yaml.safe_load_all(path.read_text()) if p is not None]
        if not patches or not all(isinstance(p, dict) and "kind" in p for p in patches):
            raise KustomizeError(f"{entry['path']}: not a strategic-merge patch (JSON 6902 patches are not supported)")
        if target is not None and len(patches) > 1:
            raise KustomizeError(f"{entry['path']}: a patch with a target must hold one document")
        for patch in patches:
            if target is not None:
                selected = [d for d in docs if _selects(target, d)]
            else:
                selected = [d for d in docs if (d["apiVersion"], d["kind"], d["metadata"]["name"]) ==
                            (patch.get("apiVersion"), patch["kind"], patch.get("metadata", {}).get("name"))]
            if not selected:
                raise KustomizeError(f"{entry['path']}: the patch matches no object "
                                     f"({target or object_id(patch)})")
            docs = [_patched(doc, patch) if any(doc is s for s in selected) else doc for doc in docs]
            docs = [doc for doc in docs if doc is not _DELETE]
    return docs


def _patched(doc: dict[str, Any], patch: dict[str, Any]) -> Any:
    """``doc`` with ``patch`` merged in, keeping its kind, name and namespace (or _DELETE)."""
    result = merge(doc, patch)
    if result is _DELETE:
        return result
    meta = result["metadata"] = dict(result["metadata"])
    result["kind"], meta["name"] = doc["kind"], doc["metadata"]["name"]
    if "namespace" in doc["metadata"]:
        meta["namespace"] = doc["metadata"]["namespace"]
    else:
        meta.pop("namespace", None)
    return result


# --- namespace, labels, images --------------------------------------------------------------


def _set_namespace(doc: dict[str, Any], namespace: str) -> None:
    if doc["kind"] not in CLUSTER_SCOPED_KINDS:
        doc.setdefault("metadata", {})["namespace"] = namespace
    if doc["kind"] in ("RoleBinding", "ClusterRoleBinding"):
        for subject in doc.get("subjects") or []:
            if subject.get("name") == "default":
                subject["namespace"] = namespace


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


# --- the build ------------------------------------------------------------------------------


def _render(folder: Path, stack: tuple[Path, ...]) -> list[dict[str, Any]]:
    if folder in stack:
        raise KustomizeError(f"kustomization cycle: {' -> '.join(map(str, (*stack, folder)))}")
    stack = (*stack, folder)
    kustomization = load_kustomization(folder)
    docs = _resources(folder, kustomization, stack) + _generators(folder, kustomization)
    seen: set[tuple[str, str, str | None]] = set()
    for doc in docs:
        key = (doc["kind"], doc["metadata"]["name"], doc["metadata"].get("namespace"))
        if key in seen:
            raise KustomizeError(f"{_display(folder)}: {object_id(doc)} is defined twice")
        seen.add(key)
    docs = _apply_patches(folder, kustomization, docs)
    if "namespace" in kustomization:
        for doc in docs:
            _set_namespace(doc, str(kustomization["namespace"]))
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


def render(folder: Path) -> list[dict[str, Any]]:
    """The objects ``kustomize build folder`` would output (in resource order)."""
    return _render(folder.resolve(), ())
