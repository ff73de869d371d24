"""The real training entrypoint under torchrun: outputs, resume, rank agreement, failures.

The 2-rank language-sharing run is the session's ``tiny_pipeline`` (see tests/conftest.py);
this module adds a 1-rank run of the same job, a resumed continuation of the 2-rank run, a
2-rank full-sharing run, a re-run of a finished run and a failing run.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from mtforge.errors import StageFailedError
from mtforge.train import checkpoint
from mtforge.train.config import TrainConfig
from mtforge.train.launcher import run_torchrun
from mtforge.train.trainer import TrainJob

EN, DE = "eng_Latn", "deu_Latn"
LANGUAGE_MODULES = ["decoder/deu_Latn", "decoder/eng_Latn", "embeddings", "encoder/deu_Latn", "encoder/eng_Latn"]


def launch(out_dir: Path, base: dict, *, corpus: str, vocab: str, valid: str | None = None,
           **overrides) -> list[str]:
    """Write a TrainJob for config ``base | overrides`` and run it; returns the echoed lines.

    The ranks run pinned to ``nproc`` CPUs, so each uses one thread (the trainer sizes its
    thread pool from its CPU affinity): these models are tiny and the machine may be busy.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    config = TrainConfig(**{**base, **overrides})
    job = TrainJob(corpus=corpus, vocab=vocab, out_dir=str(out_dir), valid=valid, config=config)
    job_file = out_dir / "job.json"
    job_file.write_text(job.model_dump_json())
    lines: list[str] = []
    pinned = hasattr(os, "sched_setaffinity")
    if pinned:
        cpus = os.sched_getaffinity(0)
        os.sched_setaffinity(0, sorted(cpus)[: config.nproc])
    try:
        run_torchrun(job_file, config.nproc, echo=lines.append)
    finally:
        if pinned:
            os.sched_setaffinity(0, cpus)
    return lines


def metrics(out_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]


def by_step(*out_dirs: Path) -> dict[int, dict]:
    """Every metrics row of the runs merged per step (loss and validation rows are separate)."""
    merged: dict[int, dict] = {}
    for out_dir in out_dirs:
        for row in metrics(out_dir):
            merged.setdefault(row["step"], {}).update(row)
    return merged


def losses(out_dir: Path) -> dict[int, float]:
    return {row["step"]: row["loss"] for row in metrics(out_dir) if "loss" in row}


@pytest.fixture(scope="module")
def inputs(tiny_pipeline: dict[str, str], tiny_train_config: dict) -> dict:
    """Arguments of :func:`launch` for the tiny pipeline's training job."""
    return {"base": tiny_train_config, "corpus": tiny_pipeline["corpus.train"],
            "vocab": str(Path(tiny_pipeline["spm"]) / "spm.model"), "valid": tiny_pipeline["corpus.valid"]}


