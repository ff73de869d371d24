"""The cluster manifests (manifests/base, manifests/overlays/*, manifests/training), checked
offline.

Each overlay is rendered from a copy of manifests/ in which every Secret env file is created
from its committed ``.env.example`` (the checkout's own ``.env`` files are left out), by the
kustomize stand-in of tests/manifests/kustomize.py. Core objects are validated against the
Kubernetes 1.37 OpenAPI schema (kubernetes-validate, strict), PyTorchJobs against the Training
Operator's CRD schema and webhook rules (tests/train/k8s_standin.py). The remaining tests check
what no schema sees: that every Secret, key and ConfigMap a pod, a pipeline task or a
PyTorchJob needs is in the overlay; that Services, probes and images point at something real;
that the RBAC Role grants exactly the API calls of mtforge/train/pytorchjob.py; that the
MLflow container's environment starts mlflow/entrypoint.sh; that the MinIO setup script is
idempotent; that the smoke PyTorchJob's all-reduce check works under torchrun; and that no
secret value is committed.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import os
import re
import shlex
import shutil
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import kubernetes_validate
import pytest
import yaml

from mtforge.errors import StageFailedError
from mtforge.train.config import ClusterConfig
from mtforge.train.pytorchjob import DEFAULT_NAMESPACE, PyTorchJobConfig, build_pytorchjob, job_name, run_pytorchjob
from pipelines.resources import TASK_SECRETS
from tests.manifests.kustomize import CLUSTER_SCOPED_KINDS, KustomizeError, object_id, render, split_image
from tests.manifests.test_serving_manifests import K8S_VERSION, SECRET_NAME, URL_WITH_PASSWORD, labels_match, quantity
from tests.train.k8s_standin import K8sStandIn, Request, Scenario, admission

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
SMOKE_JOB = MANIFESTS / "training" / "pytorchjob-smoke.yaml"
ENTRYPOINT = ROOT / "mlflow" / "entrypoint.sh"
README = MANIFESTS / "README.md"
#: Each overlay and the namespace it deploys to.
OVERLAYS = {"local-kind": "kubeflow", "production": "mtforge"}
#: The service account KFP runs pipeline pods as, per overlay.
PIPELINE_SERVICE_ACCOUNTS = {"local-kind": "pipeline-runner", "production": "default-editor"}
#: Images as the released overlays must name them.
RELEASED_IMAGES = {"mtforge": "ghcr.io/mtforge/mtforge:0.1.0-cpu", "mlflow": "ghcr.io/mtforge/mlflow:0.1.0"}
KIND_IMAGES = {"mtforge": "localhost/mtforge:dev-cpu", "mlflow": "localhost/mlflow:dev"}
#: apiVersion prefixes of the core kinds kubernetes-validate has schemas for (all the overlays render).
CORE_API_GROUPS = ("v1", "apps/", "batch/", "policy/", "autoscaling/", "rbac.authorization.k8s.io/")
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job")
#: A commented-out key of an .env.example (``# KEY=value``): an optional key.
COMMENTED_KEY = re.compile(r"^#\s*([A-Za-z_][A-Za-z0-9_]*)=")


# --- rendering ------------------------------------------------------------------------------


def copy_tree(destination: Path) -> Path:
    """A copy of manifests/ under ``destination`` whose Secret env files are made from the
    committed ``.env.example`` files; returns the copy's manifests folder."""
    tree = destination / "manifests"
    shutil.copytree(MANIFESTS, tree, ignore=shutil.ignore_patterns("*.env"))
    for example in tree.rglob("*.env.example"):
        shutil.copyfile(example, example.with_suffix(""))
    return tree


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_tree(tmp_path_factory.mktemp("cluster"))


@pytest.fixture(scope="module")
def renders(tree: Path) -> dict[str, list[dict[str, Any]]]:
    return {overlay: render(tree / "overlays" / overlay) for overlay in OVERLAYS}


