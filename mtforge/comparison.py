"""Runs side by side: metrics per direction and test set, with paired-bootstrap significance
against a baseline run (from the evaluation directories the runs logged in MLflow)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from mtforge.errors import ConfigError, InputNotFoundError
from mtforge.evaluation.results import METRICS, Evaluation
from mtforge.evaluation.significance import Comparison, compare_evaluations
from mtforge.registry import download_evaluation
from mtforge.tracking import compare_runs


@dataclass
class RunComparison:
    """The table ``mtforge compare`` prints: one column per run (the baseline first)."""

    metric: str
    runs: list[dict]  # compare_runs rows, baseline first
    keys: list[str]  # "<direction>.<testset>" rows
    marks: dict[tuple[str, str], Comparison] = field(default_factory=dict)  # (run id, key) → vs baseline
    not_compared: dict[str, str] = field(default_factory=dict)  # run id → why it has no marks

    def means(self) -> dict[str, dict[str, float | None]]:
        """Per test set, each run's mean over the directions (None unless it has them all)."""
        out: dict[str, dict[str, float | None]] = {}
        for testset in sorted({k.split(".", 1)[1] for k in self.keys if "." in k}):
            keys = [k for k in self.keys if k.endswith(f".{testset}")]
            out[testset] = {r["run_id"]: (sum(r["metrics"][k] for k in keys) / len(keys)
                                          if all(k in r["metrics"] for k in keys) else None) for r in self.runs}
        return out


def compare(experiment: str | None = None, *, run_ids: list[str] | None = None, metric: str = "bleu",
            max_runs: int = 20, baseline: str | None = None, significance: bool = True,
            n_samples: int = 1000) -> RunComparison:
    """Compare runs of ``experiment`` (or ``run_ids``); with ``significance``, each other run's
    metric on every (direction, test set) is paired-bootstrapped against ``baseline`` (a run
    id or prefix; default the first run)."""
    rows = compare_runs(experiment, metric=metric, max_runs=max_runs, run_ids=run_ids or ())
    if baseline:
        chosen = [r for r in rows if r["run_id"].startswith(baseline)]
        if not chosen:
            raise ConfigError(f"baseline run {baseline!r} is not among the compared runs: "
                              f"{', '.join(r['run_id'][:8] for r in rows)}")
        rows = chosen[:1] + [r for r in rows if r is not chosen[0]]
    result = RunComparison(metric, rows, sorted({k for r in rows for k in r["metrics"]},
                                                key=lambda k: (k.split(".", 1)[-1], k)))
    if not significance or len(rows) < 2 or metric not in METRICS:
        return result
    with tempfile.TemporaryDirectory(prefix="mtforge-compare-") as tmp:
        evaluations: dict[str, Evaluation | None] = {}
        for r in rows:
            try:
                evaluations[r["run_id"]] = download_evaluation(r["run_id"], Path(tmp) / r["run_id"])
            except InputNotFoundError:
                evaluations[r["run_id"]] = None
                result.not_compared[r["run_id"]] = "no evaluation artifact"
        base = evaluations[rows[0]["run_id"]]
        for r in rows[1:]:
            other = evaluations[r["run_id"]]
            if base is None or other is None:
                continue
            try:
                comparisons = compare_evaluations(base, other, metrics=(metric,), n_samples=n_samples)
            except ConfigError as exc:
                result.not_compared[r["run_id"]] = str(exc)
                continue
            for c in comparisons:
                result.marks[(r["run_id"], f"{c.direction}.{c.testset}")] = c
    return result
