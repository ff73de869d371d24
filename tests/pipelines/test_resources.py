"""Cluster behaviour of every compiled pipeline: requests and limits from the stages'
profiles, GPU placement, retries, caching, and the Secrets every task reads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import pipelines
from mtforge.errors import ConfigError
from mtforge.stage import get_stage
from pipelines.resources import STAGE_ARG, TASK_SECRETS, gpu_node_selector

ROOT = Path(__file__).resolve().parents[2]
COMPILED = ROOT / "pipelines" / "compiled"


def load(path: Path) -> tuple[dict, dict]:
    """(pipeline spec, kubernetes executor configs by executor name) of a compiled file."""
    docs = list(yaml.safe_load_all(path.read_text()))
    platform = docs[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"] if len(docs) > 1 else {}
    return docs[0], platform


def tasks(spec: dict):
    """``(task name, task, executor label)`` of every task, in sub-DAGs (ParallelFor) too."""
    components = spec["components"]
    for dag in [spec["root"], *components.values()]:
        for name, task in dag.get("dag", {}).get("tasks", {}).items():
            executor = components[task["componentRef"]["name"]].get("executorLabel")
            if executor:
                yield name, task, executor


def stage_by_executor(spec: dict) -> dict[str, str]:
    """Executor label → the stage it runs (from its ``--mtforge-stage=<name>@<version>`` argument)."""
    out = {}
    for label, executor in spec["deploymentSpec"]["executors"].items():
        for arg in executor.get("container", {}).get("args", []):
            if arg.startswith(f"{STAGE_ARG}="):
                out[label] = arg.removeprefix(f"{STAGE_ARG}=").split("@")[0]
    return out


@pytest.mark.parametrize("name", pipelines.NAMES)
def test_every_container_task_reads_the_cluster_secrets(name):
    spec, platform = load(COMPILED / f"{name}.yaml")
    containers = [label for label, e in spec["deploymentSpec"]["executors"].items() if "container" in e]
    assert containers
    for label in containers:
        got = {s["secretName"]: {k["secretKey"]: k["envVar"] for k in s["keyToEnv"]}
               for s in platform.get(label, {}).get("secretAsEnv", [])}
        assert got == {secret: {k: k for k in keys} for secret, keys in TASK_SECRETS.items()}, (name, label)
        assert all(not s["optional"] for s in platform[label]["secretAsEnv"])


@pytest.mark.parametrize("name", pipelines.NAMES)
def test_stage_tasks_request_their_profile_and_gpu_tasks_land_on_gpu_nodes(name):
    spec, platform = load(COMPILED / f"{name}.yaml")
    stages = stage_by_executor(spec)
    assert stages, f"{name}: no stage task"
    for task_name, task, label in tasks(spec):
        stage = stages.get(label)
        if stage is None:
            continue
        resources = get_stage(stage).resources
        container = spec["deploymentSpec"]["executors"][label]["container"]["resources"]
        assert container["resourceCpuRequest"] == resources.cpu
        assert container["resourceMemoryRequest"] == container["resourceMemoryLimit"] == resources.memory
        config = platform.get(label, {})
        if resources.gpu:
            assert container["accelerator"]["resourceType"] == "nvidia.com/gpu"
            assert container["accelerator"]["resourceCount"] == str(resources.gpu)
            assert config["nodeSelector"] == {"labels": {"nvidia.com/gpu.present": "true"}}
            assert config["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
        else:
            assert "accelerator" not in container and "nodeSelector" not in config and "tolerations" not in config
        if resources.retries:
            assert task["retryPolicy"]["maxRetryCount"] == resources.retries, (name, task_name)
        else:
            assert "retryPolicy" not in task, (name, task_name)


def test_gpu_stages_exist_and_io_stages_retry():
    """The checks above see both kinds: synth's generation asks for a GPU, ingest retries."""
    spec, platform = load(COMPILED / "synth.yaml")
    assert any("nodeSelector" in config for config in platform.values())
    spec, _ = load(COMPILED / "baseline.yaml")
    assert {t["taskInfo"]["name"] for _, t, _ in tasks(spec) if "retryPolicy" in t} == {
        "ingest-train", "ingest-valid", "track"}


@pytest.mark.parametrize("name", pipelines.NAMES)
def test_caching_is_on_except_for_listing_tasks_and_network_only_tasks_retry(name):
    spec, _ = load(COMPILED / f"{name}.yaml")
    for task_name, task, _ in tasks(spec):
        display = task["taskInfo"]["name"]
        listing = display.startswith("list-")
        assert task.get("cachingOptions", {}).get("enableCache", False) is (not listing), (name, display)
        if listing or display == "track":
            assert task["retryPolicy"]["maxRetryCount"] == 2 and task["retryPolicy"]["backoffDuration"] == "30s"


def test_gpu_node_selector_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MTFORGE_GPU_NODE_SELECTOR", "cloud.google.com/gke-accelerator=nvidia-h100-80gb")
    assert gpu_node_selector() == ("cloud.google.com/gke-accelerator", "nvidia-h100-80gb")
    monkeypatch.setenv("MTFORGE_GPU_NODE_SELECTOR", "gpu")
    with pytest.raises(ConfigError, match="MTFORGE_GPU_NODE_SELECTOR must be key=value"):
        gpu_node_selector()
    env = {**os.environ, "MTFORGE_GPU_NODE_SELECTOR": "pool=gpu"}
    subprocess.run([sys.executable, "-m", "mtforge.cli", "compile", "synth", "--out-dir", str(tmp_path)],
                   check=True, cwd=ROOT, env=env, capture_output=True)
    _, platform = load(tmp_path / "synth.yaml")
    assert {"labels": {"pool": "gpu"}} in [c.get("nodeSelector") for c in platform.values()]


@pytest.mark.parametrize("name", pipelines.NAMES)
def test_committed_yaml_parses_as_the_api_server_parses_an_upload(name):
    """What the UI's *Upload pipeline* sends: the pipeline spec, and the kfp-kubernetes
    platform spec whose executor configs must parse as KubernetesExecutorConfig."""
    from tests.pipelines.kfp_standin import parse_package

    spec, platform = parse_package((COMPILED / f"{name}.yaml").read_text())
    assert spec["pipelineInfo"]["name"] == name and platform["platforms"]["kubernetes"]