@pytest.fixture(params=list(OVERLAYS))
def overlay(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def docs(overlay: str, renders: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """A fresh copy of the overlay's rendered objects."""
    return copy.deepcopy(renders[overlay])


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def main_container(doc: dict[str, Any]) -> dict[str, Any]:
    (container,) = doc["spec"]["template"]["spec"]["containers"]
    return container


def kustomization(folder: Path) -> dict[str, Any]:
    return yaml.safe_load((folder / "kustomization.yaml").read_text())


# --- walking pods and their references -------------------------------------------------------


def pod_specs(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(where, pod spec)`` of every pod spec in an object, whatever its kind: a mapping with a
    ``containers`` list (Deployment and Job templates, each PyTorchJob replica, ...)."""

    def walk(node: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
        if isinstance(node, dict):
            if isinstance(node.get("containers"), list):
                yield where, node
                return
            for key, value in node.items():
                yield from walk(value, f"{where}.{key}" if where else key)

    yield from walk(doc, "")


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod.get("initContainers", []), *pod["containers"]]


class Ref(NamedTuple):
    """A pod's reference to a key (or, with ``key`` None, all keys) of a Secret or ConfigMap."""

    owner: str
    namespace: str | None
    kind: str
    name: str
    key: str | None
    optional: bool


def references(doc: dict[str, Any]) -> Iterator[Ref]:
    """Every Secret and ConfigMap reference of the pods in ``doc``: env ``valueFrom``,
    ``envFrom``, ``secret``/``configMap`` volumes and projected volume sources."""
    namespace = doc.get("metadata", {}).get("namespace")
    fields = {"Secret": ("secretKeyRef", "secretRef", "secret"), "ConfigMap": ("configMapKeyRef", "configMapRef", "configMap")}
    for where, pod in pod_specs(doc):
        at = f"{object_id(doc)} {where}"
        for container in containers(pod):
            for kind, (key_ref, all_ref, _) in fields.items():
                for env in container.get("env", []):
                    if ref := env.get("valueFrom", {}).get(key_ref):
                        yield Ref(f"{at} container {container['name']} env {env['name']}", namespace, kind,
                                  ref["name"], ref["key"], ref.get("optional", False))
                for source in container.get("envFrom", []):
                    if ref := source.get(all_ref):
                        yield Ref(f"{at} container {container['name']} envFrom", namespace, kind, ref["name"], None,
                                  ref.get("optional", False))
        for volume in pod.get("volumes", []):
            sources = [volume, *volume.get("projected", {}).get("sources", [])]
            for kind, (_, _, volume_field) in fields.items():
                for source in sources:
                    if ref := source.get(volume_field):
                        name = ref.get("secretName", ref.get("name"))
                        for key in [item["key"] for item in ref.get("items", [])] or [None]:
                            yield Ref(f"{at} volume {volume['name']}", namespace, kind, name, key,
                                      ref.get("optional", False))


def data_keys(doc: dict[str, Any]) -> set[str]:
    return {*doc.get("data", {}), *doc.get("stringData", {}), *doc.get("binaryData", {})}


def _missing(objects: list[dict[str, Any]], kind: str) -> list[str]:
    present = {(d["metadata"].get("namespace"), d["metadata"]["name"]): d for d in objects if d["kind"] == kind}
    problems = []
    for doc in objects:
        for ref in references(doc):
            if ref.kind != kind or ref.optional:
                continue
            target = present.get((ref.namespace, ref.name))
            if target is None:
                problems.append(f"{ref.owner} needs {kind} {ref.name!r} in namespace {ref.namespace}, "
                                "which the overlay does not create")
            elif ref.key is not None and ref.key not in data_keys(target):
                problems.append(f"{ref.owner} needs key {ref.key} of {kind} {ref.name!r}, "
                                f"which has only {sorted(data_keys(target))}")
    return problems


def missing_secrets(objects: list[dict[str, Any]]) -> list[str]:
    """One message per non-optional Secret reference (env ``secretKeyRef``, ``envFrom``
    ``secretRef``, secret and projected volumes) of the pods in ``objects`` that the objects
    cannot satisfy: the Secret is not among them (in the referring object's namespace) or lacks
    the key. Each message names the referring container or volume, the Secret and the key."""
    return _missing(objects, "Secret")


def missing_config_maps(objects: list[dict[str, Any]]) -> list[str]:
    """Like :func:`missing_secrets`, for ConfigMaps."""
    return _missing(objects, "ConfigMap")


def secret_values(docs: list[dict[str, Any]], name: str) -> dict[str, str]:
    """The decoded data of the rendered Secret ``name``."""
    return {k: base64.b64decode(v).decode() for k, v in find(docs, "Secret", name).get("data", {}).items()}


def container_env(container: dict[str, Any], docs: list[dict[str, Any]]) -> dict[str, str]:
    """The environment Kubernetes gives ``container``: literal values, and values from the
    rendered Secrets and ConfigMaps (a missing optional key leaves its variable out)."""
    def source(kind: str, name: str) -> dict[str, str]:
        if kind == "Secret":
            return secret_values(docs, name)
        return dict(find(docs, "ConfigMap", name).get("data", {}))

    env: dict[str, str] = {}
    for entry in container.get("envFrom", []):
        for field, kind in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
            if ref := entry.get(field):
                env.update(source(kind, ref["name"]))
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = str(entry["value"])
        for field, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
            if ref := entry.get("valueFrom", {}).get(field):
                values = source(kind, ref["name"])
                if ref["key"] in values:
                    env[entry["name"]] = values[ref["key"]]
    return env


# --- the .env.example files and what reads them ---------------------------------------------


def example_keys(path: Path) -> tuple[set[str], set[str]]:
    """``(keys set, keys commented out)`` of an ``.env.example`` file."""
    lines = path.read_text().splitlines()
    active = {line.split("=", 1)[0].strip() for line in lines if "=" in line and not line.lstrip().startswith("#")}
    commented = {m.group(1) for line in lines if (m := COMMENTED_KEY.match(line.strip()))}
    return active, commented


def generated_secrets(folder: Path) -> dict[str, Path]:
    """The Secrets an overlay's secretGenerator makes, each with its env file's ``.example``."""
    entries = kustomization(folder).get("secretGenerator", [])
    out = {}
    for entry in entries:
        (env,) = entry["envs"]
        out[entry["name"]] = folder / f"{env}.example"
    return out


def pipeline_secret_refs(compiled: list[Path]) -> dict[str, set[str]]:
    """Secrets (and keys) that compiled KFP pipelines mount as environment through
    kfp-kubernetes' ``use_secret_as_env`` (``secretAsEnv`` in the Kubernetes platform spec),
    for constant Secret names and non-optional mounts."""
    refs: dict[str, set[str]] = {}
    for path in compiled:
        for doc in yaml.safe_load_all(path.read_text()):
            executors = (doc or {}).get("platforms", {}).get("kubernetes", {}).get("deploymentSpec", {}).get("executors", {})
            for config in executors.values():
                for mount in config.get("secretAsEnv", []):
                    name = mount.get("secretName") or mount.get("secretNameParameter", {}).get("runtimeValue", {}).get("constant")
                    if name and not mount.get("optional", False):
                        refs.setdefault(name, set()).update(k["secretKey"] for k in mount.get("keyToEnv", []))
    return refs


@cache
def _compiled_pipeline_secrets() -> dict[str, frozenset[str]]:
    refs = pipeline_secret_refs(sorted((ROOT / "pipelines" / "compiled").glob("*.yaml")))
    return {name: frozenset(keys) for name, keys in refs.items()}


def pipeline_secrets() -> dict[str, set[str]]:
    """The Secrets (and keys) pipeline tasks need: those pipelines/resources.py gives every
    task, and those the compiled pipelines mount."""
    needed: dict[str, set[str]] = {name: set(keys) for name, keys in TASK_SECRETS.items()}
    for name, keys in _compiled_pipeline_secrets().items():
        needed.setdefault(name, set()).update(keys)
    return needed


def needed_secret_keys(docs: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Every Secret key something reads: the pipeline tasks' and the pods' key references
    (optional ones too)."""
    needed = pipeline_secrets()
    for doc in docs:
        for ref in references(doc):
            if ref.kind == "Secret" and ref.key is not None:
                needed.setdefault(ref.name, set()).add(ref.key)
    return needed


# --- the renders: schema, namespace, labels -------------------------------------------------


def test_the_overlays_are_the_folders_under_overlays() -> None:
    assert {p.name for p in (MANIFESTS / "overlays").iterdir() if p.is_dir()} == set(OVERLAYS)
    for name, namespace in OVERLAYS.items():
        assert kustomization(MANIFESTS / "overlays" / name)["namespace"] == namespace
    assert "namespace" not in kustomization(MANIFESTS / "base"), "the base leaves the namespace to the overlays"


def test_every_base_and_overlay_file_is_used(tree: Path) -> None:
    """A manifest or patch file no kustomization names would silently not be applied."""
    for folder in [tree / "base", *(tree / "overlays").iterdir()]:
        spec = kustomization(folder)
        used = set(spec.get("resources", [])) | {p["path"] for p in spec.get("patches", [])}
        present = {str(p.relative_to(folder)) for p in folder.rglob("*.yaml") if p.name != "kustomization.yaml"}
        assert present <= used, f"{folder.name}: files no kustomization uses: {sorted(present - used)}"


def test_core_objects_validate_against_kubernetes(docs: list[dict[str, Any]]) -> None:
    errors = []
    for doc in docs:
        assert doc["apiVersion"].startswith(CORE_API_GROUPS), f"{object_id(doc)}: not a core kind"
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{object_id(doc)}: {exc.message} at {'.'.join(map(str, exc.path))}")
    assert not errors, "\n".join(errors)


def test_every_object_is_in_the_overlay_namespace(overlay: str, docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        assert doc["kind"] not in CLUSTER_SCOPED_KINDS
        assert doc["metadata"].get("namespace") == OVERLAYS[overlay], object_id(doc)


def test_every_object_is_labelled_as_part_of_mtforge(docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "mtforge", object_id(doc)
        if doc["kind"] in WORKLOAD_KINDS:
            assert doc["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/part-of"] == "mtforge"


# --- Secrets and ConfigMaps -----------------------------------------------------------------


def test_every_secret_and_config_map_reference_resolves(docs: list[dict[str, Any]]) -> None:
    assert not missing_secrets(docs), "\n".join(missing_secrets(docs))
    assert not missing_config_maps(docs), "\n".join(missing_config_maps(docs))
    refs = [r for d in docs for r in references(d)]
    assert {r.name for r in refs if r.kind == "Secret"} >= {"mtforge-minio-root", "mtforge-object-store"}


def test_missing_secrets_names_the_secret_of_a_removed_generator(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path)
    folder = tree / "overlays" / "local-kind"
    spec = kustomization(folder)
    spec["secretGenerator"] = [e for e in spec["secretGenerator"] if e["name"] != "mtforge-object-store"]
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(spec))
    problems = missing_secrets(render(folder))
    assert problems and all("'mtforge-object-store'" in p for p in problems)
    owners = {p.split(" ")[0] for p in problems}
    assert owners == {"Deployment/kubeflow/mlflow", "Job/kubeflow/mtforge-minio-setup"}
    assert any("env AWS_SECRET_ACCESS_KEY needs Secret 'mtforge-object-store'" in p for p in problems)


def test_missing_secrets_names_a_missing_key_and_ignores_optional_references(
        renders: dict[str, list[dict[str, Any]]]) -> None:
    docs = copy.deepcopy(renders["production"])
    del find(docs, "Secret", "mtforge-mlflow-db")["data"]["MLFLOW_BACKEND_STORE_URI"]
    assert missing_secrets(docs) == [
        "Deployment/mtforge/mlflow spec.template.spec container mlflow env MLFLOW_BACKEND_STORE_URI needs key "
        "MLFLOW_BACKEND_STORE_URI of Secret 'mtforge-mlflow-db', which has only []"]
    serve = find(docs, "Secret", "mtforge-serve-credentials")
    assert not serve.get("data"), "the example sets no serving credential: all their references are optional"
    docs.remove(serve)
    assert len(missing_secrets(docs)) == 1


def test_a_deleted_env_file_fails_the_render_naming_the_secret_and_the_file(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path)
    (tree / "overlays" / "production" / "secrets" / "mtforge-mlflow-db.env").unlink()
    with pytest.raises(KustomizeError) as error:
        render(tree / "overlays" / "production")
    assert str(error.value) == ("overlays/production: Secret 'mtforge-mlflow-db' needs secrets/mtforge-mlflow-db.env "
                                "(copy secrets/mtforge-mlflow-db.env.example and fill in the values)")


def test_secrets_come_only_from_generators_of_gitignored_env_files() -> None:
    """No committed YAML holds a Secret (with or without values); the .env files are ignored by
    git and none is tracked, while every .env.example is committed."""
    for path in MANIFESTS.rglob("*.yaml"):
        assert not re.search(r"^\s*kind:\s*Secret\s*$", path.read_text(), re.MULTILINE), f"{path}: a committed Secret"
        for doc in yaml.safe_load_all(path.read_text()):
            assert not (isinstance(doc, dict) and "stringData" in doc), f"{path}: committed secret data"
    for overlay in OVERLAYS:
        folder = MANIFESTS / "overlays" / overlay
        for example in generated_secrets(folder).values():
            env = example.with_suffix("")
            relative = [str(p.relative_to(ROOT)) for p in (env, example)]
            ignored = subprocess.run(["git", "check-ignore", "--no-index", *relative], cwd=ROOT,
                                     capture_output=True, text=True).stdout.split()
            assert ignored == [relative[0]], f"{relative[0]} must be gitignored, {relative[1]} not"
    tracked = subprocess.run(["git", "ls-files", "manifests"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    assert not [p for p in tracked if p.endswith(".env")], "a Secret env file is tracked by git"


def test_env_examples_set_exactly_the_keys_something_reads(overlay: str, docs: list[dict[str, Any]]) -> None:
    """Every key an .env.example sets (or, for all-optional Secrets, names in a comment) is read
    by a pod or a pipeline task, and every key read is in the example; every Secret something
    reads is generated."""
    needed = needed_secret_keys(docs)
    generated = generated_secrets(MANIFESTS / "overlays" / overlay)
    assert set(needed) == set(generated), "Secrets read vs. Secrets generated"
    for name, example in generated.items():
        active, commented = example_keys(example)
        assert active | commented == needed[name], f"{example.name}: keys vs. keys read"
        required = {r.key for d in docs for r in references(d) if r.name == name and r.key and not r.optional}
        required |= pipeline_secrets().get(name, set())
        assert required <= active, f"{example.name}: required keys must be set, not commented out"


def test_env_examples_are_marked_as_examples(overlay: str) -> None:
    for name, example in generated_secrets(MANIFESTS / "overlays" / overlay).items():
        text = example.read_text()
        assert text.startswith("#") and "copy to" in text.splitlines()[0].lower(), f"{example.name}: say what to do"
        for line in text.splitlines():
            key, sep, value = line.lstrip("# ").partition("=")
            if sep and (re.search(r"PASSWORD|SECRET", key) or URL_WITH_PASSWORD.search(value)):
                assert "change-me" in value, f"{example.name}: {key} must be an obvious placeholder"


def test_contract_secret_values_point_at_the_overlay_services(docs: list[dict[str, Any]]) -> None:
    """The example values name the Services of the overlay: pipeline tasks and PyTorchJobs
    reach MinIO and MLflow through them."""
    minio, mlflow = find(docs, "Service", "mtforge-minio"), find(docs, "Service", "mlflow")
    api = next(p["port"] for p in minio["spec"]["ports"] if p["name"] == "api")
    assert secret_values(docs, "mtforge-object-store")["MTFORGE_S3_ENDPOINT"] == f"http://mtforge-minio:{api}" \
        == "http://mtforge-minio:9000"
    (mlflow_port,) = mlflow["spec"]["ports"]
    uri = secret_values(docs, "mtforge-mlflow")["MLFLOW_TRACKING_URI"]
    assert uri == f"http://mlflow:{mlflow_port['port']}" == "http://mlflow:5000"
    assert find(docs, "ConfigMap", "mtforge-serve")["data"]["MLFLOW_TRACKING_URI"] == uri
    server_env = container_env(main_container(find(docs, "Deployment", "mlflow")), docs)
    assert server_env["MLFLOW_S3_ENDPOINT_URL"] == secret_values(docs, "mtforge-object-store")["MTFORGE_S3_ENDPOINT"]
    root, store = secret_values(docs, "mtforge-minio-root"), secret_values(docs, "mtforge-object-store")
    assert store["AWS_ACCESS_KEY_ID"] != root["MINIO_ROOT_USER"], "the setup Job refuses the root user's key"
    assert len(root["MINIO_ROOT_PASSWORD"]) >= 8 and len(store["AWS_SECRET_ACCESS_KEY"]) >= 8, "MinIO's minimum"


def test_pipeline_secrets_are_generated_by_every_overlay(docs: list[dict[str, Any]]) -> None:
    for name, keys in pipeline_secrets().items():
        assert keys <= set(secret_values(docs, name)), name


def test_pipeline_secret_refs_reads_the_kfp_kubernetes_platform_spec(tmp_path: Path) -> None:
    from kfp import compiler, dsl, kubernetes

    # No annotations: kfp reads them, and `from __future__ import annotations` makes them strings.
    @dsl.component(base_image="python:3.11-slim")
    def step():
        pass

    @dsl.pipeline(name="refs")
    def pipeline():
        task = step()
        kubernetes.use_secret_as_env(task, "mtforge-mlflow", {"MLFLOW_TRACKING_URI": "MLFLOW_TRACKING_URI"})
        kubernetes.use_secret_as_env(task, "maybe", {"K": "K"}, optional=True)

    compiler.Compiler().compile(pipeline, str(tmp_path / "refs.yaml"))
    assert pipeline_secret_refs([tmp_path / "refs.yaml"]) == {"mtforge-mlflow": {"MLFLOW_TRACKING_URI"}}


# --- Services, probes, images, pods ---------------------------------------------------------


def workload_pods(docs: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """``(workload, pod template)`` of every Deployment, StatefulSet, Job, ..."""
    return [(d, d["spec"]["template"]) for d in docs if d["kind"] in WORKLOAD_KINDS]


def port_of(container: dict[str, Any], ref: int | str) -> dict[str, Any] | None:
    return next((p for p in container.get("ports", []) if ref in (p.get("name"), p["containerPort"])), None)


def test_services_select_pods_and_target_their_container_ports(docs: list[dict[str, Any]]) -> None:
    for service in [d for d in docs if d["kind"] == "Service"]:
        selector = service["spec"]["selector"]
        selected = [t for w, t in workload_pods(docs) if labels_match(selector, t["metadata"]["labels"])]
        assert len(selected) == 1, f"{object_id(service)} selects {len(selected)} pod templates"
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            assert any(port_of(c, target) for c in selected[0]["spec"]["containers"]), \
                f"{object_id(service)}: targetPort {target!r} is no container port"


def test_workload_selectors_match_their_templates(docs: list[dict[str, Any]]) -> None:
    for workload, template in workload_pods(docs):
        if workload["kind"] != "Job":
            assert labels_match(workload["spec"]["selector"]["matchLabels"], template["metadata"]["labels"])


def test_probes_use_container_ports(docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        for where, pod in pod_specs(doc):
            for container in pod["containers"]:
                for probe_name in ("startupProbe", "readinessProbe", "livenessProbe"):
                    probe = container.get(probe_name)
                    if probe:
                        action = probe.get("httpGet") or probe.get("tcpSocket") or probe.get("grpc")
                        assert port_of(container, action["port"]), f"{object_id(doc)} {probe_name}: {action['port']}"


def placeholder_images() -> set[str]:
    """The images the committed manifests name before any `images:` entry applies."""
    images = set()
    for path in [*(MANIFESTS / "base").glob("*.yaml"), *(MANIFESTS / "serving").glob("*.yaml")]:
        for doc in yaml.safe_load_all(path.read_text()):
            for _, pod in pod_specs(doc or {}):
                images |= {c["image"] for c in containers(pod)}
    return images


def test_images_are_replaced_and_pinned(overlay: str, docs: list[dict[str, Any]]) -> None:
    placeholders = {"mtforge:cpu", "mtforge-mlflow:latest"}
    assert placeholders <= placeholder_images()
    images = {c["image"] for d in docs for _, pod in pod_specs(d) for c in containers(pod)}
    assert not images & placeholders
    for image in images:
        _, tag, digest = split_image(image)
        assert (tag or digest) and tag != "latest", f"{image}: pin a tag"
        if image.startswith("quay.io/minio/"):
            assert re.fullmatch(r"RELEASE\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ", tag or ""), image
    expected = KIND_IMAGES if overlay == "local-kind" else RELEASED_IMAGES
    assert main_container(find(docs, "Deployment", "mtforge-serve"))["image"] == expected["mtforge"]
    assert main_container(find(docs, "Deployment", "mlflow"))["image"] == expected["mlflow"]


def test_local_kind_uses_the_images_loaded_into_kind(renders: dict[str, list[dict[str, Any]]]) -> None:
    for doc in renders["local-kind"]:
        for _, pod in pod_specs(doc):
            for container in containers(pod):
                assert container["imagePullPolicy"] == "IfNotPresent", f"{object_id(doc)}: {container['name']}"


def test_every_pod_runs_unprivileged_with_bounded_resources(docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        for _, pod in pod_specs(doc):
            assert pod["securityContext"]["runAsNonRoot"] is True, object_id(doc)
            assert pod["securityContext"].get("runAsUser", 1) != 0
            assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
            assert pod["automountServiceAccountToken"] is False, "no pod here talks to the Kubernetes API"
            mounts = {v["name"] for v in pod.get("volumes", [])}
            for container in containers(pod):
                where = f"{object_id(doc)} {container['name']}"
                security = container["securityContext"]
                assert security["allowPrivilegeEscalation"] is False and security["readOnlyRootFilesystem"] is True, where
                assert security["capabilities"]["drop"] == ["ALL"], where
                assert "/tmp" in {m["mountPath"] for m in container["volumeMounts"]}, f"{where}: /tmp must be writable"
                assert {m["name"] for m in container["volumeMounts"]} <= mounts, where
                requests, limits = container["resources"]["requests"], container["resources"]["limits"]
                for resource in ("cpu", "memory"):
                    assert quantity(requests[resource]) <= quantity(limits[resource]), f"{where}: {resource}"
                for env in container.get("env", []):
                    assert not ("value" in env and "valueFrom" in env), f"{where}: {env['name']} has value and valueFrom"
                    if SECRET_NAME.search(env["name"]):
                        assert "secretKeyRef" in env.get("valueFrom", {}), f"{where}: {env['name']} from a Secret"
                    assert not URL_WITH_PASSWORD.search(str(env.get("value", ""))), where


def test_disruption_budgets_leave_room_for_an_eviction(docs: list[dict[str, Any]]) -> None:
    """A PDB's minAvailable must stay below the replicas of what it covers (the HPA's minimum
    for an autoscaled Deployment), or it blocks every node drain."""
    for pdb in [d for d in docs if d["kind"] == "PodDisruptionBudget"]:
        (workload,) = [w for w, t in workload_pods(docs)
                       if labels_match(pdb["spec"]["selector"]["matchLabels"], t["metadata"]["labels"])]
        hpas = [h for h in docs if h["kind"] == "HorizontalPodAutoscaler"
                and h["spec"]["scaleTargetRef"]["name"] == workload["metadata"]["name"]]
        replicas = hpas[0]["spec"]["minReplicas"] if hpas else workload["spec"].get("replicas", 1)
        assert pdb["spec"]["minAvailable"] < replicas, object_id(pdb)


def test_local_kind_runs_one_replica_of_everything_on_small_volumes(renders: dict[str, list[dict[str, Any]]]) -> None:
    docs = renders["local-kind"]
    assert find(docs, "HorizontalPodAutoscaler", "mtforge-serve")["spec"]["minReplicas"] == 1
    assert not [d for d in docs if d["kind"] == "PodDisruptionBudget"]
    for workload, _ in workload_pods(docs):
        assert workload["spec"].get("replicas", 1) == 1, object_id(workload)
    for claim in [d for d in docs if d["kind"] == "PersistentVolumeClaim"]:
        assert quantity(claim["spec"]["resources"]["requests"]["storage"]) <= quantity("5Gi"), object_id(claim)


def test_production_gets_more_storage_and_resources(renders: dict[str, list[dict[str, Any]]]) -> None:
    local, production = renders["local-kind"], renders["production"]

    def storage(docs: list[dict[str, Any]]) -> float:
        return quantity(find(docs, "PersistentVolumeClaim", "mtforge-minio-data")["spec"]["resources"]["requests"]["storage"])

    assert storage(production) >= 20 * storage(local)
    for name in ("mtforge-minio", "mlflow"):
        small, large = (main_container(find(d, "Deployment", name))["resources"] for d in (local, production))
        for kind in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                assert quantity(large[kind][resource]) > quantity(small[kind][resource]), f"{name} {kind} {resource}"


# --- MinIO and its setup Job ----------------------------------------------------------------


def test_minio_serves_the_s3_api_and_console_with_health_probes(docs: list[dict[str, Any]]) -> None:
    deployment = find(docs, "Deployment", "mtforge-minio")
    assert deployment["spec"]["strategy"]["type"] == "Recreate" and deployment["spec"]["replicas"] == 1
    pod = deployment["spec"]["template"]["spec"]
    container = main_container(deployment)
    assert container["image"].startswith("quay.io/minio/minio:RELEASE.")
    args = container["args"]
    assert args[:2] == ["server", "/data"]
    options = dict(zip(args[2::2], args[3::2], strict=True))
    assert port_of(container, int(options["--address"].lstrip(":")))["name"] == "api"
    assert port_of(container, int(options["--console-address"].lstrip(":")))["name"] == "console"
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts["/data"] in {v["name"] for v in pod["volumes"] if v.get("persistentVolumeClaim")}
    assert options["--certs-dir"].startswith("/tmp/"), "MinIO creates its certs folder: on a writable volume"
    assert container["livenessProbe"]["httpGet"]["path"] == "/minio/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/minio/health/ready"
    (claim,) = [v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if v.get("persistentVolumeClaim")]
    assert find(docs, "PersistentVolumeClaim", claim)["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert {(p["name"], p["port"]) for p in find(docs, "Service", "mtforge-minio")["spec"]["ports"]} == \
        {("api", 9000), ("console", 9001)}


FAKE_MC = r"""#!/bin/sh
# A stand-in for MinIO's client: records its arguments; `alias set` fails until it has been
# tried $ALIAS_FAILURES times; making an existing bucket without --ignore-existing and a
# second `admin policy attach` fail the way MinIO does.
echo "$*" >> "$STATE/calls"
case "$1 $2" in
  "mb --ignore-existing") touch "$STATE/bucket-$(basename "$3")" ;;
  "mb "*)
    if [ -e "$STATE/bucket-$(basename "$2")" ]; then echo "mc: <ERROR> Unable to make bucket: you already own it." >&2; exit 1; fi
    touch "$STATE/bucket-$(basename "$2")" ;;
  "alias set")
    n=$(cat "$STATE/alias" 2>/dev/null || echo 0)
    echo $((n + 1)) > "$STATE/alias"
    [ "$n" -ge "$ALIAS_FAILURES" ] || { echo "mc: <ERROR> Unable to initialize new alias" >&2; exit 1; } ;;
  "admin policy")
    if [ -n "${ATTACH_ERROR:-}" ]; then echo "$ATTACH_ERROR" >&2; exit 1; fi
    if [ -e "$STATE/attached" ]; then
      echo "mc: <ERROR> Unable to attach the policy: The specified policy change is already in effect." >&2
      exit 1
    fi
    touch "$STATE/attached" ;;
