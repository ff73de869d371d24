"""Record a finished pipeline in MLflow: the run, the model, its registry version and the
promotion gate — and keep the request when the tracking server cannot take it.

:func:`track` is what the pipelines' ``track`` step calls. When the tracking server is down
(or logging fails part-way), the request — experiment, run name and the stage output
directories, which stay where the pipeline left them — is saved under
``<state dir>/pending-tracking/`` and the error says so; ``mtforge track --resume`` logs every
saved request later (:func:`resume_pending`), so nothing a pipeline produced is lost.
"""

from __future__ import annotations

import csv
import html
import json
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mtforge.errors import InputNotFoundError, TrackingUnavailableError
from mtforge.evaluation.report import HEATMAPS_DIR, REPORT_HTML, write_report
from mtforge.evaluation.results import SCORES_FILE, TEXTS_DIR, Evaluation
from mtforge.evaluation.significance import Comparison
from mtforge.mlflow_model import log_translation_model
from mtforge.registry import PromotionDecision, promote, register_model
from mtforge.stages.spm import MODEL_FILE
from mtforge.state import state_dir
from mtforge.tracking import tracking_uri
from mtforge.tracking_report import log_stage_outputs

PENDING_DIR = "pending-tracking"
#: Artifact path of the candidate-versus-champion report in the run.
COMPARISON_ARTIFACT = "comparison"
COMPARISONS_CSV = "comparisons.csv"


@dataclass
class TrackRequest:
    """Everything :func:`track` needs; JSON-serialisable so it can wait in a pending record."""

    experiment: str
    run_name: str
    stage_dirs: dict[str, str]
    tags: dict[str, str] = field(default_factory=dict)
    register_as: str = ""


@dataclass
class TrackResult:
    """What :func:`track` recorded."""

    run_id: str
    summary: str  # Markdown table of the scores
    model_version: str | None = None
    decision: PromotionDecision | None = None
    comparison_html: str = ""  # the candidate-versus-champion page, or a page saying why nothing was compared


def pending_dir() -> Path:
    return state_dir() / PENDING_DIR


def save_pending(request: TrackRequest, reason: str) -> Path:
    """Write ``request`` to the pending folder; returns the record's path."""
    folder = pending_dir()
    folder.mkdir(parents=True, exist_ok=True)
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in request.run_name)
    path = folder / f"{time.strftime('%Y%m%dT%H%M%S')}-{safe}-{time.time_ns() % 10**6}.json"
    path.write_text(json.dumps({"request": asdict(request), "reason": reason, "tracking_uri": tracking_uri()},
                               indent=2))
    return path


def write_comparison(candidate: Evaluation, comparisons: list[Comparison], out_dir: Path, *, baseline_name: str,
                     candidate_name: str) -> Path:
    """The candidate's report with the comparison section (delta heatmaps for multilingual
    models, per-direction deltas with 95 % CIs and p-values) and ``comparisons.csv``, in
    ``out_dir``; returns the HTML page."""
    work = out_dir / "work"
    work.mkdir(parents=True)
    shutil.copy(candidate.root / SCORES_FILE, work / SCORES_FILE)
    shutil.copytree(candidate.root / TEXTS_DIR, work / TEXTS_DIR)
    write_report(work, title=f"{candidate_name} versus {baseline_name}", comparisons=comparisons,
                 baseline_name=baseline_name, candidate_name=candidate_name)
    shutil.move(work / REPORT_HTML, out_dir / REPORT_HTML)
    if (work / HEATMAPS_DIR).is_dir():
        shutil.move(work / HEATMAPS_DIR, out_dir / HEATMAPS_DIR)
    shutil.rmtree(work)
    columns = [f.name for f in fields(Comparison)] + ["delta", "significant", "regression"]
    with open(out_dir / COMPARISONS_CSV, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows([[getattr(c, name) for name in columns] for c in comparisons])
    return out_dir / REPORT_HTML


def _register(request: TrackRequest, run_id: str) -> tuple[str, PromotionDecision, str | None] | None:
    dirs = request.stage_dirs
    if not request.register_as or "train" not in dirs or "spm" not in dirs:
        return None
    model_uri = log_translation_model(run_id, checkpoint_dir=Path(dirs["train"]) / "checkpoint",
                                      vocab_file=Path(dirs["spm"]) / MODEL_FILE)
    version = register_model(model_uri, request.register_as, run_id=run_id)
    decision, page = None, None
    if "evaluate" in dirs:
        candidate = Evaluation(dirs["evaluate"])
        decision = promote(request.register_as, version.version, candidate)
        client = MlflowClient(tracking_uri())
        client.set_tag(run_id, "registry.version", f"{request.register_as}/{version.version}")
        client.set_tag(run_id, "registry.decision", "promoted" if decision.promoted else "rejected")
        if decision.comparisons:
            with tempfile.TemporaryDirectory(prefix="mtforge-comparison-") as tmp:
                html = write_comparison(candidate, decision.comparisons, Path(tmp),
                                        baseline_name=f"champion v{decision.previous_champion}",
                                        candidate_name=f"v{version.version}")
                client.log_artifacts(run_id, tmp, COMPARISON_ARTIFACT)
                page = html.read_text(encoding="utf-8")
    return str(version.version), decision, page


def track(request: TrackRequest, *, save_on_failure: bool = True) -> TrackResult:
    """Log the pipeline run (:func:`log_stage_outputs`), then, when ``register_as`` is set,
    log the model as an MLflow pyfunc, register it and run the promotion gate.

    A missing stage directory is an :class:`InputNotFoundError`. If MLflow cannot be reached
    or fails, the request is saved (:func:`save_pending`) and :class:`TrackingUnavailableError`
    names the record and ``mtforge track --resume``.
    """
    missing = {k: v for k, v in request.stage_dirs.items() if not Path(v).is_dir()}
    if missing:
        raise InputNotFoundError("stage output(s) to track do not exist: "
                                 + ", ".join(f"{k}={v!r}" for k, v in sorted(missing.items())))
    try:
        run_id, summary = log_stage_outputs(experiment=request.experiment, run_name=request.run_name,
                                            stage_dirs=request.stage_dirs, tags=request.tags)
        registered = _register(request, run_id)
    except (TrackingUnavailableError, MlflowException, ConnectionError) as exc:
        if not save_on_failure:
            raise TrackingUnavailableError(str(exc)) from None
        record = save_pending(request, str(exc))
        raise TrackingUnavailableError(f"{exc}\nNothing is lost: the pipeline's outputs stay where they are and "
                                       f"the tracking request is saved in {record}; run `mtforge track --resume` "
                                       "once the server is back.") from None
    version, decision, page = registered if registered else (None, None, None)
    if page is None:
        why = decision.reason if decision else "no model was registered (register_as is empty)"
        page = f"<!DOCTYPE html><html><body><p>Nothing compared: {html.escape(why)}</p></body></html>"
    return TrackResult(run_id, summary, version, decision, page)


def resume_pending() -> list[tuple[Path, TrackResult | Exception]]:
    """Retry every saved request, oldest first; a record is deleted once its run is logged.
    Returns each record with its result (or the error that kept it pending)."""
    outcomes: list[tuple[Path, TrackResult | Exception]] = []
    for path in sorted(pending_dir().glob("*.json")) if pending_dir().is_dir() else []:
        request = TrackRequest(**json.loads(path.read_text())["request"])
        try:
            outcomes.append((path, track(request, save_on_failure=False)))
            path.unlink()
        except (TrackingUnavailableError, InputNotFoundError) as exc:
            outcomes.append((path, exc))
    return outcomes
