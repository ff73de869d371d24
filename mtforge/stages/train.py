"""``train``: train a translation model with the distributed trainer under torchrun."""

from __future__ import annotations

import json
from pathlib import Path

from mtforge.stage import Resources, stage
from mtforge.train.config import TrainConfig
from mtforge.train.launcher import run_torchrun
from mtforge.train.trainer import TrainJob


@stage("train", version="1", config=TrainConfig, resources=Resources(cpu="2", memory="8Gi", gpu=0))
def train(*, corpus: str, vocab: str, out_dir: str, config: TrainConfig, valid: str | None = None) -> dict[str, float]:
    """Train on ``corpus`` with vocabulary ``vocab``; checkpoint and metrics land in ``out_dir``.

    ``out_dir`` receives ``checkpoint/`` (per-module files + frame), ``metrics.jsonl`` (loss,
    learning rate and throughput by step; validation loss) and ``train_summary.json``. A
    re-run into the same ``out_dir`` resumes from its last checkpoint.
    """
    job = TrainJob(corpus=corpus, vocab=vocab, out_dir=out_dir, valid=valid, config=config)
    job_file = Path(out_dir) / "job.json"
    job_file.write_text(job.model_dump_json(indent=2))
    run_torchrun(job_file, config.nproc)
    summary = json.loads((Path(out_dir) / "train_summary.json").read_text())
    return {k: float(v) for k, v in summary.items()}