esac
"""


@pytest.fixture
def setup_job(tmp_path: Path, renders: dict[str, list[dict[str, Any]]]):
    """Runs the setup Job's script (its container's command and environment from the
    local-kind render) with a fake ``mc`` and a no-op ``sleep`` first on PATH; returns a
    function ``(**extra env) -> (CompletedProcess, recorded mc calls)``."""
    docs = renders["local-kind"]
    container = main_container(find(docs, "Job", "mtforge-minio-setup"))
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    for name, text in (("mc", FAKE_MC), ("sleep", "#!/bin/sh\n")):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    env = {**container_env(container, docs), "PATH": f"{bin_dir}:/usr/bin:/bin", "STATE": str(state),
           "ALIAS_FAILURES": "2"}

    def run(**extra: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
        (state / "calls").unlink(missing_ok=True)
        proc = subprocess.run(container["command"], env={**env, **extra}, capture_output=True, text=True, timeout=30)
        calls = (state / "calls").read_text().splitlines() if (state / "calls").exists() else []
        return proc, calls

    return run


def test_setup_job_waits_for_minio_then_makes_buckets_and_the_user(setup_job) -> None:
    proc, calls = setup_job()
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("waiting for MinIO at http://mtforge-minio:9000") == 2
    alias = "alias set mtforge http://mtforge-minio:9000 minioadmin minioadmin-change-me"
    assert calls == [alias] * 3 + [
        "mb --ignore-existing mtforge/mtforge",
        "mb --ignore-existing mtforge/mlflow",
        "admin user add mtforge mtforge mtforge-change-me",
        "admin policy attach mtforge readwrite --user mtforge",
    ]
    # The buckets are the ones training stages to and MLflow stores artifacts in.
    buckets = {c.split("/")[-1] for c in calls if c.startswith("mb ")}
    assert ClusterConfig().staging_uri.removeprefix("s3://").split("/")[0] in buckets
    assert "mlflow" in buckets


def test_setup_job_is_idempotent(setup_job) -> None:
    first, _ = setup_job()
    again, calls = setup_job()
    assert first.returncode == again.returncode == 0, again.stderr
    assert calls[-1] == "admin policy attach mtforge readwrite --user mtforge"
    assert "MinIO ready" in again.stdout


@pytest.mark.parametrize(("extra", "message"), [
    ({"ATTACH_ERROR": "mc: <ERROR> Access Denied."}, "Access Denied"),
    ({"ALIAS_FAILURES": "1000"}, "did not accept the root credentials within 5 minutes"),
    ({"AWS_ACCESS_KEY_ID": "minioadmin"}, "must differ from mtforge-minio-root's MINIO_ROOT_USER"),
], ids=["attach-error", "never-ready", "root-key"])
def test_setup_job_fails_with_the_reason(setup_job, extra: dict[str, str], message: str) -> None:
    proc, _ = setup_job(**extra)
    assert proc.returncode != 0 and message in proc.stderr


def test_setup_job_retries_and_cleans_up(docs: list[dict[str, Any]]) -> None:
    job = find(docs, "Job", "mtforge-minio-setup")
    assert job["spec"]["backoffLimit"] >= 1 and job["spec"]["ttlSecondsAfterFinished"] > 0
    template = job["spec"]["template"]
    assert template["spec"]["restartPolicy"] in ("OnFailure", "Never")
    assert template["metadata"]["annotations"]["sidecar.istio.io/inject"] == "false", "a sidecar never exits"
    assert main_container(job)["image"].startswith("quay.io/minio/mc:RELEASE.")


# --- MLflow ---------------------------------------------------------------------------------


def entrypoint_required_variables() -> set[str]:
    """The variables mlflow/entrypoint.sh's header marks as required."""
    return set(re.findall(r"^#\s+([A-Z][A-Z0-9_]*)\s+required\b", ENTRYPOINT.read_text(), re.MULTILINE))


