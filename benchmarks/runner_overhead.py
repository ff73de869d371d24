"""``runner_overhead``: the ``baseline`` pipeline through KFP's local runner versus in one process.

Both sides run the same stage functions on the same inputs with the same parameters (the
``tiny`` profile of ``baseline`` plus the settings' overrides, on a slice of Multi30k):

* **runner** — :func:`pipelines.runner.run_pipeline` with caching off: each of the 7 tasks runs
  in its own subprocess, which imports the component, mtforge and their dependencies, reads
  and writes KFP artifacts, and stamps its outputs with content hashes;
* **in-process** — :func:`mtforge.stage.run_stage` for ingest ×2 → clean → spm → train →
  evaluate (translates and scores the test sets) with the configs the components build, then
  :func:`mtforge.tracking_report.log_stage_outputs` for the track step, all in this process
  (whose imports are already done).

The ``train`` stage launches ``torchrun`` on both sides. Every run gets a fresh
``MTFORGE_HOME`` (hence a fresh MLflow store). Runs alternate in-process, runner, in-process, …
(``rounds`` runner runs between ``rounds + 1`` in-process runs) so that drift in the machine's
load reaches both, and the medians are compared:

* ``ratio`` = runner seconds ÷ in-process seconds;
* ``per_task_overhead_seconds`` = (runner seconds − in-process seconds) ÷ number of tasks.

``details.per_task_seconds`` holds each task's median seconds on both sides (the runner's
from its progress log, so they include the task's subprocess start-up).
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import median
from typing import Any

from benchmarks.common import Benchmark, Result, log, machine_info, multi30k_slice, quiet, scoped_env, stopwatch
from mtforge.stage import run_stage
from mtforge.stages.spm import MODEL_FILE
from mtforge.tracking_report import log_stage_outputs
from pipelines.runner import resolve_params, run_pipeline

NAME = "runner_overhead"
DESCRIPTION = "baseline pipeline: KFP local runner vs the same stages in one process"
PIPELINE = "baseline"
#: The pipeline's tasks by display name, in the order the in-process side runs them.
TASKS = ("ingest-train", "ingest-valid", "clean", "spm", "train", "evaluate", "track")
#: ``train`` stage config keys the ``train`` component passes on from the pipeline parameters.
TRAIN_KEYS = ("directions", "sharing", "d_model", "ffn_dim", "encoder_layers", "decoder_layers", "max_steps",
              "batch_tokens", "lr", "warmup_steps", "nproc", "seed")
IN_PROCESS, RUNNER = "in-process", "runner"


@dataclass(frozen=True)
class Settings:
    """Data slice, parameter overrides and repetitions of one measurement."""

    lines: dict[str, int]  # first lines taken from each Multi30k split
    sets: tuple[str, ...]  # ``key=value`` overrides on top of the ``tiny`` profile
    rounds: int  # runner runs; in-process runs are one more, around them


FULL = Settings({"train": 2000, "val": 200, "test_2016_flickr": 200}, ("max_steps=60",), rounds=2)
QUICK = Settings({"train": 200, "val": 40, "test_2016_flickr": 40},
                 ("max_steps=4", "vocab_size=300", "beam_size=1", "batch_tokens=1000"), rounds=1)


def in_process(params: dict[str, Any], work: Path) -> dict[str, float]:
    """Every task of the pipeline as a plain library call in this process; seconds per task."""
    dirs = {task: str(work / task) for task in TASKS}
    seconds: dict[str, float] = {}

    def stage(task: str, name: str, config: dict[str, Any], **inputs: str) -> None:
        with stopwatch() as elapsed:
            run_stage(name, config, out_dir=dirs[task], **inputs)
        seconds[task] = elapsed[0]

    for task, split in (("ingest-train", "train_split"), ("ingest-valid", "valid_split")):
        stage(task, "ingest", {"source": params["data"], "directions": params["directions"],
                               "split": params[split] or None})
    stage("clean", "clean", {key: params[key] for key in ("min_tokens", "max_tokens", "max_length_ratio")},
          corpus=dirs["ingest-train"])
    stage("spm", "spm", {"vocab_size": params["vocab_size"]}, corpus=dirs["clean"])
    stage("train", "train", {key: params[key] for key in TRAIN_KEYS}, corpus=dirs["clean"],
          vocab=f"{dirs['spm']}/{MODEL_FILE}", valid=dirs["ingest-valid"])
    stage("evaluate", "evaluate", {"testsets": params["testsets"], "testsets_root": params["testsets_root"],
                                   "directions": params["directions"], "beam_size": params["beam_size"],
                                   "max_sentences": params["eval_max_sentences"], "tokenize": "13a",
                                   "title": params["run_name"]}, model=dirs["train"], vocab=dirs["spm"])
    with stopwatch() as elapsed:
        log_stage_outputs(experiment=params["experiment"], run_name=params["run_name"], stage_dirs={
            "ingest": dirs["ingest-train"], "clean": dirs["clean"], "spm": dirs["spm"], "train": dirs["train"],
            "evaluate": dirs["evaluate"]})
    seconds["track"] = elapsed[0]
    return seconds


def through_runner(params: dict[str, Any], home: Path) -> dict[str, float]:
    """The pipeline through the local KFP runner, caching off; seconds per task."""
    report = run_pipeline(PIPELINE, params, home, caching=False, echo=lambda line: None)
    if sorted(report.executed) != sorted(TASKS):
        raise RuntimeError(f"the runner executed {sorted(report.executed)}, expected every task of {TASKS}")
    return {task.name: task.seconds for task in report.tasks.values()}


def timed_run(kind: str, params: dict[str, Any]) -> tuple[float, dict[str, float]]:
    """One run of ``kind`` in a fresh ``MTFORGE_HOME``, its output swallowed; (wall seconds, seconds per task)."""
    run = {IN_PROCESS: in_process, RUNNER: through_runner}[kind]
    with (tempfile.TemporaryDirectory(prefix=f"mtforge-bench-{kind}-") as home,
          scoped_env(MTFORGE_HOME=home, MLFLOW_TRACKING_URI=None, MTFORGE_ARTIFACT_ROOT=None),
          quiet(),
          stopwatch() as elapsed):
        tasks = run(params, Path(home))
    return elapsed[0], tasks


def run(settings: Settings, mode: str = "custom") -> Result:
    """Measure (see the module docstring)."""
    machine = machine_info()
    order = [IN_PROCESS] + [RUNNER, IN_PROCESS] * settings.rounds
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="mtforge-bench-data-") as tmp:
        data = multi30k_slice(Path(tmp) / "multi30k", settings.lines)
        params = resolve_params(PIPELINE, "tiny", [f"data={data}", *settings.sets])
        for i, kind in enumerate(order, 1):
            log(f"{NAME}: run {i}/{len(order)} ({kind}) …")
            seconds, tasks = timed_run(kind, params)
            log(f"{NAME}: run {i}/{len(order)} ({kind}) took {seconds:.1f} s")
            runs.append({"kind": kind, "seconds": seconds, "tasks": tasks})
    by_kind = {kind: [r for r in runs if r["kind"] == kind] for kind in (IN_PROCESS, RUNNER)}
    inside, runner = (median(r["seconds"] for r in by_kind[kind]) for kind in (IN_PROCESS, RUNNER))
    per_task = (runner - inside) / len(TASKS)
    metrics = {
        "in_process_seconds": inside,
        "runner_seconds": runner,
        "ratio": runner / inside,
        "tasks": len(TASKS),
        "per_task_overhead_seconds": per_task,
        "in_process_runs": [r["seconds"] for r in by_kind[IN_PROCESS]],
        "runner_runs": [r["seconds"] for r in by_kind[RUNNER]],
    }
    details = {
        "order": order,
        "params": {key: value for key, value in params.items() if key != "data"},
        "per_task_seconds": {task: {kind: median(r["tasks"][task] for r in by_kind[kind])
                                    for kind in (IN_PROCESS, RUNNER)} for task in TASKS},
    }
    table = [
        (f"in-process wall (median of {len(by_kind[IN_PROCESS])})", f"{inside:.1f} s"),
        (f"runner wall (median of {len(by_kind[RUNNER])})", f"{runner:.1f} s"),
        ("runner ÷ in-process", f"{runner / inside:.2f}×"),
        (f"runner overhead per task ({len(TASKS)} tasks)", f"{per_task:.1f} s"),
    ]
    return Result(NAME, DESCRIPTION, mode, asdict(settings), metrics, table, machine, details)


BENCHMARK = Benchmark(NAME, run, FULL, QUICK)
