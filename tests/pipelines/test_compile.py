"""Compiled pipelines: committed, up to date, loadable by kfp, launchable from the UI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from kfp import components

import pipelines

ROOT = Path(__file__).resolve().parents[2]
COMPILED = ROOT / "pipelines" / "compiled"


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Compile every pipeline with the CLI, as `make compile` does, into a temp dir."""
    out = tmp_path_factory.mktemp("compiled")
    env = {k: v for k, v in os.environ.items() if k != "MTFORGE_IMAGE"}
    subprocess.run([sys.executable, "-m", "mtforge.cli", "compile", "--out-dir", str(out)], check=True, env=env,
                   cwd=ROOT, capture_output=True)
    return out


@pytest.mark.parametrize("name", pipelines.NAMES)
def test_committed_yaml_is_up_to_date(name: str, fresh: Path) -> None:
    committed = COMPILED / f"{name}.yaml"
    assert committed.exists(), f"{committed} is missing: run `make compile` and commit it"
    assert committed.read_text() == (fresh / f"{name}.yaml").read_text(), (
        f"{committed} is stale: run `make compile` and commit the result")


@pytest.mark.parametrize("name", pipelines.NAMES)
def test_kfp_loads_it_back_and_every_parameter_has_a_default_and_description(name: str) -> None:
    path = COMPILED / f"{name}.yaml"
    loaded = components.load_component_from_file(str(path))
    assert loaded.name == name
    assert set(loaded.component_spec.inputs) == set(pipelines.load(name).pipeline.component_spec.inputs)
    # What the Kubeflow UI shows in its run form:
    parameters = next(yaml.safe_load_all(path.read_text()))["root"]["inputDefinitions"]["parameters"]
    for key, spec in parameters.items():
        assert "defaultValue" in spec, f"{name}: parameter {key!r} has no default"
        assert spec.get("description"), f"{name}: parameter {key!r} has no description"


def test_tasks_request_the_resources_their_stages_declare() -> None:
    from mtforge.stage import get_stage

    spec = next(yaml.safe_load_all((COMPILED / "baseline.yaml").read_text()))
    executors = spec["deploymentSpec"]["executors"]
    tasks = spec["root"]["dag"]["tasks"]
    for task in tasks.values():
        stage = task["taskInfo"]["name"].split("-")[0]
        if stage == "track":
            continue
        container = executors[f"exec-{task['componentRef']['name'].removeprefix('comp-')}"]["container"]
        declared = get_stage(stage).resources
        assert container["resources"]["cpuRequest"] == float(declared.cpu)
        assert container["resources"]["memoryRequest"] > 0
        assert container["image"] == "ghcr.io/mtforge/mtforge:0.1.0-cpu"
        # The stage version is on the task's command line, hence in its cache key (locally and on
        # the KFP backend, whose key covers image, command and arguments but not the environment).
        assert container["args"][-1] == f"--mtforge-stage={stage}@{get_stage(stage).version}"