@pytest.fixture
def start_mlflow(tmp_path: Path):
    """Runs mlflow/entrypoint.sh with exactly a given environment and a fake ``mlflow`` that
    records its arguments; returns ``env -> (CompletedProcess, arguments)``."""
    fake, args_file = tmp_path / "mlflow", tmp_path / "args"
    fake.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" > {shlex.quote(str(args_file))}\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)

    def run(env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], list[str]]:
        args_file.unlink(missing_ok=True)
        proc = subprocess.run(["bash", str(ENTRYPOINT)], env={**env, "PATH": "/usr/bin:/bin", "MLFLOW_BIN": str(fake)},
                              capture_output=True, text=True, timeout=30)
        return proc, args_file.read_text().splitlines() if args_file.exists() else []

    return run


def test_mlflow_environment_starts_the_entrypoint(overlay: str, docs: list[dict[str, Any]], start_mlflow) -> None:
    container = main_container(find(docs, "Deployment", "mlflow"))
    required = entrypoint_required_variables()
    assert required == {"MLFLOW_BACKEND_STORE_URI", "MLFLOW_ARTIFACTS_DESTINATION", "AWS_ACCESS_KEY_ID",
                        "AWS_SECRET_ACCESS_KEY"}
    assert required <= {e["name"] for e in container["env"]}
    env = container_env(container, docs)
    proc, args = start_mlflow(env)
    assert proc.returncode == 0, proc.stderr
    assert args[0] == "server" and "--serve-artifacts" in args
    options = {flag: value for flag, value in zip(args, args[1:]) if flag.startswith("--") and not value.startswith("--")}
    store = ("sqlite:////data/mlflow.db" if overlay == "local-kind"
             else secret_values(docs, "mtforge-mlflow-db")["MLFLOW_BACKEND_STORE_URI"])
    assert options["--backend-store-uri"] == store
    assert options["--artifacts-destination"] == "s3://mlflow/artifacts"
    assert port_of(container, int(options["--port"]))["name"] == "http"
    assert "is on AWS S3 itself" not in proc.stderr, "MLFLOW_S3_ENDPOINT_URL points at MinIO"


