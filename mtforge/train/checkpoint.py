"""Per-module checkpoints plus a frame file.

Layout of a checkpoint directory::

    frame.json                 step, model config, tasks, data positions, module list
    modules/<module>.pt        one file per module: its weights and optimizer state

``/`` in a module id becomes ``__`` in its file name. The frame is written last (atomically),
so a directory with a frame is a complete checkpoint and a crash mid-save keeps the previous
one usable.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mtforge.errors import InputNotFoundError

FRAME = "frame.json"


def module_file(ckpt_dir: Path, module: str) -> Path:
    return ckpt_dir / "modules" / (module.replace("/", "__") + ".pt")


def save_module(ckpt_dir: Path, module: str, unit: nn.Module, optimizer: torch.optim.Optimizer | None) -> None:
    """Write one module's weights (and optimizer state) atomically."""
    path = module_file(ckpt_dir, module)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"state": unit.state_dict(), "optim": optimizer.state_dict() if optimizer else None}, tmp)
    os.replace(tmp, path)


def load_module(ckpt_dir: Path, module: str, unit: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> None:
    """Load one module's weights (and optimizer state when given) in place."""
    path = module_file(ckpt_dir, module)
    if not path.exists():
        raise InputNotFoundError(f"checkpoint of module {module!r} not found: {path}")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    unit.load_state_dict(blob["state"])
    if optimizer is not None and blob["optim"] is not None:
        optimizer.load_state_dict(blob["optim"])


def write_frame(ckpt_dir: Path, frame: dict[str, Any]) -> None:
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    tmp = ckpt_dir / (FRAME + ".tmp")
    tmp.write_text(json.dumps(frame, indent=2))
    os.replace(tmp, ckpt_dir / FRAME)


def read_frame(ckpt_dir: Path) -> dict[str, Any] | None:
    """The frame of a complete checkpoint, or None when there is none yet."""
    path = ckpt_dir / FRAME
    return json.loads(path.read_text()) if path.exists() else None
