"""Fixtures shared by the whole test suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: The shared real corpora: ``$MTFORGE_SHARED_DATA``, else ``../shared/data`` from the project root.
SHARED_DATA = Path(
    os.environ.get("MTFORGE_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data")
)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of the shared real corpora (multi30k/, flores200/, …); skips the test when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder {SHARED_DATA} is absent (set MTFORGE_SHARED_DATA to its path)")
    return SHARED_DATA