@pytest.mark.parametrize("dropped", ["MLFLOW_BACKEND_STORE_URI", "AWS_SECRET_ACCESS_KEY"])
def test_mlflow_entrypoint_check_catches_a_missing_variable(renders: dict[str, list[dict[str, Any]]], start_mlflow,
                                                             dropped: str) -> None:
    docs = renders["production"]
    env = container_env(main_container(find(docs, "Deployment", "mlflow")), docs)
    del env[dropped]
    proc, args = start_mlflow(env)
    assert proc.returncode == 2 and f"{dropped} is not set" in proc.stderr and not args


def test_mlflow_storage_per_overlay(overlay: str, docs: list[dict[str, Any]]) -> None:
    deployment = find(docs, "Deployment", "mlflow")
    spec, container = deployment["spec"], main_container(deployment)
    pod = spec["template"]["spec"]
    claims = [v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if v.get("persistentVolumeClaim")]
    store = next(e for e in container["env"] if e["name"] == "MLFLOW_BACKEND_STORE_URI")
    if overlay == "local-kind":
        # SQLite on a volume: one pod at a time.
        assert (spec["replicas"], spec["strategy"]["type"]) == (1, "Recreate")
        assert claims == ["mlflow-db"] and find(docs, "PersistentVolumeClaim", "mlflow-db")
        directory = store["value"].removeprefix("sqlite:///").rsplit("/", 1)[0]
        (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == directory]
        assert mount["name"] in {v["name"] for v in pod["volumes"] if v.get("persistentVolumeClaim")}
    else:
        assert spec["replicas"] == 2 and spec["strategy"] == {
            "type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
        assert not claims and not [d for d in docs if d["kind"] == "PersistentVolumeClaim" and "mlflow" in d["metadata"]["name"]]
        assert store["valueFrom"]["secretKeyRef"] == {"name": "mtforge-mlflow-db", "key": "MLFLOW_BACKEND_STORE_URI"}
        assert secret_values(docs, "mtforge-mlflow-db")["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql://")
        pdb = find(docs, "PodDisruptionBudget", "mlflow")
        assert labels_match(pdb["spec"]["selector"]["matchLabels"], spec["template"]["metadata"]["labels"])
    assert pod["enableServiceLinks"] is False, "the Service `mlflow` would inject MLFLOW_PORT"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"


# --- RBAC and PyTorchJobs -------------------------------------------------------------------

API_PATH = re.compile(r"^/(?:api/v1|apis/(?P<group>[^/]+)/[^/]+)/namespaces/[^/]+/(?P<resource>[^/]+)"
                      r"(?:/(?P<name>[^/]+)(?:/(?P<subresource>[^/]+))?)?$")


def rbac_attributes(request: Request) -> tuple[str, str, str]:
    """``(API group, resource[/subresource], verb)`` the API server authorizes a request as."""
    match = API_PATH.match(request.path)
    assert match, f"not a namespaced API path: {request.path}"
    named = match["name"] is not None
    resource = match["resource"] + (f"/{match['subresource']}" if match["subresource"] else "")
    if request.method == "GET":
        verb = "get" if named else ("watch" if request.query.get("watch") in ("true", "1") else "list")
    else:
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch",
                "DELETE": "delete" if named else "deletecollection"}[request.method]
    return match["group"] or "", resource, verb


