"""docs/cluster.md stays true to the code: its image tags are what `make images` builds and the
local-kind overlay runs, and every `mtforge` command in it parses with today's CLI."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from mtforge.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
GUIDE = (ROOT / "docs" / "cluster.md").read_text()


def shell_lines(text: str) -> list[str]:
    """The lines of the guide's ```sh blocks, continuation lines joined, comments dropped."""
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if line:
                lines.append(line)
    return lines


def kind_images() -> set[str]:
    """``newName:newTag`` of the local-kind overlay's image entries."""
    kustomization = yaml.safe_load((ROOT / "manifests/overlays/local-kind/kustomization.yaml").read_text())
    return {f"{entry['newName']}:{entry['newTag']}" for entry in kustomization["images"]}


def test_the_guide_builds_loads_and_uses_exactly_the_images_the_kind_overlay_runs():
    lines = shell_lines(GUIDE)
    (make,) = [line for line in lines if line.startswith("make images")]
    dry_run = subprocess.run(["make", "-n", *shlex.split(make)[1:]], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout
    built = set(re.findall(r"build -t (\S+)", dry_run))
    (load,) = [line for line in lines if line.startswith("kind load docker-image")]
    loaded = {word for word in shlex.split(load)[3:] if not word.startswith("-") and word != "mtforge"}
    assert built == loaded == kind_images()
    (image,) = re.findall(r"export MTFORGE_IMAGE=(\S+)", GUIDE)
    assert image in kind_images() and image.endswith("-cpu")
    (smoke,) = re.findall(r"sed 's#([^#]+)#([^#]+)#' manifests/training/pytorchjob-smoke.yaml", GUIDE)
    assert smoke[0] in (ROOT / "manifests/training/pytorchjob-smoke.yaml").read_text() and smoke[1] == image


@pytest.mark.parametrize("line", [line for line in shell_lines(GUIDE) if line.startswith("mtforge ")])
def test_every_mtforge_command_in_the_guide_parses(line):
    args = build_parser().parse_args(shlex.split(line)[1:])
    assert args.func


def test_the_secrets_the_guide_names_are_the_overlays():
    kustomization = yaml.safe_load((ROOT / "manifests/overlays/local-kind/kustomization.yaml").read_text())
    generated = {entry["name"] for entry in kustomization["secretGenerator"]}
    named = set(re.findall(r"`(mtforge-[a-z-]+)`", GUIDE.split("## 4.")[1].split("## 5.")[0]))
    assert generated <= named
