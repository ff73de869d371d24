"""``train``: resolve the MAMMOTH plan, then train with the distributed trainer (torchrun here,
or a Kubeflow PyTorchJob)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from mtforge.stage import Resources, stage
from mtforge.train.config import TrainConfig
from mtforge.train.launcher import launch
from mtforge.train.planning import model_config, module_inventory, plan_training
from mtforge.train.trainer import TrainJob
from mtforge.vocab import Vocab

#: Files the stage writes next to the checkpoint (logged as MLflow artifacts by ``track``).
META_CONFIG_FILE, PLAN_FILE, MODULES_FILE = "meta_config.yaml", "plan.yaml", "modules.json"


@stage("train", version="2", config=TrainConfig, resources=Resources(cpu="2", memory="8Gi", gpu=0))
def train(*, corpus: str, vocab: str, out_dir: str, config: TrainConfig, valid: str | None = None) -> dict[str, float]:
    """Train on ``corpus`` with vocabulary ``vocab``; checkpoint and metrics land in ``out_dir``.

    The plan (tasks, their modules, weights, curriculum and allocation to ranks) is resolved
    first, so a bad plan fails before any process starts. ``out_dir`` receives
    ``meta_config.yaml`` and ``plan.yaml`` (the meta-config and the resolved plan),
    ``modules.json`` (parameters, holders and tasks per module), ``checkpoint/`` (per-module
    files + frame), ``metrics.jsonl`` (loss per task, learning rate and throughput by step;
    validation loss, BLEU and chrF++ per direction) and ``train_summary.json``. Training runs
    in the stage's work directory (see :meth:`StageSpec.work_dir`) and moves there only when
    it succeeds, so a failed or killed attempt is resumed from its last checkpoint by the next
    attempt on the same inputs and config, whatever its ``out_dir``.
    """
    meta, plan = plan_training(config, corpus)
    work = train.spec.work_dir(config, {"corpus": corpus, "vocab": vocab, "valid": valid})
    (work / META_CONFIG_FILE).write_text(yaml.safe_dump(meta.model_dump(mode="json"), sort_keys=False))
    (work / PLAN_FILE).write_text(yaml.safe_dump(plan.model_dump(mode="json"), sort_keys=False))
    inventory = module_inventory(plan, model_config(config, len(Vocab(vocab))))
    (work / MODULES_FILE).write_text(json.dumps(inventory, indent=2))
    job = TrainJob(corpus=corpus, vocab=vocab, out_dir=str(work), valid=valid, config=config, plan=plan)
    job_file = work / "job.json"
    job_file.write_text(job.model_dump_json(indent=2))
    launch(job, job_file)
    summary = json.loads((work / "train_summary.json").read_text())
    for item in work.iterdir():
        shutil.move(str(item), Path(out_dir) / item.name)
    work.rmdir()
    return {k: float(v) for k, v in summary.items()}