def launcher_api_calls(namespace: str) -> set[tuple[str, str, str]]:
    """The RBAC attributes of every request run_pytorchjob makes for a job that succeeds and
    for one that fails (against the API stand-in)."""
    calls = set()
    for outcome in ("Succeeded", "Failed"):
        cfg = PyTorchJobConfig(namespace=namespace, image="mtforge:test", nnodes=2, poll_s=0.02, timeout_s=10)
        job = build_pytorchjob(job_name("mtforge-train", outcome), ["true"], cfg)
        failure = pytest.raises(StageFailedError) if outcome == "Failed" else contextlib.nullcontext()
        with K8sStandIn(Scenario(outcome=outcome)) as k8s, failure:
            run_pytorchjob(job, cfg, api_client=k8s.api_client(), echo=lambda line: None)
        calls |= {rbac_attributes(r) for r in k8s.requests}
    return calls


def test_role_grants_exactly_the_api_calls_of_the_pytorchjob_launcher(overlay: str, docs: list[dict[str, Any]]) -> None:
    role = find(docs, "Role", "mtforge-pytorchjob-launcher")
    granted = {(group, resource, verb) for rule in role["rules"] for group in rule["apiGroups"]
               for resource in rule["resources"] for verb in rule["verbs"]}
    used = launcher_api_calls(OVERLAYS[overlay])
    assert ("kubeflow.org", "pytorchjobs", "create") in used and ("", "pods/log", "get") in used
    assert granted == used


