"""PyTorchJob launcher: manifests checked against the Training Operator's CRD schema and
webhook rules, and full runs through the real ``kubernetes`` client against the HTTP stand-in."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import kubernetes.client
import pytest

from mtforge.errors import ConfigError, StageFailedError
from mtforge.train.pytorchjob import (
    PyTorchJobConfig,
    build_pytorchjob,
    default_api_client,
    job_name,
    job_phase,
    run_pytorchjob,
)
from tests.train.k8s_standin import K8sStandIn, Scenario, admission

COMMAND = ["python", "-m", "mtforge.train.remote", "s3://bucket/runs/r1/job.json"]
FAST = {"poll_s": 0.02, "timeout_s": 10}


def config(**kw) -> PyTorchJobConfig:
    return PyTorchJobConfig(**{"image": "registry.local/mtforge:1", "namespace": "team-a", **FAST, **kw})


def manifest(cfg: PyTorchJobConfig, name: str | None = None) -> dict:
    return build_pytorchjob(name or job_name("mtforge-train", "run-1"), COMMAND, cfg)


@pytest.fixture
def k8s() -> Iterator[K8sStandIn]:
    with K8sStandIn() as standin:
        yield standin


class Echo(list):
    """``echo`` that records lines (appended from the log thread and the main thread)."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()

    def __call__(self, line: str) -> None:
        with self.lock:
            self.append(line)


# ----------------------------------------------------------------------------- manifests


def test_job_names_are_run_unique_dns1035_labels_with_room_for_pod_names():
    names = [job_name("mtforge-train", "run-1"), job_name("mtforge-train", "run-1"), job_name("mtforge-train", "run-2")]
    assert len(set(names)) == 3
    assert names[0].split("-")[-2] == names[1].split("-")[-2] != names[2].split("-")[-2]  # the run's hash
    for prefix in ["MTForge Train_Step!!", "123-train", "---", "x" * 200]:
        name = job_name(prefix, "some/run id")
        # the operator names pods and services "<job>-worker-<index>": those must be labels too
        assert re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", name) and len(name + "-worker-1234") <= 63, name
    assert job_name("MTForge Train_Step!!", "r").startswith("mtforge-train-step-")


@pytest.mark.parametrize(("nnodes", "replicas"), [(1, {"Master": 1}), (3, {"Master": 1, "Worker": 2})])
def test_replica_layout_follows_nnodes_and_nproc_per_node(nnodes, replicas):
    spec = manifest(config(nnodes=nnodes, nproc_per_node=4))["spec"]
    assert {k: v["replicas"] for k, v in spec["pytorchReplicaSpecs"].items()} == replicas
    assert spec["nprocPerNode"] == "4"
    assert spec["runPolicy"]["backoffLimit"] == 0  # a failed pod fails the job
    for rspec in spec["pytorchReplicaSpecs"].values():
        assert rspec["restartPolicy"] == "Never"
        assert rspec["template"]["spec"]["containers"][0]["command"] == COMMAND


