"""The translation service's Kubernetes manifests (manifests/serving/), checked offline.

No cluster and no kustomize binary run here. The kustomizations are rendered by a tiny
renderer (tests/manifests/kustomize.py); every core-kind object is validated against the
Kubernetes OpenAPI schema shipped with kubernetes-validate, the KServe InferenceService
against the v1beta1 schema vendored from KServe's CRD (tests/manifests/schemas/, see its
``$comment``), both rejecting unknown fields as ``kubectl apply``'s default strict field
validation does. The remaining tests check what a user relies on and no schema can see: that
the objects point at each other (selectors, ports, probe ports, the HPA's target), that the
pods run unprivileged on a read-only root filesystem with every written path on a volume, that
no secret value is committed, and that the KServe variant runs the same container.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
from functools import cache
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.manifests.kustomize import KustomizeError, render, split_image

ROOT = Path(__file__).resolve().parents[2]
SERVING = ROOT / "manifests" / "serving"
KSERVE = SERVING / "kserve"
README = ROOT / "manifests" / "README.md"
#: The newest Kubernetes release kubernetes-validate 1.37.0 ships (strict) schemas for.
K8S_VERSION = "1.37.0"
ISVC_SCHEMA = Path(__file__).with_name("schemas") / "kserve-v0.20.0-inferenceservice-v1beta1.schema.json"
#: Env var names that hold credentials: their values must come from a Secret.
SECRET_NAME = re.compile(r"KEY|SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL", re.IGNORECASE)
#: A literal that embeds credentials in a URL (scheme://user:password@host).
URL_WITH_PASSWORD = re.compile(r"://[^/\s:@]*:[^/\s@]+@")
HEALTH_PATHS = {"livenessProbe": "/healthz", "readinessProbe": "/readyz"}


# --- rendering and lookups ------------------------------------------------------------------


@cache
def _render(folder: Path) -> tuple[dict[str, Any], ...]:
    return tuple(render(folder))


def serving() -> list[dict[str, Any]]:
    """A fresh copy of the rendered manifests/serving objects."""
    return copy.deepcopy(list(_render(SERVING)))


def kserve() -> list[dict[str, Any]]:
    return copy.deepcopy(list(_render(KSERVE)))


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [d for d in docs if d.get("kind") == kind]
    assert len(found) == 1, f"expected exactly one {kind}, found {len(found)}"
    return found[0]


def deployment() -> dict[str, Any]:
    return one(serving(), "Deployment")


def isvc() -> dict[str, Any]:
    return one(kserve(), "InferenceService")


@cache
def _pod_spec_fields() -> frozenset[str]:
    """The PodSpec field names of Kubernetes K8S_VERSION (from kubernetes-validate's schemas)."""
    defs = resources.files("kubernetes_validate") / "kubernetes-json-schema" / f"v{K8S_VERSION}-local-strict"
    definitions = json.loads((defs / "_definitions.json").read_text())
    return frozenset(definitions["$defs"]["io.k8s.api.core.v1.PodSpec"]["properties"])


def predictor_pod_spec(service: dict[str, Any]) -> dict[str, Any]:
    """The PodSpec fields of an InferenceService's predictor (which inlines a PodSpec next to
    KServe's own fields such as minReplicas)."""
    predictor = service["spec"]["predictor"]
    return {k: v for k, v in predictor.items() if k in _pod_spec_fields()}


def pod_specs() -> dict[str, dict[str, Any]]:
    """Every pod spec a user may run: the Deployment's template and the KServe predictor's."""
    return {"deployment": deployment()["spec"]["template"]["spec"], "kserve": predictor_pod_spec(isvc())}


POD_SPECS = ["deployment", "kserve"]


def container_port(container: dict[str, Any], ref: int | str) -> dict[str, Any]:
    """The container port a Service targetPort / probe port refers to (by name or number)."""
    matches = [p for p in container.get("ports", []) if ref in (p.get("name"), p["containerPort"])]
    assert matches, f"port {ref!r} is not a port of container {container['name']}: {container.get('ports')}"
    return matches[0]


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def quantity(value: str | int | float) -> float:
    """A Kubernetes resource quantity as a number (cores, bytes)."""
    text = str(value)
    suffixes = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
                "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    match = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", text)
    assert match and match.group(2) in {"", *suffixes}, f"not a quantity: {value!r}"
    return float(match.group(1)) * suffixes.get(match.group(2), 1)


