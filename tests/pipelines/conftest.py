"""Fixtures for pipeline tests: a small Multi30k-shaped data directory and a state directory."""

from __future__ import annotations

from pathlib import Path

import pytest

#: Lines per split taken from the real Multi30k for pipeline runs that must stay fast.
SPLIT_LINES = {"train": 200, "val": 40, "test_2016_flickr": 40}

#: Overrides on top of the ``tiny`` named config that keep a whole pipeline run to about a minute.
FAST = ["max_steps=4", "vocab_size=300", "beam_size=1", "batch_tokens=1000", "testsets=multi30k"]


@pytest.fixture(scope="module")
def small_multi30k(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Multi30k-shaped directory ``<root>/multi30k`` (en, de) with the first lines of each split;
    its parent serves as ``testsets_root``."""
    out = tmp_path_factory.mktemp("data") / "multi30k"
    out.mkdir()
    for split, n in SPLIT_LINES.items():
        for lang in ("en", "de"):
            lines = (shared_data / "multi30k" / f"{split}.{lang}").read_text(encoding="utf-8").splitlines()[:n]
            (out / f"{split}.{lang}").write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh MTFORGE_HOME shared by the tests of one module (so they can reuse its cache)."""
    return tmp_path_factory.mktemp("mtforge-home")
