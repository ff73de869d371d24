"""Encoder and mining evaluations as files and MLflow runs (``mtforge xsim``, ``mtforge mine-eval``,
``mtforge student-xsim``).

Each evaluation writes CSV + Markdown tables into an output directory and logs one MLflow run
(experiment ``mtforge-mining`` by default): the settings as params, every number as a metric
(``xsim.<lang>.margin``, ``f1.<testset>.<lang>.<margin>``, …) and the tables as artifacts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mtforge.embed.cache import EmbeddingCache
from mtforge.embed.encoders import load_encoder
from mtforge.embed.student_eval import SPLITS, StudentXsimRow, compare_on_flores, student_xsim_markdown
from mtforge.mine.benchmark import (
    RecoveryRow,
    calibrate,
    flores_tasks,
    multi30k_tasks,
    recovery_table,
    tatoeba_tasks,
    write_rows,
)
from mtforge.mine.tatoeba import XsimRow, write_xsim_csv, xsim_table
from mtforge.tracking import log_pipeline_run

EXPERIMENT = "mtforge-mining"
#: Share of calibration sources whose translation is withheld (see :mod:`mtforge.mine.recovery`).
CALIBRATION_UNPAIRED = 0.5


def xsim_markdown(rows: Sequence[XsimRow]) -> str:
    """The xsim table as Markdown, with the mean over covered languages."""
    lines = ["| language | covered | sentences | xsim % (cosine) | xsim % (ratio margin) |", "|---|---|---:|---:|---:|"]
    lines += [f"| {r.lang} | {'yes' if r.covered else 'no'} | {r.sentences} | {r.xsim_cosine:.2f} | {r.xsim_margin:.2f} |"
              for r in rows]
    covered = [r for r in rows if r.covered]
    if covered:
        mean = lambda values: sum(values) / len(values)  # noqa: E731
        lines.append(f"| **mean of {len(covered)} covered** | | | {mean([r.xsim_cosine for r in covered]):.2f} | "
                     f"{mean([r.xsim_margin for r in covered]):.2f} |")
    return "\n".join(lines) + "\n"


def recovery_markdown(rows: Sequence[RecoveryRow]) -> str:
    """The mining F1 table as Markdown: one line per test set × language × margin function."""
    lines = ["| test set | language | margin | threshold | pairs | distractors | mined | precision | recall | F1 "
             "| best F1 (at threshold) |", "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r.testset} | {r.lang} | {r.margin} | {r.threshold:.4f} | {r.pairs} | {r.distractors} | {r.mined} | "
              f"{r.precision:.4f} | {r.recall:.4f} | {r.f1:.4f} | {r.oracle_f1:.4f} ({r.oracle_threshold:.4f}) |"
              for r in rows]
    return "\n".join(lines) + "\n"


@dataclass
class EvaluationRun:
    """What one evaluation command wrote and logged."""

    out_dir: Path
    run_id: str | None
    files: dict[str, Path] = field(default_factory=dict)


def _log(experiment: str | None, run_name: str, params: dict[str, object], metrics: dict[str, dict[str, float]],
         files: dict[str, Path]) -> str | None:
    """One MLflow run; ``metrics`` maps a prefix to its metrics (logged as ``<prefix>.<name>``)."""
    if not experiment:
        return None
    return log_pipeline_run(experiment=experiment, run_name=run_name, params=params,
                            stage_metrics=metrics, step_metrics={}, scores=[],
                            artifacts={name: str(path) for name, path in files.items()})


def run_xsim(*, encoder: str, tatoeba: str, out_dir: str | os.PathLike[str], langs: Sequence[str] | None = None,
             include_uncovered: bool = False, cache_dir: str | None = None,
             experiment: str | None = EXPERIMENT) -> tuple[list[XsimRow], EvaluationRun]:
    """xsim of ``encoder`` on the Tatoeba sets: ``xsim.csv`` + ``xsim.md`` in ``out_dir``, one MLflow run."""
    model = load_encoder(encoder)
    rows = xsim_table(model, tatoeba, list(langs) if langs else None, include_uncovered=include_uncovered,
                      cache=EmbeddingCache(model, cache_dir))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"xsim.csv": out / "xsim.csv", "xsim.md": out / "xsim.md"}
    write_xsim_csv(rows, files["xsim.csv"])
    files["xsim.md"].write_text(xsim_markdown(rows))
    metrics = {f"{r.lang}.{kind}": value for r in rows
               for kind, value in (("cosine", r.xsim_cosine), ("margin", r.xsim_margin))}
    covered = [r for r in rows if r.covered]
    if covered:
        metrics["mean_covered.margin"] = sum(r.xsim_margin for r in covered) / len(covered)
        metrics["mean_covered.cosine"] = sum(r.xsim_cosine for r in covered) / len(covered)
    params = {"encoder": encoder, "tatoeba": str(tatoeba), "languages": len(rows), "include_uncovered": include_uncovered}
    return rows, EvaluationRun(out, _log(experiment, f"xsim-{model.name}", params, {"xsim": metrics}, files), files)


def run_mining_eval(*, encoder: str, shared: str, out_dir: str | os.PathLike[str], calibration_langs: Sequence[str],
                    calibration_multi30k: Sequence[str], tatoeba_langs: Sequence[str], flores_langs: Sequence[str], ratio: int = 10, k: int = 4,
                    unpaired: Sequence[float] = (0.0, CALIBRATION_UNPAIRED), seed: int = 0, cache_dir: str | None = None,
                    experiment: str | None = EXPERIMENT) -> tuple[list[RecoveryRow], dict[str, float], EvaluationRun]:
    """Calibrate thresholds on FLORES dev (``calibration_langs``) and Multi30k val
    (``calibration_multi30k``), half the sources unpaired; then mine Tatoeba (unrelated and, with
    every source paired, in-domain distractors) and FLORES devtest tasks (each ``unpaired`` share)
    back with every margin function; ``recovery.csv``/``.md`` + ``thresholds.json``, one MLflow run."""
    model = load_encoder(encoder)
    cache = EmbeddingCache(model, cache_dir)
    options = {"ratio": ratio, "seed": seed}
    calibration = flores_tasks(shared, "dev", calibration_langs, cache, unpaired=CALIBRATION_UNPAIRED, **options)
    if calibration_multi30k:
        calibration += multi30k_tasks(shared, "val", calibration_multi30k, cache, unpaired=CALIBRATION_UNPAIRED,
                                      **options)
    thresholds = calibrate(calibration, k=k)
    tasks = []
    for share in unpaired:
        if tatoeba_langs:
            tasks += tatoeba_tasks(shared, tatoeba_langs, cache, unpaired=share, **options)
        if flores_langs:
            tasks += flores_tasks(shared, "devtest", flores_langs, cache, unpaired=share, **options)
    if tatoeba_langs:
        tasks += tatoeba_tasks(shared, tatoeba_langs, cache, in_domain=True, **options)
    rows = recovery_table(tasks, thresholds, k=k)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"recovery.csv": out / "recovery.csv", "recovery.md": out / "recovery.md",
             "thresholds.json": out / "thresholds.json"}
    write_rows(rows, files["recovery.csv"])
    files["recovery.md"].write_text(recovery_markdown(rows))
    files["thresholds.json"].write_text(json.dumps(thresholds, indent=2))
    metrics = {name: {f"{r.testset}.{r.lang}.{r.margin}": getattr(r, name) for r in rows}
               for name in ("precision", "recall", "f1")}
    metrics["threshold"] = dict(thresholds)
    params = {"encoder": encoder, "ratio": ratio, "k": k, "seed": seed, "mode": "union",
              "unpaired": ",".join(map(str, unpaired)), "calibration_unpaired": CALIBRATION_UNPAIRED,
              "calibration": ",".join(calibration_langs), "calibration_multi30k": ",".join(calibration_multi30k)}
    return rows, thresholds, EvaluationRun(out, _log(experiment, f"mining-f1-{model.name}", params, metrics, files), files)


def run_student_xsim(*, student: str, shared: str, out_dir: str | os.PathLike[str], langs: Sequence[str] | None = None,
                     splits: Sequence[str] = SPLITS, cache_dir: str | None = None,
                     experiment: str | None = EXPERIMENT) -> tuple[list[StudentXsimRow], EvaluationRun]:
    """A trained student (``student:<dir>`` or the directory) against its teacher on FLORES-200
    ``splits`` for ``langs`` (default: the student's languages but English):
    ``student-xsim.csv``/``.md`` and a copy of ``student.json`` in ``out_dir``, one MLflow run
    with the training config as params and the training figures and every xsim as metrics."""
    from mtforge.embed.student import CONFIG_FILE, StudentEncoder

    model = load_encoder(student if student.startswith("student:") else f"student:{student}")
    assert isinstance(model, StudentEncoder)
    langs = list(langs) if langs else sorted(model.languages - {"eng"})
    rows = compare_on_flores(model, load_encoder(model.teacher), Path(shared) / "flores200", langs, splits,
                             cache_dir=cache_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"student-xsim.csv": out / "student-xsim.csv", "student-xsim.md": out / "student-xsim.md",
             CONFIG_FILE: out / CONFIG_FILE}
    write_rows(rows, files["student-xsim.csv"])
    files["student-xsim.md"].write_text(student_xsim_markdown(rows))
    files[CONFIG_FILE].write_text(json.dumps(model.meta, indent=2, ensure_ascii=False) + "\n")
    xsim = {f"{r.split}.{r.lang}.{who}.{kind}": getattr(r, f"{who}_{kind}") for r in rows
            for who in ("teacher", "student") for kind in ("cosine", "margin")}
    training = model.meta.get("training") or {}
    train_metrics = {name: float(training[name]) for name in ("steps", "epochs", "train_loss", "valid_loss",
                                                               "best_step", "seconds") if training.get(name) is not None}
    for name in ("valid_xsim", "initial_valid_xsim"):
        train_metrics.update({f"{name}.{lang}": value for lang, value in (training.get(name) or {}).items()})
    params = {"student": model.name, "teacher": model.teacher, "languages": ",".join(langs), "splits": ",".join(splits),
              **{f"config.{k}": v for k, v in (model.meta.get("config") or {}).items()}}
    run_id = _log(experiment, f"student-xsim-{model.name}", params, {"xsim": xsim, "train": train_metrics}, files)
    return rows, EvaluationRun(out, run_id, files)