def effective_security(pod: dict[str, Any], container: dict[str, Any]) -> dict[str, Any]:
    """The container's security settings with the pod-level ones it inherits."""
    inherited = {k: v for k, v in pod.get("securityContext", {}).items()
                 if k in ("runAsNonRoot", "runAsUser", "runAsGroup", "seccompProfile")}
    return {**inherited, **container.get("securityContext", {})}


def labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def hpa_min_replicas() -> int:
    return one(serving(), "HorizontalPodAutoscaler")["spec"]["minReplicas"]


# --- the kustomizations ---------------------------------------------------------------------


@pytest.mark.parametrize("folder", [SERVING, KSERVE], ids=["serving", "kserve"])
def test_kustomization_lists_exactly_the_manifests_of_its_folder(folder: Path) -> None:
    listed = yaml.safe_load((folder / "kustomization.yaml").read_text())["resources"]
    present = {p.name for p in folder.glob("*.yaml") if p.name != "kustomization.yaml"}
    assert len(listed) == len(set(listed)), f"duplicate resources: {listed}"
    assert set(listed) == present


@pytest.mark.parametrize("folder", [SERVING, KSERVE], ids=["serving", "kserve"])
def test_render_replaces_the_placeholder_image_and_labels_everything(folder: Path) -> None:
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    (entry,) = kustomization["images"]
    docs = render(folder)
    containers = [c for d in docs for c in _containers(d)]
    assert containers, "no containers rendered"
    for container in containers:
        assert container["image"] == f"{entry['newName']}:{entry['newTag']}"
    assert entry["newTag"].endswith("-cpu"), "the service runs in the CPU component image (images/README.md)"
    for doc in docs:
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "mtforge"
        assert "namespace" not in doc["metadata"], "no hardcoded namespace: `kubectl apply -k ... -n <ns>` picks it"


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    if doc["kind"] == "Deployment":
        return doc["spec"]["template"]["spec"]["containers"]
    if doc["kind"] == "InferenceService":
        return doc["spec"]["predictor"]["containers"]
    return []