def test_env_secret_resources_and_service_account_land_in_every_pod_template():
    cfg = config(nnodes=2, cpu="4", memory="16Gi", gpus=2, env={"MLFLOW_TRACKING_URI": "http://mlflow:5000",
                 "MTFORGE_S3_ENDPOINT": "http://minio:9000"}, secret_name="minio-creds", service_account="trainer")
    for rspec in manifest(cfg)["spec"]["pytorchReplicaSpecs"].values():
        pod = rspec["template"]["spec"]
        (container,) = pod["containers"]
        assert container["name"] == "pytorch" and container["image"] == "registry.local/mtforge:1"
        assert {e["name"]: e["value"] for e in container["env"]} == cfg.env
        assert container["envFrom"] == [{"secretRef": {"name": "minio-creds"}}]
        expected = {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": 2}
        assert container["resources"] == {"requests": expected, "limits": expected}
        assert pod["serviceAccountName"] == "trainer"
    plain = manifest(config())["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]
    assert "nvidia.com/gpu" not in plain["containers"][0]["resources"]["limits"]
    assert "envFrom" not in plain["containers"][0] and "serviceAccountName" not in plain


@pytest.mark.parametrize("nnodes", [1, 4])
def test_built_manifests_pass_the_crd_schema_strictly_and_the_operator_webhook(nnodes):
    cfg = config(nnodes=nnodes, gpus=1, env={"A": "1"}, secret_name="s", service_account="sa")
    assert admission(manifest(cfg), strict=True) is None


def test_config_rejects_impossible_layouts_and_unknown_keys():
    for bad in [{"nnodes": 0}, {"nproc_per_node": 0}, {"gpus": -1}, {"timeout_s": 0}, {"replicas": 2}]:
        with pytest.raises(ValueError):
            config(**bad)


def test_job_phase_reads_the_latest_true_condition_and_terminal_ones_win():
    def job(*conds):
        return {"status": {"conditions": [{"type": t, "status": s} for t, s in conds]}}

    assert job_phase({})[0] == "Pending"
    assert job_phase(job(("Created", "True")))[0] == "Created"
    assert job_phase(job(("Created", "True"), ("Running", "True")))[0] == "Running"
    assert job_phase(job(("Created", "True"), ("Running", "False"), ("Restarting", "True")))[0] == "Restarting"
    assert job_phase(job(("Created", "True"), ("Failed", "True"), ("Running", "True")))[0] == "Failed"
    assert job_phase(job(("Created", "True"), ("Running", "False"), ("Succeeded", "True")))[0] == "Succeeded"


# ---------------------------------------------------------------------------------- runs


def test_success_streams_the_master_log_and_deletes_the_job(k8s):
    k8s.scenario = Scenario(master_log=["rank 0 up", "step 10 loss 4.2", "step 20 loss 3.1", "saved"])
    cfg = config(nnodes=2, nproc_per_node=2, secret_name="minio-creds")
    job = manifest(cfg)
    echo = Echo()
    run_pytorchjob(job, cfg, api_client=k8s.api_client(), echo=echo)

    name = job["metadata"]["name"]
    (create,) = k8s.requests_for("POST", "/pytorchjobs")
    assert create.path == "/apis/kubeflow.org/v1/namespaces/team-a/pytorchjobs"
    assert create.body == job and create.query["fieldValidation"] == "Strict"
    log_lines = [line for line in echo if not line.startswith("[mtforge]")]
    assert log_lines == ["rank 0 up", "step 10 loss 4.2", "step 20 loss 3.1", "saved"]  # master only, in order
    (log,) = k8s.requests_for("GET", "/log")
    assert log.path.endswith(f"/pods/{name}-master-0/log") and log.query["follow"].lower() == "true"
    phases = [line.rsplit(": ", 1)[1] for line in echo if line.startswith(f"[mtforge] PyTorchJob team-a/{name}:")]
    # polled, so a short phase may be missed; those seen come in the operator's order
    assert phases[-1] == "Succeeded" and phases == [p for p in ("Created", "Running", "Succeeded") if p in phases]
    assert [r.path for r in k8s.requests_for("DELETE")] == [f"/apis/kubeflow.org/v1/namespaces/team-a/pytorchjobs/{name}"]
    assert k8s.jobs == {} and k8s.pods == {}


def test_failure_raises_with_the_condition_and_log_tail_and_deletes_the_job(k8s):
    k8s.scenario = Scenario(outcome="Failed", master_log=["step 1 loss 9.0", "RuntimeError: CUDA out of memory"])
    cfg = config()
    job = manifest(cfg)
    with pytest.raises(StageFailedError) as err:
        run_pytorchjob(job, cfg, api_client=k8s.api_client(), echo=Echo())
    name = job["metadata"]["name"]
    assert f"PyTorchJob team-a/{name} failed: PyTorchJobFailed" in str(err.value)
    assert "1 Master replica(s) failed" in str(err.value)
    assert "RuntimeError: CUDA out of memory" in str(err.value)
    assert len(k8s.requests_for("DELETE")) == 1 and k8s.jobs == {}


def test_timeout_raises_naming_job_and_timeout_and_deletes_the_job(k8s):
    k8s.scenario = Scenario(outcome="Hang", master_log=["waiting for rendezvous"])
    cfg = config(timeout_s=1.0)
    job = manifest(cfg)
    echo = Echo()
    with pytest.raises(StageFailedError, match=r"did not finish within its timeout of 1 s \(last phase: Running\)") as err:
        run_pytorchjob(job, cfg, api_client=k8s.api_client(), echo=echo)
    assert job["metadata"]["name"] in str(err.value) and "waiting for rendezvous" in str(err.value)
    assert k8s.jobs == {} and k8s.pods == {}
    assert job["spec"]["runPolicy"]["activeDeadlineSeconds"] == 1  # the cluster enforces it too


def test_flaky_api_server_is_retried(k8s):
    k8s.fail_gets = 2
    cfg = config()
    echo = Echo()
    run_pytorchjob(manifest(cfg), cfg, api_client=k8s.api_client(), echo=echo)
    assert sum("API error 500" in line for line in echo) == 2
    assert k8s.jobs == {}


@pytest.mark.parametrize(("break_it", "code", "message"), [
    (lambda spec: spec.update(nprocPerNode=2), "422", "spec.nprocPerNode: Invalid value: 2"),
    (lambda spec: spec["pytorchReplicaSpecs"].update(Chief=spec["pytorchReplicaSpecs"].pop("Worker")), "403",
     'Unsupported value: "Chief"'),
    (lambda spec: spec["runPolicy"].update(cleanPodPolicyy="All"), "400", 'unknown field "spec.runPolicy.cleanPodPolicyy"'),
])
def test_broken_manifest_is_rejected_with_the_servers_reason_and_nothing_to_clean(k8s, break_it, code, message):
    cfg = config(nnodes=2)
    job = manifest(cfg)
    break_it(job["spec"])
    with pytest.raises(StageFailedError) as err:
        run_pytorchjob(job, cfg, api_client=k8s.api_client(), echo=Echo())
    assert f"PyTorchJob team-a/{job['metadata']['name']} was rejected ({code}" in str(err.value)
    assert message in str(err.value)
    assert k8s.jobs == {} and not k8s.requests_for("DELETE")


def test_a_name_taken_by_another_job_is_rejected_and_that_job_left_alone(k8s):
    k8s.scenario = Scenario(outcome="Hang", master_log=[])
    cfg = config()
    job = manifest(cfg)
    kubernetes.client.CustomObjectsApi(k8s.api_client()).create_namespaced_custom_object(
        "kubeflow.org", "v1", "team-a", "pytorchjobs", job)
    with pytest.raises(StageFailedError, match="409"):
        run_pytorchjob(job, cfg, api_client=k8s.api_client(), echo=Echo())
    assert ("team-a", job["metadata"]["name"]) in k8s.jobs and not k8s.requests_for("DELETE")


def test_without_cluster_credentials_the_error_says_so(monkeypatch, tmp_path):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing-kubeconfig"))
    with pytest.raises(ConfigError, match="no Kubernetes credentials"):
        default_api_client()


def test_the_job_namespace_defaults_to_the_pods_own(tmp_path):
    from mtforge.train.config import ClusterConfig
    from mtforge.train.pytorchjob import current_namespace

    mounted = tmp_path / "namespace"
    mounted.write_text("kubeflow-user-example-com")
    assert current_namespace(str(mounted)) == "kubeflow-user-example-com"
    assert current_namespace(str(tmp_path / "absent")) == "kubeflow"
    assert ClusterConfig().namespace == ""  # so the launcher asks current_namespace()
