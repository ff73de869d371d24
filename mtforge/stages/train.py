"""``train``: train a translation model with the distributed trainer under torchrun."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from mtforge.stage import Resources, stage
from mtforge.train.config import TrainConfig
from mtforge.train.launcher import run_torchrun
from mtforge.train.trainer import TrainJob


@stage("train", version="1", config=TrainConfig, resources=Resources(cpu="2", memory="8Gi", gpu=0))
def train(*, corpus: str, vocab: str, out_dir: str, config: TrainConfig, valid: str | None = None) -> dict[str, float]:
    """Train on ``corpus`` with vocabulary ``vocab``; checkpoint and metrics land in ``out_dir``.

    ``out_dir`` receives ``checkpoint/`` (per-module files + frame), ``metrics.jsonl`` (loss,
    learning rate and throughput by step; validation loss) and ``train_summary.json``.
    Training runs in the stage's work directory (see :meth:`StageSpec.work_dir`) and moves
    there only when it succeeds, so a failed or killed attempt is resumed from its last
    checkpoint by the next attempt on the same inputs and config, whatever its ``out_dir``.
    """
    work = train.spec.work_dir(config, {"corpus": corpus, "vocab": vocab, "valid": valid})
    job = TrainJob(corpus=corpus, vocab=vocab, out_dir=str(work), valid=valid, config=config)
    job_file = work / "job.json"
    job_file.write_text(job.model_dump_json(indent=2))
    run_torchrun(job_file, config.nproc)
    summary = json.loads((work / "train_summary.json").read_text())
    for item in work.iterdir():
        shutil.move(str(item), Path(out_dir) / item.name)
    work.rmdir()
    return {k: float(v) for k, v in summary.items()}
