"""Per-module checkpoints plus a frame file.

Layout of a checkpoint directory::

    frame.json                 step, plan (and its fingerprint), model and train config,
                               data positions and RNG states of every rank, and
                               ``modules_dir``: the folder holding that step's modules
    step-<N>/<module>.pt       one file per module: its weights and optimizer state

``/`` in a module id becomes ``__`` in its file name. Each module is written once, by its
lowest holder, into the folder of its step. The frame is written last (atomically), once
every module of the step is on disk; only then are older step folders removed. A crash
mid-save therefore leaves the previous frame pointing at its own, complete, folder.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mtforge.errors import ConfigError, InputNotFoundError

FRAME = "frame.json"


def step_dir(step: int) -> str:
    return f"step-{step:08d}"


def _file_name(module: str) -> str:
    return module.replace("/", "__") + ".pt"


def module_file(ckpt_dir: Path, module: str) -> Path:
    """The file of ``module`` in the checkpoint's current frame."""
    frame = read_frame(ckpt_dir)
    if frame is None:
        raise InputNotFoundError(f"no checkpoint (missing {FRAME}) in {ckpt_dir}")
    return ckpt_dir / frame["modules_dir"] / _file_name(module)


def save_module(ckpt_dir: Path, step: int, module: str, unit: nn.Module,
                optimizer: torch.optim.Optimizer | None) -> None:
    """Write one module's weights (and optimizer state) of ``step`` atomically."""
    path = ckpt_dir / step_dir(step) / _file_name(module)
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
    """Commit the checkpoint of ``frame["step"]`` (every module of it must be saved), then
    remove the module folders of other steps."""
    current = step_dir(frame["step"])
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    tmp = ckpt_dir / (FRAME + ".tmp")
    tmp.write_text(json.dumps({**frame, "modules_dir": current}, indent=2))
    os.replace(tmp, ckpt_dir / FRAME)
    for old in ckpt_dir.glob("step-*"):
        if old.name != current:
            shutil.rmtree(old, ignore_errors=True)


def read_frame(ckpt_dir: Path) -> dict[str, Any] | None:
    """The frame of a complete checkpoint, or None when there is none yet."""
    path = ckpt_dir / FRAME
    return json.loads(path.read_text()) if path.exists() else None


def require_frame(ckpt_dir: Path) -> dict[str, Any]:
    """The frame of a complete checkpoint; :class:`InputNotFoundError` naming the folder if none."""
    frame = read_frame(ckpt_dir)
    if frame is None:
        raise InputNotFoundError(f"no checkpoint (missing {FRAME}) in {ckpt_dir}")
    return frame


def require_same_plan(frame: dict[str, Any], fingerprint: str, ckpt_dir: Path) -> None:
    """Refuse to resume from a checkpoint another plan wrote (its modules would not fit)."""
    if frame.get("plan_fingerprint") != fingerprint:
        raise ConfigError(
            f"checkpoint {ckpt_dir} was written by another plan (fingerprint "
            f"{str(frame.get('plan_fingerprint'))[:12]}…, this run's is {fingerprint[:12]}…): its modules, "
            "sharing or allocation differ; train into a new output directory or use the same plan")


def rng_state() -> dict[str, str]:
    """This process's torch RNG states (CPU, and CUDA when present), JSON-safe."""
    states = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state()
    return {k: base64.b64encode(v.numpy().tobytes()).decode() for k, v in states.items()}


def set_rng_state(state: dict[str, str]) -> None:
    """Restore what :func:`rng_state` saved."""
    def tensor(text: str) -> torch.Tensor:
        return torch.frombuffer(bytearray(base64.b64decode(text)), dtype=torch.uint8)
    torch.set_rng_state(tensor(state["cpu"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensor(state["cuda"]))
