"""The train stage: a killed attempt is resumed by the next one; outputs land in out_dir."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


from mtforge.stage import get_stage, run_stage
from mtforge.stages.spm import MODEL_FILE
from mtforge.train.checkpoint import read_frame
from mtforge.train.config import TrainConfig


def test_a_killed_training_attempt_is_resumed_by_the_next_one(tiny_corpora, tiny_spm, tiny_train_config,
                                                              tmp_path: Path, capfd) -> None:
    config = {**tiny_train_config, "max_steps": 150, "checkpoint_every": 10, "valid_every": 0}
    inputs = {"corpus": str(tiny_corpora["train"]), "vocab": str(Path(tiny_spm) / MODEL_FILE),
              "valid": str(tiny_corpora["valid"])}
    work = get_stage("train").work_dir(TrainConfig.parse(config), inputs)

    # First attempt: a separate process group (torchrun and its ranks), killed mid-training.
    code = ("import json, sys; from mtforge.stage import run_stage; "
            "run_stage('train', json.loads(sys.argv[1]), out_dir=sys.argv[2], **json.loads(sys.argv[3]))")
    attempt = subprocess.Popen([sys.executable, "-c", code, json.dumps(config), str(tmp_path / "first"),
                                json.dumps(inputs)], start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while (frame := read_frame(work / "checkpoint")) is None or frame["step"] < 20:
        assert attempt.poll() is None, "the first attempt ended before it was killed"
        assert time.monotonic() < deadline, "no checkpoint at step 20 within 120 s"
        time.sleep(0.05)
    os.killpg(attempt.pid, signal.SIGKILL)
    attempt.wait()
    killed_at = read_frame(work / "checkpoint")["step"]
    assert not (tmp_path / "first" / "checkpoint").exists()  # nothing half-done reached out_dir

    assert killed_at < config["max_steps"], "the first attempt finished before it was killed"

    # Second attempt, same work, into another out_dir (as a re-run pipeline task would be).
    resumed = tmp_path / "second"
    stats = run_stage("train", config, out_dir=str(resumed), **inputs)
    assert f"resuming from step {killed_at}" in capfd.readouterr().out
    assert stats["resumed_from"] == killed_at and stats["steps"] == config["max_steps"]
    assert read_frame(resumed / "checkpoint")["step"] == config["max_steps"]
    assert not work.exists()  # moved to out_dir once finished
    assert (resumed / "train_summary.json").exists() and (resumed / "metrics.jsonl").exists()


def test_the_work_dir_changes_with_config_and_data(tiny_corpora, tiny_spm, tiny_train_config) -> None:
    spec = get_stage("train")
    inputs = {"corpus": str(tiny_corpora["train"]), "vocab": str(Path(tiny_spm) / MODEL_FILE), "valid": None}
    base = spec.work_dir(TrainConfig.parse(tiny_train_config), inputs)
    assert spec.work_dir(TrainConfig.parse(tiny_train_config), inputs) == base
    assert spec.work_dir(TrainConfig.parse({**tiny_train_config, "lr": 1e-4}), inputs) != base
    assert spec.work_dir(TrainConfig.parse(tiny_train_config), {**inputs, "corpus": str(tiny_corpora["valid"])}) != base