@pytest.fixture(scope="module")
def one_rank(inputs: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pipeline's training job on ONE rank, uninterrupted, to step 40."""
    out = tmp_path_factory.mktemp("one-rank")
    launch(out, **inputs, nproc=1, max_steps=40)
    return out


@pytest.fixture(scope="module")
def resumed(tiny_pipeline: dict[str, str], inputs: dict,
            tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A copy of the pipeline's 2-rank run (stopped at step 20), re-run with max_steps 40."""
    out = tmp_path_factory.mktemp("resumed") / "train"
    shutil.copytree(tiny_pipeline["train"], out)
    return out, launch(out, **inputs, max_steps=40)


def test_two_rank_run_writes_checkpoint_metrics_and_summary(tiny_pipeline: dict[str, str]) -> None:
    out = Path(tiny_pipeline["train"])
    frame = checkpoint.read_frame(out / "checkpoint")
    assert frame["step"] == 20
    assert frame["modules"] == LANGUAGE_MODULES
    assert frame["vocab"] == "spm.model"
    assert frame["model"]["d_model"] == 32 and frame["train"]["sharing"] == "language"
    assert [(t["src_lang"], t["tgt_lang"], t["encoder"], t["decoder"]) for t in frame["tasks"]] == [
        (EN, DE, EN, DE), (DE, EN, DE, EN)]
    # one task per rank; each rank's stream position is recorded
    assert {r: sorted(s) for r, s in frame["data_state"].items()} == {"0": [f"{EN}-{DE}"], "1": [f"{DE}-{EN}"]}
    # one file per module, each written by a holder (encoder/deu_Latn only lives on rank 1)
    files = sorted(p.name for p in (out / "checkpoint" / "modules").iterdir())
    assert files == sorted(m.replace("/", "__") + ".pt" for m in LANGUAGE_MODULES)

    rows = metrics(out)
    curve = losses(out)
    assert sorted(curve) == [5, 10, 15, 20]
    assert curve[20] < 0.9 * curve[5]  # it learns
    valid_steps = [r["step"] for r in rows if any(k.startswith("valid_loss.") for k in r)]
    assert valid_steps == [10, 20]
    assert {k for r in rows for k in r if k.startswith("valid_loss.")} == {
        f"valid_loss.{EN}-{DE}", f"valid_loss.{DE}-{EN}"}

    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["steps"] == 20 and summary["resumed_from"] == 0
    assert summary["final_loss"] == pytest.approx(curve[20])
    assert summary["parameters"] > 0 and summary["tgt_tokens"] > 0
    assert summary[f"valid_loss.{EN}-{DE}"] == pytest.approx(rows[-1][f"valid_loss.{EN}-{DE}"])
    # the stage recorded what it ran with
    record = json.loads((out / "stage.json").read_text())
    assert record["config"]["nproc"] == 2 and record["stats"]["steps"] == 20.0


def test_resume_continues_from_the_checkpoint_to_the_new_max(resumed: tuple[Path, list[str]]) -> None:
    out, lines = resumed
    assert any(line.startswith("resuming from step 20") for line in lines), lines
    assert any("steps 20→40" in line for line in lines)
    assert checkpoint.read_frame(out / "checkpoint")["step"] == 40
    assert sorted(losses(out)) == [5, 10, 15, 20, 25, 30, 35, 40]  # appended, not restarted
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["steps"] == 40 and summary["resumed_from"] == 20


def test_rerunning_a_finished_run_keeps_its_results(resumed: tuple[Path, list[str]], inputs: dict,
                                                    tmp_path: Path) -> None:
    """A finished job started again (a retried task) changes nothing. It used to re-validate,
    re-save and overwrite train_summary.json with final_loss NaN and 0 tokens."""
    out = tmp_path / "train"
    shutil.copytree(resumed[0], out)
    before = {name: (out / name).read_bytes() for name in ("train_summary.json", "metrics.jsonl",
                                                            "checkpoint/frame.json")}
    lines = launch(out, **inputs, max_steps=40)
    assert {name: (out / name).read_bytes() for name in before} == before
    assert any("already trained to step 40" in line for line in lines), lines


def test_two_ranks_and_a_resume_train_the_same_model_as_one_uninterrupted_rank(
        tiny_pipeline: dict[str, str], resumed: tuple[Path, list[str]], one_rank: Path) -> None:
    """2 ranks with one direction each, stopped at step 20 and resumed to 40, must follow the
    loss curve of 1 rank doing both directions for 40 steps.

    * steps 5–20: the shared embeddings are only right if both ranks' gradients are combined,
      and rank 1's modules only if its copy of the embeddings stays in sync with rank 0's
      (with Adam and no clipping, averaging rather than summing two gradients is invisible);
    * steps 25–40: only if the resume restored weights, optimizer state and data positions.

    The runs agree to ~1e-7; a skipped gradient sync, a fresh optimizer or a restarted data
    stream each move the curve by more than 1e-4.
    """
    one = by_step(one_rank)
    two = by_step(Path(tiny_pipeline["train"]), resumed[0])  # the resumed copy repeats steps ≤ 20
    assert sorted(one) == sorted(two) == [5, 10, 15, 20, 25, 30, 35, 40]
    for step, row in one.items():
        assert two[step]["loss"] == pytest.approx(row["loss"], rel=1e-5), step
    # validation losses are computed from the weights themselves
    valid = [k for k in one[40] if k.startswith("valid_loss.")]
    assert len(valid) == 2
    for step in (10, 20, 30, 40):
        for key in valid:
            assert two[step][key] == pytest.approx(one[step][key], rel=1e-5), (step, key)
    merged = lambda frame: {k: v for part in frame["data_state"].values() for k, v in part.items()}  # noqa: E731
    assert merged(checkpoint.read_frame(resumed[0] / "checkpoint")) == merged(
        checkpoint.read_frame(one_rank / "checkpoint"))


def test_full_sharing_replicates_one_direction_over_two_ranks(inputs: dict, tmp_path: Path) -> None:
    out = tmp_path / "full"
    launch(out, inputs["base"], corpus=inputs["corpus"], vocab=inputs["vocab"], directions=f"{EN}-{DE}", sharing="full",
           max_steps=4, log_every=2, valid_every=0, checkpoint_every=0)
    ckpt = out / "checkpoint"
    frame = checkpoint.read_frame(ckpt)
    assert frame["modules"] == ["decoder/shared", "embeddings", "encoder/shared"]
    assert sorted(p.name for p in (ckpt / "modules").iterdir()) == [
        "decoder__shared.pt", "embeddings.pt", "encoder__shared.pt"]
    # both ranks train the one direction (on different halves of its data)
    assert {r: list(s) for r, s in frame["data_state"].items()} == {"0": [f"{EN}-{DE}"], "1": [f"{EN}-{DE}"]}
    assert sorted(losses(out)) == [2, 4]
    assert json.loads((out / "train_summary.json").read_text())["steps"] == 4


def test_a_failing_run_raises_with_the_error_tail(inputs: dict, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-corpus"
    with pytest.raises(StageFailedError) as err:
        launch(tmp_path / "out", inputs["base"], corpus=str(missing), vocab=inputs["vocab"], nproc=1)
    message = str(err.value)
    assert "training exited with code" in message and "mtforge.train" in message
    # the rank's own error, not only torchrun's summary, reaches the caller
    assert "InputNotFoundError" in message and str(missing) in message
    assert not (tmp_path / "out" / "train_summary.json").exists()