def test_role_binding_binds_the_pipeline_service_account(overlay: str, docs: list[dict[str, Any]]) -> None:
    binding = find(docs, "RoleBinding", "mtforge-pytorchjob-launcher")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": find(docs, "Role", "mtforge-pytorchjob-launcher")["metadata"]["name"]}
    (subject,) = binding["subjects"]
    assert (subject["kind"], subject["name"]) == ("ServiceAccount", PIPELINE_SERVICE_ACCOUNTS[overlay])
    # No namespace means the RoleBinding's own, where the pipeline pods run.
    assert subject.get("namespace", binding["metadata"]["namespace"]) == OVERLAYS[overlay]


def test_the_launchers_pytorchjob_is_admitted_and_finds_its_secret(overlay: str, docs: list[dict[str, Any]]) -> None:
    """The PyTorchJob that `launcher: pytorchjob` builds with ClusterConfig's defaults, the
    overlay's image and namespace passes the CRD schema (strict) and the operator's webhook,
    its pods are valid Kubernetes pods, and the Secret it takes its environment from (with the
    object-store keys) is in the overlay."""
    cluster = ClusterConfig()
    image = main_container(find(docs, "Deployment", "mtforge-serve"))["image"]
    cfg = PyTorchJobConfig(namespace=OVERLAYS[overlay], image=image, nnodes=2, secret_name=cluster.secret_name,
                           env={"MTFORGE_S3_ENDPOINT": secret_values(docs, "mtforge-object-store")["MTFORGE_S3_ENDPOINT"]})
    job = build_pytorchjob(job_name("mtforge-train", "run"), ["python", "-m", "mtforge.train.remote", "s3://x"], cfg)
    assert admission(job, strict=True) is None
    for rtype, replica in job["spec"]["pytorchReplicaSpecs"].items():
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": rtype.lower()}, **replica["template"]}
        kubernetes_validate.validate(pod, K8S_VERSION, strict=True)
    assert not missing_secrets([*docs, job]), missing_secrets([*docs, job])
    assert cluster.secret_name == "mtforge-object-store"
    assert set(TASK_SECRETS[cluster.secret_name]) <= set(secret_values(docs, cluster.secret_name))
    elsewhere = copy.deepcopy(job)
    elsewhere["metadata"]["namespace"] = "other"
    assert missing_secrets([*docs, elsewhere]), "a job in another namespace does not see the overlay's Secret"


