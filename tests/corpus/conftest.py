"""Fixtures for the corpus tests: text-file writing, an isolated HF cache (the S3 server is in
``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def write_lines() -> Callable[[Path, list[str]], Path]:
    """``write_lines(path, lines)``: write UTF-8 lines (LF-terminated), creating parent dirs."""

    def write(path: Path, lines: list[str]) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        return path

    return write


@pytest.fixture
def hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the ``datasets`` cache at a temporary directory and forbid hub access."""
    import datasets.config

    cache = tmp_path / "hf-cache"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    return cache
