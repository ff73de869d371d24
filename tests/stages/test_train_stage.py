"""The train stage: a killed attempt is resumed by the next one; outputs land in out_dir."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


import pytest

from mtforge.errors import ConfigError, InputNotFoundError
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

    # …and it trained the same model as an attempt that was never killed: same loss, per
    # task, at every logged step (rows the killed attempt logged after its last checkpoint
    # are logged again by the resumed one; the later row counts).
    uninterrupted = tmp_path / "uninterrupted"
    run_stage("train", config, out_dir=str(uninterrupted), **inputs)
    expected, got = loss_rows(uninterrupted), loss_rows(resumed)
    assert sorted(got) == sorted(expected) == list(range(5, 151, 5))
    for step, row in expected.items():
        assert got[step] == pytest.approx(row, rel=1e-5), step


def loss_rows(out_dir: Path) -> dict[int, dict[str, float]]:
    """The last logged training losses (overall and per task) of each step."""
    rows: dict[int, dict[str, float]] = {}
    for line in (out_dir / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        if "loss" in row:
            rows[row["step"]] = {k: v for k, v in row.items() if k.startswith("loss")}
    return rows


def test_the_work_dir_changes_with_config_and_data(tiny_corpora, tiny_spm, tiny_train_config) -> None:
    spec = get_stage("train")
    inputs = {"corpus": str(tiny_corpora["train"]), "vocab": str(Path(tiny_spm) / MODEL_FILE), "valid": None}
    base = spec.work_dir(TrainConfig.parse(tiny_train_config), inputs)
    assert spec.work_dir(TrainConfig.parse(tiny_train_config), inputs) == base
    assert spec.work_dir(TrainConfig.parse({**tiny_train_config, "lr": 1e-4}), inputs) != base
    assert spec.work_dir(TrainConfig.parse(tiny_train_config), {**inputs, "corpus": str(tiny_corpora["valid"])}) != base


def test_the_stage_trains_through_a_pytorchjob(tiny_corpora, tiny_spm, tiny_train_config, s3, s3_endpoint,
                                               tmp_path: Path, monkeypatch, capfd) -> None:
    """launcher=pytorchjob end to end: inputs staged in the object store, the PyTorchJob
    validated against the Training Operator's CRD by the Kubernetes API stand-in (found through
    $KUBECONFIG, as a user's kubectl would), its pod's command run as the kubelet would run it,
    the master log streamed, the job deleted, and the trained model fetched into out_dir."""
    from tests.train.k8s_standin import K8sStandIn, Scenario

    s3.make_bucket("mtforge")
    creds = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ['PATH']}")  # the pod's `python`
    config = {**tiny_train_config, "nproc": 1, "max_steps": 6, "valid_every": 0, "checkpoint_every": 0,
              "directions": "eng_Latn-deu_Latn", "launcher": "pytorchjob",
              "cluster": {"image": "ghcr.io/mtforge/mtforge:test", "namespace": "ml", "secret_name": "store-keys",
                          "staging_uri": "s3://mtforge/staging"}}
    with K8sStandIn(Scenario(execute=True, secrets={"store-keys": creds})) as cluster:
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "standin",
            "clusters": [{"name": "standin", "cluster": {"server": cluster.host}}],
            "contexts": [{"name": "standin", "context": {"cluster": "standin", "user": "me"}}],
            "users": [{"name": "me", "user": {}}]}))
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        out = tmp_path / "model"
        stats = run_stage("train", config, out_dir=str(out), corpus=str(tiny_corpora["train"]),
                          vocab=str(Path(tiny_spm) / MODEL_FILE), valid=str(tiny_corpora["valid"]))
        (created,) = cluster.requests_for("POST", "/pytorchjobs")
        assert cluster.requests_for("DELETE", "/pytorchjobs")  # cleaned up
        assert not cluster.jobs
    spec = created.body["spec"]["pytorchReplicaSpecs"]
    assert list(spec) == ["Master"] and created.body["spec"]["nprocPerNode"] == "1"
    container = spec["Master"]["template"]["spec"]["containers"][0]
    assert container["image"] == "ghcr.io/mtforge/mtforge:test"
    assert {"name": "MTFORGE_S3_ENDPOINT", "value": s3_endpoint} in container["env"]
    assert container["envFrom"] == [{"secretRef": {"name": "store-keys"}}]
    assert stats["steps"] == 6.0
    assert read_frame(out / "checkpoint")["step"] == 6
    assert (out / "metrics.jsonl").exists() and (out / "plan.yaml").exists()
    assert "step 6/6" in capfd.readouterr().out  # the master's log reached the step's log


@pytest.mark.parametrize("meta,error,message", [
    ({"allocation": {"ranks": [["eng_Latn-deu_Latn", "deu_Latn-eng_Latn"], []]}}, ConfigError, "rank 1 has no task"),
    ({"enc_layers": [1, 1]}, ConfigError, "enc_sharing"),
    ({"corpus": {"src": "/nowhere/{lang_pair}.{src_lang}", "tgt": "/nowhere/{lang_pair}.{tgt_lang}"}},
     InputNotFoundError, "/nowhere/"),
])
def test_a_bad_plan_fails_before_any_process_starts(tiny_corpora, tiny_spm, tiny_train_config, tmp_path: Path,
                                                    meta: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        run_stage("train", {**tiny_train_config, "meta_config": meta}, out_dir=str(tmp_path / "out"),
                  corpus=str(tiny_corpora["train"]), vocab=str(Path(tiny_spm) / MODEL_FILE))
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