def test_pytorchjobs_land_where_the_role_is() -> None:
    """By default a train step creates its PyTorchJob in its own pod's namespace, the overlay's
    (where the Role binds the pipeline service account); outside a cluster in `kubeflow`, the
    local-kind namespace."""
    assert ClusterConfig().namespace == ""
    assert DEFAULT_NAMESPACE == OVERLAYS["local-kind"]


# --- the smoke PyTorchJob -------------------------------------------------------------------


def smoke_job() -> dict[str, Any]:
    return copy.deepcopy(yaml.safe_load(SMOKE_JOB.read_text()))


def test_smoke_job_is_admitted_strictly_and_its_pods_are_valid() -> None:
    job = smoke_job()
    assert admission(job, strict=True) is None
    replicas = job["spec"]["pytorchReplicaSpecs"]
    assert {k: v["replicas"] for k, v in replicas.items()} == {"Master": 1, "Worker": 1}
    assert replicas["Master"]["template"] == replicas["Worker"]["template"]
    for rtype, replica in replicas.items():
        assert replica["restartPolicy"] == "Never"
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": rtype.lower()}, **replica["template"]}
        kubernetes_validate.validate(pod, K8S_VERSION, strict=True)
        (container,) = replica["template"]["spec"]["containers"]
        assert container["image"] == RELEASED_IMAGES["mtforge"]
    assert job["spec"]["runPolicy"]["ttlSecondsAfterFinished"] > 0


@pytest.mark.parametrize(("path", "value", "code"), [
    (["spec", "pytorchReplicaSpecs", "Master", "replicas"], 2, 403),
    (["spec", "runPolicy", "cleanPodPolicyy"], "All", 400),
    (["spec", "nprocPerNode"], 1, 422),
], ids=["two-masters", "unknown-field", "nproc-integer"])
def test_the_crd_check_catches_a_broken_smoke_job(path: list[str], value: Any, code: int) -> None:
    job = smoke_job()
    target = job
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    refused = admission(job, strict=True)
    assert refused is not None and refused[0] == code


@pytest.mark.slow  # four Python processes importing torch: about 12 s on a busy 2-core machine
def test_smoke_job_all_reduce_passes_under_torchrun_across_two_nodes(tmp_path: Path) -> None:
    """Both pods' command, run here as two torchrun "nodes" with the PET_* variables the
    Training Operator sets (torchrun and python from this environment)."""
    job = smoke_job()
    nproc = job["spec"]["nprocPerNode"]
    (container,) = job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"]
    command = container["command"]
    assert command[:3] == ["torchrun", "--no-python", "python"]
    command = [str(Path(sys.executable).with_name("torchrun")), "--no-python", sys.executable, *command[3:]]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    nodes = [subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env={**os.environ, "PET_NNODES": "2", "PET_NPROC_PER_NODE": nproc,
                                   "PET_NODE_RANK": str(rank), "PET_MASTER_ADDR": "127.0.0.1",
                                   "PET_MASTER_PORT": str(port)})
             for rank in (0, 1)]
    outputs = [node.communicate(timeout=120)[0] for node in nodes]
    for rank, (node, output) in enumerate(zip(nodes, outputs, strict=True)):
        assert node.returncode == 0, output
        assert f"rank {rank}/2: gloo all_reduce OK" in output


# --- the README -----------------------------------------------------------------------------


def test_readme_documents_folders_secrets_render_and_apply(renders: dict[str, list[dict[str, Any]]]) -> None:
    text = README.read_text()
    for folder in ("base/", "overlays/local-kind/", "overlays/production/", "serving/", "training/"):
        assert f"`{folder}`" in text, folder
    for overlay in OVERLAYS:
        assert f"kubectl kustomize manifests/overlays/{overlay}" in text
        assert f"kubectl apply -k manifests/overlays/{overlay}" in text
    assert "issue 9" not in text
    secrets = {d["metadata"]["name"] for docs in renders.values() for d in docs if d["kind"] == "Secret"}
    for name in secrets:
        assert f"| `{name}` |" in text, f"the Secrets table lacks {name}"
    commands = [shlex.split(line) for line in text.splitlines() if "create secret generic" in line and "<name>" not in line]
    for argv in commands:
        name = argv[argv.index("generic") + 1]
        assert name in secrets, f"README creates an unknown Secret {name}"