def test_renderer_rejects_unsupported_fields_and_outside_files(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamePrefix: x-\n")
    with pytest.raises(KustomizeError, match="namePrefix"):
        render(tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [../elsewhere.yaml]\n")
    with pytest.raises(KustomizeError, match="outside"):
        render(tmp_path)


@pytest.mark.parametrize(("image", "parts"), [
    ("mtforge:cpu", ("mtforge", "cpu", None)),
    ("registry:5000/mtforge", ("registry:5000/mtforge", None, None)),
    ("registry:5000/mtforge:1-cpu@sha256:ab", ("registry:5000/mtforge", "1-cpu", "sha256:ab")),
])
def test_split_image(image: str, parts: tuple[str, str | None, str | None]) -> None:
    assert split_image(image) == parts


# --- schema validation ----------------------------------------------------------------------


def _ids(docs: list[dict[str, Any]]) -> list[str]:
    return [f"{d['kind']}/{d['metadata']['name']}" for d in docs]


@pytest.mark.parametrize("doc", serving(), ids=_ids(serving()))
def test_core_objects_validate_against_kubernetes(doc: dict[str, Any]) -> None:
    assert kubernetes_validate.validate(doc, K8S_VERSION, strict=True) == "1.37"


def test_kserve_predictor_pod_spec_validates_as_a_kubernetes_pod() -> None:
    """KServe copies the predictor's PodSpec fields into its Deployment's pods: they must be a
    valid PodSpec of the cluster's Kubernetes too (the CRD's copy of PodSpec may lag behind)."""
    service = isvc()
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": service["metadata"]["name"]},
           "spec": predictor_pod_spec(service)}
    kubernetes_validate.validate(pod, K8S_VERSION, strict=True)


@pytest.mark.parametrize(("path", "value", "why"), [
    (["spec", "template", "spec", "containers", 0, "ports", 0, "containerPort"], "8080", "a string port"),
    (["spec", "template", "spec", "containers", 0, "readinessProbes"], {}, "an unknown field"),
    (["spec", "strategy", "rollingUpdate", "maxSurge"], [1], "a list for int-or-string"),
])
def test_kubernetes_validation_rejects_a_broken_deployment(path: list[Any], value: Any, why: str) -> None:
    doc = deployment()
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


@cache
def _isvc_validator() -> jsonschema.Draft4Validator:
    """A validator for the vendored v1beta1 schema. CRD schemas are OpenAPI v3.0 (JSON Schema
    draft 4 keywords); every object that lists its properties and does not preserve unknown
    fields gets ``additionalProperties: false``, as the API server's strict field validation
    (``kubectl apply``'s default) rejects unknown fields."""
    schema = json.loads(ISVC_SCHEMA.read_text())
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(_strict(schema))


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    schema = dict(schema)
    if "properties" in schema:
        schema["properties"] = {k: _strict(v) for k, v in schema["properties"].items()}
        if "additionalProperties" not in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema["additionalProperties"] = False
    if isinstance(schema.get("additionalProperties"), dict):
        schema["additionalProperties"] = _strict(schema["additionalProperties"])
    if isinstance(schema.get("items"), dict):
        schema["items"] = _strict(schema["items"])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in schema:
            schema[key] = [_strict(s) for s in schema[key]]
    return schema


def test_vendored_schema_names_its_source() -> None:
    comment = json.loads(ISVC_SCHEMA.read_text())["$comment"]
    assert "github.com/kserve/kserve" in comment
    assert "config/crd/full/serving.kserve.io_inferenceservices.yaml" in comment
    assert re.search(r"commit [0-9a-f]{40}", comment)


def test_inferenceservice_validates_against_the_kserve_crd() -> None:
    service = isvc()
    assert (service["apiVersion"], service["kind"]) == ("serving.kserve.io/v1beta1", "InferenceService")
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in _isvc_validator().iter_errors(service)]
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize(("path", "value"), [
    (["spec", "predictor", "minReplicas"], "3"),  # a string where the CRD wants an integer
    (["spec", "predictor", "minReplica"], 3),  # a misspelt (unknown) field
    (["spec", "predictor", "containers", 0, "ports", 0, "containerPort"], "8080"),
    (["spec", "predictor", "containers", 0, "name"], None),  # a container needs a name
    (["spec", "predictor", "autoScaling", "metrics", 0, "type"], "Cpu"),  # not in the enum
], ids=["minReplicas-string", "unknown-field", "port-string", "no-name", "bad-enum"])
def test_kserve_schema_rejects_a_broken_inferenceservice(path: list[Any], value: Any) -> None:
    service = isvc()
    target = service
    for key in path[:-1]:
        target = target[key]
    if value is None:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    assert not _isvc_validator().is_valid(service)


# --- how the objects fit together -----------------------------------------------------------


def test_service_selects_the_deployment_pods_and_targets_the_container_port() -> None:
    docs = serving()
    dep, svc = one(docs, "Deployment"), one(docs, "Service")
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    assert labels_match(dep["spec"]["selector"]["matchLabels"], pod_labels)
    assert labels_match(svc["spec"]["selector"], pod_labels)
    assert svc["spec"].get("type", "ClusterIP") == "ClusterIP"
    (port,) = svc["spec"]["ports"]
    assert (port["name"], port["port"]) == ("http", 80)
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    assert container_port(container, port["targetPort"])["containerPort"] == 8080


