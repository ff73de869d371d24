"""`make images`, `make push` and `make lint-images`, and the one image name pipelines use.

No Docker engine runs here: `make -n` prints the commands without running them, and a stand-in
`docker` script (DOCKER=…) records the commands a real run passes to the engine.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.images.dockerfile import DOCKERFILES, ROOT


def _make(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    makefile = ["-f", str(ROOT / "Makefile")] if cwd != ROOT else []
    return subprocess.run(["make", "--no-print-directory", *makefile, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, env=env)


def _docker_lines(output: str) -> list[list[str]]:
    """The `docker build` and `docker push` commands of `make -n` output, as argument lists."""
    return [shlex.split(line) for line in output.splitlines() if line.startswith(("docker build ", "docker push "))]


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else ""


def _build(tag: str, dockerfile: str, context: str, commit: str, version: str | None) -> list[str]:
    version_arg = ["--build-arg", f"MTFORGE_VERSION={version}"] if version else []
    return ["docker", "build", "-t", tag, "-f", dockerfile, *version_arg, "--build-arg", f"MTFORGE_GIT_COMMIT={commit}",
            context]


def _expected_builds(registry: str, tag: str, commit: str) -> list[list[str]]:
    return [_build(f"{registry}/mtforge:{tag}-cpu", "images/cpu.Dockerfile", ".", commit, tag),
            _build(f"{registry}/mtforge:{tag}-cuda", "images/cuda.Dockerfile", ".", commit, tag),
            _build(f"{registry}/mlflow:{tag}", "mlflow/Dockerfile", "mlflow", commit, None)]


def test_make_n_images_prints_one_build_per_image_with_tags_files_and_build_args() -> None:
    done = _make("-n", "images", "REGISTRY=r.example/x", "IMAGE_TAG=t1")
    assert done.returncode == 0, done.stderr
    assert _docker_lines(done.stdout) == _expected_builds("r.example/x", "t1", _git("rev-parse", "HEAD"))
    assert "MTFORGE_IMAGE=r.example/x/mtforge:t1-cpu mtforge compile" in done.stdout


def test_images_builds_a_subset_and_rejects_unknown_names() -> None:
    done = _make("-n", "images", "IMAGES=cpu", "REGISTRY=r.example/x", "IMAGE_TAG=t1")
    assert _docker_lines(done.stdout) == _expected_builds("r.example/x", "t1", _git("rev-parse", "HEAD"))[:1]
    done = _make("-n", "images", "IMAGES=cpu gpu")
    assert done.returncode != 0 and "IMAGES names unknown images: gpu; choose from: cpu cuda mlflow" in done.stderr
    assert not _docker_lines(done.stdout)


def test_make_n_push_prints_the_pushes_of_the_same_tags() -> None:
    done = _make("-n", "push", "REGISTRY=r.example/x", "IMAGE_TAG=t1")
    assert done.returncode == 0, done.stderr
    assert _docker_lines(done.stdout) == [["docker", "push", "r.example/x/mtforge:t1-cpu"],
                                          ["docker", "push", "r.example/x/mtforge:t1-cuda"],
                                          ["docker", "push", "r.example/x/mlflow:t1"]]


def test_image_tag_defaults_to_git_describe_and_to_dev_outside_git(tmp_path: Path) -> None:
    described = _git("describe", "--tags", "--always", "--dirty")
    tags = [words[3] for words in _docker_lines(_make("-n", "images", "IMAGES=cpu").stdout)]
    assert tags == [f"ghcr.io/mtforge/mtforge:{described}-cpu"]
    # Outside a git work tree (a source tarball): tag "dev", empty commit.
    env = {**os.environ, "GIT_CEILING_DIRECTORIES": str(tmp_path.parent)}
    outside = _docker_lines(_make("-n", "images", "IMAGES=cpu", cwd=tmp_path, env=env).stdout)
    assert outside == [_build("ghcr.io/mtforge/mtforge:dev-cpu", "images/cpu.Dockerfile", ".", "", "dev")]


def test_images_without_docker_fails_with_a_clear_message() -> None:
    done = _make("images", "DOCKER=/nonexistent")
    assert done.returncode != 0
    assert "make images needs a Docker engine: '/nonexistent' was not found" in done.stderr
    assert "DOCKER=podman" in done.stderr


@pytest.fixture
def fake_docker(tmp_path: Path) -> tuple[Path, Path]:
    """A `docker` stand-in that logs its arguments (tab-separated, a line per call) and succeeds,
    except `info` when $FAKE_DOCKER_DOWN is set (an engine that is not running)."""
    log = tmp_path / "docker.log"
    script = tmp_path / "docker"
    script.write_text(f"""#!/bin/sh
