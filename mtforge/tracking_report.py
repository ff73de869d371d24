"""Turn the output directories of a pipeline's stages into one MLflow run.

Every stage leaves ``stage.json`` (its config and stats) in its output directory; the
trainer also leaves ``metrics.jsonl`` and the evaluator an evaluation directory
(:mod:`mtforge.evaluation.results`). This module reads them back, so what MLflow shows is
exactly what the stages ran with. The evaluation directory is logged whole (less its imported
test-set corpora) under :data:`EVALUATION_ARTIFACT`, so later comparisons (``mtforge
compare``, the promotion gate) can resample its segments.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from mtforge.corpus import Corpus
from mtforge.evaluation.report import HEATMAPS_DIR, REPORT_HTML, REPORT_MD, markdown_report
from mtforge.evaluation.results import EVALUATION_ARTIFACT, SCORES_CSV, SCORES_FILE, TEXTS_DIR, Evaluation
from mtforge.fingerprint import content_hash
from mtforge.stage import read_stage_record
from mtforge.stages.curate_merge import REPORT_FILE as CURATION_REPORT
from mtforge.stages.mine import REPORT_FILE as MINING_REPORT
from mtforge.stages.spm import MODEL_FILE
from mtforge.stages.train import META_CONFIG_FILE, MODULES_FILE, PLAN_FILE
from mtforge.synth.topxgen import SYNTH_REPORTS
from mtforge.tracking import log_pipeline_run
from mtforge.train.plan import Plan


def training_curves(metrics_file: Path) -> dict[str, list[tuple[int, float]]]:
    """``train.step.<name>`` → [(step, value)] from the trainer's ``metrics.jsonl``."""
    curves: dict[str, list[tuple[int, float]]] = {}
    if metrics_file.exists():
        for line in metrics_file.read_text().splitlines():
            row = json.loads(line)
            step = int(row.pop("step"))
            for key, value in row.items():
                curves.setdefault(f"train.step.{key}", []).append((step, float(value)))
    return curves


def plan_params(train_dir: Path) -> dict[str, object]:
    """MLflow params of a training run's plan: the meta-config as the user gave it (after the
    preset), and the resolved plan in brief — each task's modules, each rank's tasks."""
    if not (train_dir / PLAN_FILE).exists():
        return {}
    plan = Plan.load(train_dir / PLAN_FILE)
    return {
        "meta_config": yaml.safe_load((train_dir / META_CONFIG_FILE).read_text()),
        "plan": {"fingerprint": plan.fingerprint(), "nodes": plan.nodes, "procs_per_node": plan.procs_per_node,
                 "modules": len(plan.module_layers()),
                 "tasks": {t.name: " ".join(t.modules) for t in plan.tasks},
                 "ranks": {str(r): " ".join(s.task for s in slots) for r, slots in enumerate(plan.ranks)}},
    }


def stage_artifacts(stage_dirs: dict[str, str]) -> dict[str, str]:
    """The files worth keeping with the run, by artifact path."""
    wanted = {
        "vocab": Path(stage_dirs.get("spm", "")) / MODEL_FILE,
        "checkpoint": Path(stage_dirs.get("train", "")) / "checkpoint",
        "train_metrics": Path(stage_dirs.get("train", "")) / "metrics.jsonl",
        "plan/meta_config.yaml": Path(stage_dirs.get("train", "")) / META_CONFIG_FILE,
        "plan/plan.yaml": Path(stage_dirs.get("train", "")) / PLAN_FILE,
        "plan/modules.json": Path(stage_dirs.get("train", "")) / MODULES_FILE,
    }
    evaluation = Path(stage_dirs.get("evaluate", ""))
    for name in (SCORES_FILE, SCORES_CSV, REPORT_HTML, REPORT_MD, TEXTS_DIR, HEATMAPS_DIR):
        wanted[f"{EVALUATION_ARTIFACT}/{name}"] = evaluation / name
    found = {name: str(path) for name, path in wanted.items() if path.exists()}
    for name, out_dir in stage_dirs.items():
        if name != "evaluate" and (Path(out_dir) / CURATION_REPORT).exists():
            found[f"reports/{name}"] = str(Path(out_dir) / CURATION_REPORT)
        if (Path(out_dir) / MINING_REPORT).exists():
            found[f"reports/{name}"] = str(Path(out_dir) / MINING_REPORT)
        for report in SYNTH_REPORTS:
            if (Path(out_dir) / report).exists():
                found[f"reports/{name}/{report}"] = str(Path(out_dir) / report)
    if "translate" in stage_dirs:
        for hyp in sorted(Path(stage_dirs["translate"]).glob("*.txt")):
            found[f"translations/{hyp.stem}"] = str(hyp)
    return found


def data_fingerprints(stage_dirs: dict[str, str]) -> dict[str, str]:
    """``data.<stage>`` → content hash of each corpus a stage wrote (``<dir>/corpus`` or
    ``<dir>/cleaned``…), and of the test sets an evaluation scored (its references)."""
    tags = {}
    for name, out_dir in stage_dirs.items():
        corpora = sorted(p for p in Path(out_dir).iterdir() if Corpus.is_corpus(p)) if Path(out_dir).is_dir() else []
        if corpora:
            tags[f"data.{name}"] = content_hash(str(corpora[0]))
        elif (Path(out_dir) / TEXTS_DIR).is_dir():
            tags[f"data.{name}.testsets"] = content_hash(str(Path(out_dir) / TEXTS_DIR))
    return tags


def log_stage_outputs(*, experiment: str, run_name: str, stage_dirs: dict[str, str],
                      tags: dict[str, str] | None = None) -> tuple[str, str]:
    """Log one MLflow run from the stages' output directories; returns (run id, Markdown summary)."""
    params: dict[str, object] = {}
    stage_metrics: dict[str, dict[str, float]] = {}
    for name, out_dir in stage_dirs.items():
        record = read_stage_record(out_dir)
        params[name] = record["config"]
        stage_metrics[name] = {k: float(v) for k, v in record["stats"].items()}
    if "train" in stage_dirs:
        params.update(plan_params(Path(stage_dirs["train"])))
    evaluation = Evaluation(stage_dirs["evaluate"]) if "evaluate" in stage_dirs else None
    curves = training_curves(Path(stage_dirs["train"]) / "metrics.jsonl") if "train" in stage_dirs else {}
    run_id = log_pipeline_run(experiment=experiment, run_name=run_name, params=params,
                              stage_metrics=stage_metrics, step_metrics=curves,
                              scores=evaluation.scores if evaluation else [],
                              artifacts=stage_artifacts(stage_dirs),
                              tags={**data_fingerprints(stage_dirs), **(tags or {})}, nested=len(stage_dirs) > 1)
    return run_id, markdown_report(evaluation) if evaluation else ""