def test_deployment_rolls_out_without_losing_capacity() -> None:
    spec = deployment()["spec"]
    assert spec["strategy"]["type"] == "RollingUpdate"
    assert spec["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    # The HPA owns the replica count; a value here must at least agree with its minimum.
    assert spec.get("replicas", hpa_min_replicas()) == hpa_min_replicas() == 3


def test_hpa_scales_the_deployment_on_cpu() -> None:
    docs = serving()
    hpa, dep = one(docs, "HorizontalPodAutoscaler"), one(docs, "Deployment")
    assert hpa["apiVersion"] == "autoscaling/v2"
    ref = hpa["spec"]["scaleTargetRef"]
    assert (ref["apiVersion"], ref["kind"], ref["name"]) == ("apps/v1", "Deployment", dep["metadata"]["name"])
    assert 3 == hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 60
    # Utilization is measured against the request: every container must request CPU.
    assert all("cpu" in c["resources"]["requests"] for c in dep["spec"]["template"]["spec"]["containers"])


def test_pdb_covers_the_pods_and_allows_one_eviction() -> None:
    docs = serving()
    pdb, dep = one(docs, "PodDisruptionBudget"), one(docs, "Deployment")
    assert labels_match(pdb["spec"]["selector"]["matchLabels"], dep["spec"]["template"]["metadata"]["labels"])
    assert 1 <= pdb["spec"]["minAvailable"] < hpa_min_replicas()


def test_prometheus_scrapes_the_metrics_endpoint() -> None:
    template = deployment()["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    (container,) = template["spec"]["containers"]
    assert container_port(container, int(annotations["prometheus.io/port"]))


def test_config_map_references_resolve() -> None:
    """Every non-optional configMapKeyRef names a key of the ConfigMap in manifests/serving
    (which the KServe variant uses too)."""
    config = one(serving(), "ConfigMap")
    for name, pod in pod_specs().items():
        for container in pod["containers"]:
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("configMapKeyRef")
                if ref and not ref.get("optional", False):
                    assert ref["name"] == config["metadata"]["name"], f"{name}: {env['name']}"
                    assert ref["key"] in config["data"], f"{name}: {env['name']}"


# --- every pod: the container, its probes, its security -------------------------------------


@pytest.mark.parametrize("name", POD_SPECS)
def test_runs_mtforge_serve_on_its_container_port(name: str) -> None:
    (container,) = pod_specs()[name]["containers"]
    argv = [*container["command"], *container["args"]]
    assert argv[:2] == ["mtforge", "serve"]
    options = dict(zip(argv[2::2], argv[3::2], strict=True))
    assert options["--host"] == "0.0.0.0"
    assert container_port(container, int(options["--port"]))["containerPort"] == int(options["--port"])
    # Kubernetes expands $(VAR) only for variables the container defines; others stay literal.
    env = env_of(container)
    for arg in argv:
        for var in re.findall(r"\$\((\w+)\)", arg):
            assert var in env, f"{arg} names {var}, which the container does not define"
    assert "--model" in options and options["--model"] == "$(MTFORGE_SERVE_MODEL)"
    for var in ("MLFLOW_TRACKING_URI", "MTFORGE_SERVE_MODEL"):
        assert "configMapKeyRef" in env[var]["valueFrom"], f"{var} comes from the ConfigMap"


@pytest.mark.parametrize("name", POD_SPECS)
def test_probes_hit_the_health_endpoints_on_the_container_port(name: str) -> None:
    (container,) = pod_specs()[name]["containers"]
    for probe_name in ("startupProbe", "readinessProbe", "livenessProbe"):
        probe = container[probe_name]["httpGet"]
        assert container_port(container, probe["port"]), probe_name
        assert probe["path"] == HEALTH_PATHS.get(probe_name, probe["path"]), probe_name
        assert probe["path"] in ("/healthz", "/readyz"), probe_name
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300, "model download needs minutes"


@pytest.mark.parametrize("name", POD_SPECS)
def test_shuts_down_gracefully(name: str) -> None:
    pod = pod_specs()[name]
    (container,) = pod["containers"]
    pre_stop = container["lifecycle"]["preStop"]
    seconds = pre_stop["sleep"]["seconds"] if "sleep" in pre_stop else int(pre_stop["exec"]["command"][-1])
    assert seconds >= 5
    assert pod["terminationGracePeriodSeconds"] >= max(30, seconds + 20)


@pytest.mark.parametrize("name", POD_SPECS)
def test_every_container_has_requests_and_limits(name: str) -> None:
    for container in pod_specs()[name]["containers"]:
        requests, limits = container["resources"]["requests"], container["resources"]["limits"]
        for resource in ("cpu", "memory"):
            assert quantity(requests[resource]) <= quantity(limits[resource]), resource
        env = env_of(container)
        field = env["MTFORGE_SERVE_THREADS"]["valueFrom"]["resourceFieldRef"]
        assert field["resource"] == "limits.cpu"
        assert field.get("containerName", container["name"]) == container["name"]


@pytest.mark.parametrize("name", POD_SPECS)
def test_runs_unprivileged_on_a_read_only_root_filesystem(name: str) -> None:
    pod = pod_specs()[name]
    assert pod["automountServiceAccountToken"] is False
    for container in pod["containers"]:
        security = effective_security(pod, container)
        assert security["runAsNonRoot"] is True
        assert security.get("runAsUser", 10001) != 0
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security.get("privileged", False) is False
        assert security["capabilities"]["drop"] == ["ALL"] and not security["capabilities"].get("add")
        assert security["seccompProfile"]["type"] == "RuntimeDefault"


@pytest.mark.parametrize("name", POD_SPECS)
def test_every_written_path_is_on_a_volume(name: str) -> None:
    """The root filesystem is read-only: the model cache, the A/B store's directory, /tmp and
    every other path handed to the process in its environment must lie on a writable mount."""
    pod = pod_specs()[name]
    volumes = {v["name"]: v for v in pod["volumes"]}
    for container in pod["containers"]:
        mounts = [m for m in container["volumeMounts"] if not m.get("readOnly", False)]
        for mount in mounts:
            assert mount["name"] in volumes, f"{mount['name']} is mounted but not a volume"
        mount_paths = [PurePosixPath(m["mountPath"]) for m in mounts]

        def on_volume(path: PurePosixPath, mount_paths: list[PurePosixPath] = mount_paths) -> bool:
            return any(path == m or m in path.parents for m in mount_paths)

        env = env_of(container)
        written = {
            "/tmp": PurePosixPath("/tmp"),
            "MTFORGE_SERVE_CACHE_DIR": PurePosixPath(env["MTFORGE_SERVE_CACHE_DIR"]["value"]),
            "MTFORGE_SERVE_AB_STORE": PurePosixPath(env["MTFORGE_SERVE_AB_STORE"]["value"]).parent,
        }
        written |= {n: PurePosixPath(e["value"]) for n, e in env.items()
                    if str(e.get("value", "")).startswith("/")}
        for what, path in written.items():
            assert on_volume(path), f"{what} ({path}) is not on a writable volume"


def secret_env_problems(container: dict[str, Any]) -> list[str]:
    """Env entries that would commit a credential: a credential-named variable (KEY, SECRET,
    PASSWORD, TOKEN, ...) not taken from a Secret, or any literal URL with a password in it."""
    problems = []
    for env in container.get("env", []):
        if SECRET_NAME.search(env["name"]) and "secretKeyRef" not in env.get("valueFrom", {}):
            problems.append(f"{env['name']} must come from a Secret (valueFrom.secretKeyRef)")
        if URL_WITH_PASSWORD.search(str(env.get("value", ""))):
            problems.append(f"{env['name']} embeds a password in its literal value")
    return problems


@pytest.mark.parametrize("name", POD_SPECS)
def test_no_secret_value_is_committed(name: str) -> None:
    for container in pod_specs()[name]["containers"]:
        problems = secret_env_problems(container)
        assert not problems, "\n".join(problems)


@pytest.mark.parametrize("env", [
    {"name": "MLFLOW_TRACKING_PASSWORD", "value": "hunter2"},
    {"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": {"configMapKeyRef": {"name": "mtforge-serve", "key": "k"}}},
    {"name": "MTFORGE_SERVE_REDIS_URL", "value": "redis://:hunter2@redis:6379/0"},
], ids=["literal-password", "key-from-configmap", "url-with-password"])
def test_secret_check_catches_a_committed_credential(env: dict[str, Any]) -> None:
    (container,) = deployment()["spec"]["template"]["spec"]["containers"]
    container["env"] = [e for e in container["env"] if e["name"] != env["name"]] + [env]
    assert secret_env_problems(container)


def test_no_secret_in_the_committed_objects() -> None:
    docs = serving() + kserve()
    assert not [d for d in docs if d["kind"] == "Secret"], "Secrets are created by the user, never committed"
    config = one(serving(), "ConfigMap")
    for key, value in config["data"].items():
        assert not SECRET_NAME.search(key), f"ConfigMap key {key} looks like a secret"
        assert not URL_WITH_PASSWORD.search(value), f"ConfigMap {key} embeds a password"


@pytest.mark.parametrize("name", POD_SPECS)
def test_replicas_spread_over_nodes(name: str) -> None:
    pod = pod_specs()[name]
    labels = (deployment()["spec"]["template"]["metadata"]["labels"] if name == "deployment"
              else isvc()["spec"]["predictor"]["labels"])
    spread = [c for c in pod.get("topologySpreadConstraints", []) if c["topologyKey"] == "kubernetes.io/hostname"]
    anti = (pod.get("affinity", {}).get("podAntiAffinity", {})
            .get("requiredDuringSchedulingIgnoredDuringExecution", []))
    selectors = [c["labelSelector"]["matchLabels"] for c in spread]
    selectors += [t["labelSelector"]["matchLabels"] for t in anti if t["topologyKey"] == "kubernetes.io/hostname"]
    assert selectors, "no spreading over nodes"
    assert all(labels_match(s, labels) for s in selectors)


# --- the KServe variant is the same service -------------------------------------------------


def test_inferenceservice_runs_the_deployment_container() -> None:
    dep_pod, isvc_pod = pod_specs()["deployment"], pod_specs()["kserve"]
    (dep_c,), (isvc_c,) = dep_pod["containers"], isvc_pod["containers"]
    assert isvc_c["name"] == "kserve-container"
    same = ("image", "command", "args", "resources", "volumeMounts", "lifecycle", "securityContext")
    for field in same:
        assert isvc_c[field] == dep_c[field], field
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        a, b = copy.deepcopy(isvc_c[probe]), copy.deepcopy(dep_c[probe])
        assert container_port(isvc_c, a["httpGet"].pop("port"))["containerPort"] == \
            container_port(dep_c, b["httpGet"].pop("port"))["containerPort"]
        assert a == b, probe

    def normalised_env(container: dict[str, Any]) -> list[dict[str, Any]]:
        env = copy.deepcopy(container["env"])
        for e in env:
            e.get("valueFrom", {}).get("resourceFieldRef", {}).pop("containerName", None)
        return env

    assert normalised_env(isvc_c) == normalised_env(dep_c)
    for field in ("securityContext", "volumes", "terminationGracePeriodSeconds", "automountServiceAccountToken",
                  "enableServiceLinks", "topologySpreadConstraints"):
        assert isvc_pod[field] == dep_pod[field], field


def test_inferenceservice_scales_like_the_hpa() -> None:
    predictor = isvc()["spec"]["predictor"]
    hpa = one(serving(), "HorizontalPodAutoscaler")["spec"]
    assert predictor["minReplicas"] == hpa["minReplicas"] == 3
    assert predictor["maxReplicas"] == hpa["maxReplicas"]
    assert predictor["autoScaling"]["metrics"] == hpa["metrics"]
    assert predictor["autoScaling"]["behavior"] == hpa["behavior"]
    assert predictor["deploymentStrategy"] == deployment()["spec"]["strategy"]
    template = deployment()["spec"]["template"]
    assert predictor["annotations"] == template["metadata"]["annotations"]
    assert labels_match(predictor["labels"], template["metadata"]["labels"])
    assert isvc()["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] in ("Standard", "RawDeployment")


# --- the README ----------------------------------------------------------------------------


def test_readme_tells_how_to_apply_and_which_secret_to_create() -> None:
    text = README.read_text()
    assert "kubectl apply -k manifests/serving" in text
    lines = text.replace("\\\n", " ").splitlines()
    commands = [shlex.split(line) for line in lines
                if "create secret generic mtforge-serve-credentials" in line and "kubectl" in line]
    assert commands, "README has no `kubectl create secret generic mtforge-serve-credentials` command"
    argv = commands[0]
    secret = argv[argv.index("generic") + 1]
    keys = {a.removeprefix("--from-literal=").split("=", 1)[0] for a in argv if a.startswith("--from-literal=")}
    refs = {(e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
            for pod in pod_specs().values() for c in pod["containers"] for e in c["env"]
            if "secretKeyRef" in e.get("valueFrom", {})}
    assert {name for name, _ in refs} == {secret}, "the README's Secret is the one the pods read"
    assert keys and keys <= {key for _, key in refs}, f"README creates keys nobody reads: {keys}"
