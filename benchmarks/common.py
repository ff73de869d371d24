"""What every benchmark shares: the result record, timing, machine description, data, output files."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: Where ``python -m benchmarks`` writes unless told otherwise (committed: small JSON and Markdown).
RESULTS_DIR = Path(__file__).resolve().parent / "results"
#: The shared real corpora, found as the test suite finds them (``tests/conftest.py``).
SHARED_DATA = Path(os.environ.get("MTFORGE_SHARED_DATA") or ROOT.parent / "shared" / "data")
README = "README.md"


@dataclass
class Result:
    """One benchmark run: its settings, every number it measured, and a short table of them."""

    name: str
    description: str
    mode: str  # "full", "quick" or "custom"
    settings: dict[str, Any]
    metrics: dict[str, Any]
    table: list[tuple[str, str]]  # (measurement, formatted value): what is printed and put in the README
    machine: dict[str, Any]  # :func:`machine_info` taken when the run started
    details: dict[str, Any]  # anything else worth keeping (per-task times, model shape, …)


@dataclass(frozen=True)
class Benchmark:
    """A registered benchmark: ``run(settings, mode)`` with its full and ``--quick`` settings."""

    name: str
    run: Callable[[Any, str], Result]
    full: Any
    quick: Any


def log(message: str) -> None:
    """Progress on stderr, so stdout keeps only the result tables."""
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def stopwatch() -> Iterator[list[float]]:
    """``with stopwatch() as elapsed: …`` leaves the wall seconds in ``elapsed[0]``."""
    elapsed = [0.0]
    start = time.perf_counter()
    try:
        yield elapsed
    finally:
        elapsed[0] = time.perf_counter() - start


def best_seconds(fn: Callable[[], object], repeats: int) -> float:
    """The shortest wall time of ``repeats`` calls of ``fn`` (after one untimed warm-up call)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        with stopwatch() as elapsed:
            fn()
        best = min(best, elapsed[0])
    return best


def _set_env(key: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(key, None)
    else:
        os.environ[key] = value


@contextlib.contextmanager
def scoped_env(**values: str | None) -> Iterator[None]:
    """Set (or, for ``None``, remove) environment variables; restore them on exit."""
    saved = {key: os.environ.get(key) for key in values}
    try:
        for key, value in values.items():
            _set_env(key, value)
        yield
    finally:
        for key, value in saved.items():
            _set_env(key, value)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Swallow what the measured code prints: stdout, stderr (warnings) and MLflow's info logs
    (whose handler holds the original stderr). Failures still raise, with their own messages."""
    mlflow_logger = logging.getLogger("mlflow")
    level = mlflow_logger.level
    mlflow_logger.setLevel(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        mlflow_logger.setLevel(level)


def cpu_model() -> str:
    """The CPU's ``model name`` from /proc/cpuinfo, else what :mod:`platform` knows."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                return value.strip()
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """CPU, core counts, torch version and threads, load and date of this measurement."""
    import torch

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def multi30k_slice(out_dir: Path, lines: dict[str, int | None], langs: tuple[str, ...] = ("en", "de")) -> Path:
    """A Multi30k-shaped directory holding the first ``lines[split]`` lines (all for ``None``) of
    each split in each language of the shared copy (as ``tests/pipelines/conftest.py`` builds one)."""
    source = SHARED_DATA / "multi30k"
    if not source.is_dir():
        raise FileNotFoundError(f"shared Multi30k {source} is absent (set MTFORGE_SHARED_DATA to the folder "
                                "holding multi30k/)")
    out_dir.mkdir(parents=True, exist_ok=True)
    for split, n in lines.items():
        for lang in langs:
            text = (source / f"{split}.{lang}").read_text(encoding="utf-8").splitlines()[:n]
            (out_dir / f"{split}.{lang}").write_text("".join(f"{line}\n" for line in text), encoding="utf-8")
    return out_dir


def print_table(result: Result) -> None:
    """The result's table on stdout."""
    width = max(len(label) for label, _ in result.table)
    print(f"\n{result.name} ({result.mode}) — {result.description}")
    for label, value in result.table:
        print(f"  {label:<{width}}  {value}")


def write_result(result: Result, out_dir: Path = RESULTS_DIR) -> Path:
    """Write ``<out_dir>/<name>.json`` and regenerate ``<out_dir>/README.md``; returns the JSON path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{result.name}.json"
    path.write_text(json.dumps(asdict(result), indent=2) + "\n")
    write_readme(out_dir)
    return path


def write_readme(out_dir: Path) -> Path:
    """``README.md``: the machine of every result in ``out_dir`` and all their tables, combined."""
    results = [json.loads(p.read_text()) for p in sorted(out_dir.glob("*.json"))]
    lines = [
        "# Benchmark results",
        "",
        "Written by `python -m benchmarks [NAME ...] [--quick]` (see `benchmarks/__init__.py`); each",
        "benchmark's full record, with its settings and every run, is `<name>.json` here. Ratios compare",
        "things measured side by side in one run; absolute times depend on the machine and on what else it",
        "was running (load average at the start below). Mode `quick` is a smoke run with the smallest",
        "settings: its numbers are noisier and not comparable with `full` ones.",
        "",
        "| benchmark | mode | date (UTC) | CPU | cores | torch | torch threads | load average |",
        "|---|---|---|---|---:|---|---:|---|",
    ]
    for r in results:
        m = r["machine"]
        load = ", ".join(map(str, m["load_average"] or []))
        lines.append(f"| {r['name']} | {r['mode']} | {m['date']} | {m['cpu']} | {m['usable_cores']} | "
                     f"{m['torch']} | {m['torch_threads']} | {load} |")
    lines += ["", "| benchmark | measurement | value |", "|---|---|---:|"]
    for r in results:
        lines += [f"| {r['name']} | {label} | {value} |" for label, value in r["table"]]
    path = out_dir / README
    path.write_text("\n".join(lines) + "\n")
    return path
