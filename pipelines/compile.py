"""Compile pipelines to the YAML that Kubeflow Pipelines accepts (UI upload or SDK)."""

from __future__ import annotations

from pathlib import Path

from kfp import compiler

import pipelines


def compile_one(name: str, out_dir: Path) -> Path:
    """Write ``out_dir/<name>.yaml``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.yaml"
    compiler.Compiler().compile(pipelines.load(name).pipeline, str(path))
    return path


def compile_all(out_dir: Path, names: list[str] | None = None) -> list[Path]:
    return [compile_one(name, out_dir) for name in (names or pipelines.NAMES)]
