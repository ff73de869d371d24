"""The real training entrypoint under torchrun: outputs, resume, rank agreement, failures.

The 2-rank run of the "independent" preset is the session's ``tiny_pipeline`` (see
tests/conftest.py); this module adds an uninterrupted 40-step run of the same job, a resumed
continuation of the 20-step run, a 2-rank full-sharing run, a re-run of a finished run and
failing runs.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from mtforge.errors import ConfigError, StageFailedError
from mtforge.train import checkpoint
from mtforge.train.config import TrainConfig
from mtforge.train.launcher import run_torchrun
from mtforge.train.planning import plan_training
from mtforge.train.trainer import TrainJob

EN, DE = "eng_Latn", "deu_Latn"
INDEPENDENT_MODULES = ["decoder/0/deu_Latn", "decoder/0/eng_Latn", "embeddings/shared", "encoder/0/deu_Latn",
                       "encoder/0/eng_Latn"]


def write_job(out_dir: Path, base: dict, *, corpus: str, vocab: str, valid: str | None = None,
              **overrides) -> tuple[Path, TrainConfig]:
    out_dir.mkdir(parents=True, exist_ok=True)
    config = TrainConfig(**{**base, **overrides})
    _, plan = plan_training(config, corpus if Path(corpus).exists() else None)
    job = TrainJob(corpus=corpus, vocab=vocab, out_dir=str(out_dir), valid=valid, config=config, plan=plan)
    job_file = out_dir / "job.json"
    job_file.write_text(job.model_dump_json())
    return job_file, config


def launch(out_dir: Path, base: dict, *, nproc: int | None = None, **kwargs) -> list[str]:
    """Write a TrainJob for config ``base | overrides`` and run it on ``nproc`` processes (the
    config's by default); returns the echoed lines.

    The ranks run pinned to that many CPUs, so each uses one thread (the trainer sizes its
    thread pool from its CPU affinity): these models are tiny and the machine may be busy.
    """
    overrides = {} if nproc is None else {"nproc": nproc}
    job_file, config = write_job(out_dir, base, **kwargs, **overrides)
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
def uninterrupted(inputs: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pipeline's 2-rank training job, uninterrupted, to step 40."""
    out = tmp_path_factory.mktemp("uninterrupted")
    launch(out, **inputs, max_steps=40)
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
    assert frame["vocab"] == "spm.model"
    assert frame["model"]["d_model"] == 32 and frame["train"]["sharing"] == "independent"
    tasks = {t["src_lang"] + "-" + t["tgt_lang"]: (t["encoder"], t["decoder"]) for t in frame["plan"]["tasks"]}
    assert tasks == {f"{EN}-{DE}": (["encoder/0/eng_Latn"], ["decoder/0/deu_Latn"]),
                     f"{DE}-{EN}": (["encoder/0/deu_Latn"], ["decoder/0/eng_Latn"])}
    # one task per rank; each rank's stream position and RNG state are recorded
    assert sorted(sorted(r["data"]) for r in frame["ranks"].values()) == [[f"{DE}-{EN}"], [f"{EN}-{DE}"]]
    assert all(r["rng"]["cpu"] for r in frame["ranks"].values())
    # one file per module, each written once by its lowest holder
    assert sorted(p.name for p in (out / "checkpoint").iterdir()) == ["frame.json", "step-00000020"]  # older removed
    files = sorted(p.name for p in (out / "checkpoint" / frame["modules_dir"]).iterdir())
    assert files == sorted(m.replace("/", "__") + ".pt" for m in INDEPENDENT_MODULES)
    # the plan, meta-config and module inventory sit next to the checkpoint
    inventory = json.loads((out / "modules.json").read_text())
    assert sorted(inventory) == INDEPENDENT_MODULES
    assert inventory["embeddings/shared"]["holders"] == [0, 1]
    assert all(len(v["holders"]) == 1 for k, v in inventory.items() if k != "embeddings/shared")
    assert (out / "plan.yaml").exists() and (out / "meta_config.yaml").exists()

    rows = metrics(out)
    curve = losses(out)
    assert sorted(curve) == [5, 10, 15, 20]
    assert curve[20] < 0.9 * curve[5]  # it learns
    # loss per task on every log row; tokens/s and learning rate too
    assert all({f"loss.{EN}-{DE}", f"loss.{DE}-{EN}", "lr", "tgt_tokens_per_s"} <= set(r) for r in rows if "loss" in r)
    valid_steps = [r["step"] for r in rows if any(k.startswith("valid_loss.") for k in r)]
    assert valid_steps == [10, 20]
    keys = {k for r in rows for k in r if k.startswith("valid_")}
    assert keys == {f"valid_{m}.{d}" for m in ("loss", "bleu", "chrf") for d in (f"{EN}-{DE}", f"{DE}-{EN}")}

    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["steps"] == 20 and summary["resumed_from"] == 0
    assert summary["final_loss"] == pytest.approx(curve[20])
    assert summary["parameters"] == sum(v["parameters"] for v in inventory.values())
    assert summary["tgt_tokens"] > 0 and summary["bytes_all_reduced"] > 0
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


def test_a_resumed_run_follows_the_uninterrupted_one(tiny_pipeline: dict[str, str], resumed: tuple[Path, list[str]],
                                                     uninterrupted: Path) -> None:
    """Stopped at step 20 and resumed to 40, the run must match one that never stopped, step
    for step: only if the resume restored weights, optimizer state, data positions and RNG.
    (A fresh optimizer or a restarted data stream moves the curve by more than 1e-4.)"""
    one = by_step(uninterrupted)
    two = by_step(Path(tiny_pipeline["train"]), resumed[0])  # the resumed copy repeats steps ≤ 20
    assert sorted(one) == sorted(two) == [5, 10, 15, 20, 25, 30, 35, 40]
    for step, row in one.items():
        for key in (k for k in row if k.startswith(("loss", "valid_loss"))):
            assert two[step][key] == pytest.approx(row[key], rel=1e-5), (step, key)
    ranks = lambda frame: {r: s["data"] for r, s in frame["ranks"].items()}  # noqa: E731
    assert ranks(checkpoint.read_frame(resumed[0] / "checkpoint")) == ranks(
        checkpoint.read_frame(uninterrupted / "checkpoint"))


def test_full_sharing_replicates_one_direction_over_two_ranks(inputs: dict, tmp_path: Path) -> None:
    out = tmp_path / "full"
    launch(out, inputs["base"], corpus=inputs["corpus"], vocab=inputs["vocab"], directions=f"{EN}-{DE}", sharing="full",
           max_steps=4, log_every=2, valid_every=0, checkpoint_every=0)
    ckpt = out / "checkpoint"
    frame = checkpoint.read_frame(ckpt)
    assert sorted(p.name for p in (ckpt / frame["modules_dir"]).iterdir()) == [
        "decoder__0__full.pt", "embeddings__shared.pt", "encoder__0__full.pt"]
    # both ranks train the one direction (on different halves of its data)
    assert [s for r in frame["plan"]["ranks"] for s in r] == [
        {"task": f"{EN}-{DE}", "shard": 0, "num_shards": 2}, {"task": f"{EN}-{DE}", "shard": 1, "num_shards": 2}]
    # a fully shared decoder: the source starts with the target-language tag (Figure 2c)
    assert all(t["lang_prefix"] for t in frame["plan"]["tasks"])
    assert sorted(losses(out)) == [2, 4]
    assert json.loads((out / "train_summary.json").read_text())["steps"] == 4


def test_a_checkpoint_of_another_plan_is_refused_before_any_step(tiny_pipeline: dict[str, str], inputs: dict,
                                                                 tmp_path: Path) -> None:
    out = tmp_path / "train"
    shutil.copytree(tiny_pipeline["train"], out)
    before = (out / "metrics.jsonl").read_text()
    with pytest.raises(StageFailedError) as err:
        launch(out, **inputs, sharing="shared", max_steps=40)
    assert "was written by another plan" in str(err.value)
    assert (out / "metrics.jsonl").read_text() == before  # not one step ran


def test_a_world_size_the_plan_does_not_allocate_is_refused(inputs: dict, tmp_path: Path) -> None:
    job_file, _ = write_job(tmp_path / "out", **inputs)  # a plan for 2 ranks …
    with pytest.raises(StageFailedError) as err:
        run_torchrun(job_file, 1, echo=lambda line: None)  # … started on 1
    assert "plan allocates 2 ranks" in str(err.value) and "ConfigError" in str(err.value)
    assert not (tmp_path / "out" / "metrics.jsonl").exists()


def test_a_failing_run_raises_with_the_error_tail(inputs: dict, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-corpus"
    with pytest.raises(StageFailedError) as err:
        launch(tmp_path / "out", inputs["base"], corpus=str(missing), vocab=inputs["vocab"], nproc=1)
    message = str(err.value)
    assert "training exited with code" in message and "mtforge.train" in message
    # the rank's own error, not only torchrun's summary, reaches the caller
    assert "InputNotFoundError" in message and str(missing) in message
    assert not (tmp_path / "out" / "train_summary.json").exists()


def test_launch_refuses_a_multi_node_plan_under_torchrun(inputs: dict, tmp_path: Path) -> None:
    from mtforge.train.launcher import launch as launch_job

    job_file, _ = write_job(tmp_path / "out", **inputs, nnodes=2)
    job = TrainJob.model_validate_json(job_file.read_text())
    with pytest.raises(ConfigError, match="2 nodes"):
        launch_job(job, job_file)