if [ "$1" = info ] && [ -n "$FAKE_DOCKER_DOWN" ]; then echo "Cannot connect to the Docker daemon" >&2; exit 1; fi
{{ printf '%s\\t' "$@"; echo; }} >> {shlex.quote(str(log))}
""")
    script.chmod(0o755)
    return script, log


def _logged(log: Path) -> list[list[str]]:
    return [line.rstrip("\t").split("\t") for line in log.read_text().splitlines()]


def test_images_and_push_run_the_engine_with_exactly_these_arguments(fake_docker: tuple[Path, Path]) -> None:
    docker, log = fake_docker
    done = _make("images", f"DOCKER={docker}", "REGISTRY=r.example/x", "IMAGE_TAG=t1", "IMAGES=cpu mlflow")
    assert done.returncode == 0, done.stderr
    commit = _git("rev-parse", "HEAD")
    builds = [[str(docker), *words[1:]] for words in _expected_builds("r.example/x", "t1", commit)]
    assert _logged(log) == [["info"], builds[0][1:], builds[2][1:]]
    assert "MTFORGE_IMAGE=r.example/x/mtforge:t1-cpu mtforge compile" in done.stdout
    log.unlink()
    done = _make("push", f"DOCKER={docker}", "REGISTRY=r.example/x", "IMAGE_TAG=t1", "IMAGES=cuda")
    assert done.returncode == 0, done.stderr
    assert _logged(log) == [["info"], ["push", "r.example/x/mtforge:t1-cuda"]]


def test_images_with_an_engine_that_is_not_running_fails_before_building(fake_docker: tuple[Path, Path]) -> None:
    docker, log = fake_docker
    done = _make("images", f"DOCKER={docker}", env={**os.environ, "FAKE_DOCKER_DOWN": "1"})
    assert done.returncode != 0
    assert f"make images needs a Docker engine: '{docker} info' cannot reach one" in done.stderr
    assert not log.exists()


def test_lint_images_runs_hadolint_on_every_dockerfile() -> None:
    done = _make("-n", "lint-images")
    line = next(line for line in done.stdout.splitlines() if "/hadolint " in line)
    words = shlex.split(line)
    assert words[0] == ".venv/bin/hadolint"
    linted = {path for pattern in words[1:] for path in ROOT.glob(pattern)}
    assert linted == set(DOCKERFILES)


def test_default_image_names_agree_with_the_makefile_scheme() -> None:
    """A release build (IMAGE_TAG = the project version, default REGISTRY) is tagged with the
    image the components default to and the serving manifests deploy."""
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    cpu = _docker_lines(_make("-n", "images", "IMAGES=cpu", f"IMAGE_TAG={version}").stdout)[0][3]
    assert cpu == f"ghcr.io/mtforge/mtforge:{version}-cpu"
    env = {k: v for k, v in os.environ.items() if k != "MTFORGE_IMAGE"}
    default = subprocess.run([sys.executable, "-c", "from components.image import IMAGE; print(IMAGE)"], cwd=ROOT,
                             env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert default == cpu
    for kustomization in ("manifests/serving/kustomization.yaml", "manifests/serving/kserve/kustomization.yaml"):
        entry = next(i for i in yaml.safe_load((ROOT / kustomization).read_text())["images"] if i["name"] == "mtforge")
        assert f"{entry['newName']}:{entry['newTag']}" == cpu, kustomization


def test_one_value_names_the_image_of_every_task_and_of_the_pytorchjob(tmp_path: Path) -> None:
    """MTFORGE_IMAGE set to what `make images` tags: every component runs in it and the train
    task hands the same image to its PyTorchJob's pods."""
    image = _docker_lines(_make("-n", "images", "IMAGES=cpu", "REGISTRY=r.example/x", "IMAGE_TAG=t1").stdout)[0][3]
    subprocess.run([sys.executable, "-m", "mtforge.cli", "compile", "--out-dir", str(tmp_path), "baseline"], cwd=ROOT,
                   env={**os.environ, "MTFORGE_IMAGE": image}, check=True, capture_output=True, timeout=300)
    spec = next(yaml.safe_load_all((tmp_path / "baseline.yaml").read_text()))
    images = {executor["container"]["image"] for executor in spec["deploymentSpec"]["executors"].values()}
    assert images == {image}
    train = spec["root"]["dag"]["tasks"]["train"]["inputs"]["parameters"]["image"]
    assert train == {"runtimeValue": {"constant": image}}
