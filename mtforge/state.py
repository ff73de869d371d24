"""The local state directory: KFP outputs and cache, the MLflow store, stage work dirs."""

from __future__ import annotations

import os
from pathlib import Path


def state_dir() -> Path:
    """Absolute local state directory: ``$MTFORGE_HOME`` or ``./.mtforge``; created if missing."""
    path = Path(os.environ.get("MTFORGE_HOME") or ".mtforge").expanduser().absolute()
    path.mkdir(parents=True, exist_ok=True)
    return path
