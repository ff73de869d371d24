"""Remote training runs: staging a job in S3 (a real moto server), running it on a "pod" with
a real subprocess in torchrun's place, and fetching the output."""

from __future__ import annotations

import io
import json
import sys
import uuid
from pathlib import Path

import pytest
from minio import Minio

from mtforge.errors import ConfigError, InputNotFoundError, StageFailedError
from mtforge.train import launcher
from mtforge.train.config import TrainConfig
from mtforge.train.plan import MetaConfig, resolve_plan
from mtforge.train.remote import fetch_outputs, main, run_remote, stage_job
from mtforge.train.trainer import TrainJob

#: Stands in for torchrun: checks the job's inputs are local files with the staged bytes,
#: writes output the way the trainer does (this node's module file; rank 0's frame files),
#: or fails like a crashing trainer when the corpus holds FAIL.
FAKE_TRAINING = r"""
import json, os, pathlib, sys
job = json.loads(pathlib.Path(sys.argv[1]).read_text())
corpus, vocab, out = pathlib.Path(job["corpus"]), pathlib.Path(job["vocab"]), pathlib.Path(job["out_dir"])
node = os.environ.get("PET_NODE_RANK", "0")
print(f"node {node} training on {(corpus / 'part-0.tsv').read_text().strip()!r}", flush=True)
if "FAIL" in (corpus / "part-0.tsv").read_text():
    print("Traceback: boom", flush=True)
    sys.exit(3)
(out / "checkpoint").mkdir()
(out / "checkpoint" / f"module-node{node}.pt").write_bytes(vocab.read_bytes())
if node == "0":
    (out / "train_summary.json").write_text(json.dumps({"valid": pathlib.Path(job["valid"]).is_dir()}))
"""


@pytest.fixture
def fake_torchrun(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Run :data:`FAKE_TRAINING` instead of torchrun (through the real ``run_torchrun``);
    returns the ``(job file, nproc)`` calls."""
    calls = []

    def command(job_file, nproc):
        calls.append((str(job_file), nproc))
        return [sys.executable, "-c", FAKE_TRAINING, str(job_file)]

    monkeypatch.setattr(launcher, "torchrun_command", command)
    return calls


@pytest.fixture
def prefix(s3: Minio) -> str:
    bucket = f"runs-{uuid.uuid4().hex[:12]}"
    s3.make_bucket(bucket)
    return f"s3://{bucket}/train/run-1"


def local_job(root: Path, text: str = "Hallo\tHello", nodes: int = 1) -> TrainJob:
    """A job with a corpus dir, a vocab file, a valid dir and a plan whose two tasks share
    their (symmetric template) files; 3 processes per node."""
    (root / "corpus").mkdir(parents=True)
    (root / "corpus" / "part-0.tsv").write_text(text + "\n")
    (root / "corpus" / "manifest.json").write_text('{"rows": 1}')
    (root / "valid" / "sub").mkdir(parents=True)
    (root / "valid" / "sub" / "v.tsv").write_text("a\tb\n")
    (root / "spm.model").write_bytes(b"\x00spm-bytes\xff")
    (root / "deu-eng").mkdir()
    (root / "deu-eng" / "train.src").write_text("Hallo\n")
    (root / "deu-eng" / "train.trg").write_text("Hello\n")
    meta = MetaConfig(languages=["eng", "deu"], allocation={"nodes": nodes, "gpus_per_node": 3},
                      corpus={"mode": "symmetric", "src": "{sorted_pair}/train.{side_a}", "tgt": "{sorted_pair}/train.{side_b}"})
    return TrainJob(corpus=str(root / "corpus"), vocab=str(root / "spm.model"), valid=str(root / "valid"),
                    out_dir=str(root / "unused"), config=TrainConfig(), plan=resolve_plan(meta, base_dir=root))


def objects(s3: Minio, uri: str) -> dict[str, bytes]:
    """The objects under ``uri`` by key relative to it ("" for the object ``uri`` itself)."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return {o.object_name.removeprefix(key): s3.get_object(bucket, o.object_name).read()
            for o in s3.list_objects(bucket, prefix=key, recursive=True)}


def test_stage_job_uploads_the_inputs_and_points_the_job_at_them(s3, prefix, tmp_path):
    job = local_job(tmp_path / "local")
    job_uri = stage_job(job, prefix + "/")
    assert job_uri == f"{prefix}/job.json"
    staged = TrainJob.model_validate_json(objects(s3, job_uri)[""])
    assert staged.corpus == f"{prefix}/inputs/corpus/corpus"
    assert staged.vocab == f"{prefix}/inputs/vocab/spm.model"
    assert staged.valid == f"{prefix}/inputs/valid/valid"
    assert staged.out_dir == f"{prefix}/output"
    assert staged.config == job.config
    en_de, de_en = staged.plan.task("en-de"), staged.plan.task("de-en")
    assert en_de.src_path == de_en.tgt_path and en_de.tgt_path == de_en.src_path  # uploaded once, shared
    assert {en_de.src_path, en_de.tgt_path} <= {f"{prefix}/inputs/tasks/{t}/{side}/train.{ab}"
                                                for t in (en_de.name, de_en.name) for side in ("src", "tgt") for ab in ("src", "trg")}
    assert staged.plan.model_copy(update={"tasks": job.plan.tasks}) == job.plan
    stored = objects(s3, prefix + "/inputs/")
    assert {k: v for k, v in stored.items() if not k.startswith("tasks/")} == {
        "corpus/corpus/part-0.tsv": b"Hallo\tHello\n", "corpus/corpus/manifest.json": b'{"rows": 1}',
        "vocab/spm.model": b"\x00spm-bytes\xff", "valid/valid/sub/v.tsv": b"a\tb\n"}
    assert sorted(v for k, v in stored.items() if k.startswith("tasks/")) == [b"Hallo\n", b"Hello\n"]


def test_inputs_already_in_s3_are_not_uploaded_again(s3, prefix, tmp_path):
    job = local_job(tmp_path / "local").model_copy(update={"valid": "s3://elsewhere/valid"})
    staged = TrainJob.model_validate_json(objects(s3, stage_job(job, prefix))[""])
    assert staged.valid == "s3://elsewhere/valid"
    assert not any(k.startswith("valid/") for k in objects(s3, prefix + "/inputs/"))


def test_stage_job_names_a_missing_input(s3, prefix, tmp_path):
    job = local_job(tmp_path / "local").model_copy(update={"vocab": str(tmp_path / "nope.model")})
    with pytest.raises(InputNotFoundError, match=r"training input vocab .*nope\.model"):
        stage_job(job, prefix)


def test_round_trip_stage_run_fetch(s3, prefix, tmp_path, fake_torchrun, monkeypatch):
    monkeypatch.delenv("PET_NODE_RANK", raising=False)
    monkeypatch.delenv("PET_NNODES", raising=False)
    job_uri = stage_job(local_job(tmp_path / "local"), prefix)
    run_remote(job_uri, tmp_path / "pod")
    ((job_file, nproc),) = fake_torchrun
    assert nproc == 3
    ran = TrainJob.model_validate_json(Path(job_file).read_text())
    assert Path(ran.corpus).is_relative_to(tmp_path / "pod") and ran.out_dir == str(tmp_path / "pod" / "output")
    en_de = ran.plan.task("en-de")
    assert Path(en_de.src_path).is_relative_to(tmp_path / "pod")
    assert Path(en_de.src_path).read_text() + Path(en_de.tgt_path).read_text() == "Hello\nHallo\n"

    fetch_outputs(prefix, tmp_path / "result")
    files = {p.relative_to(tmp_path / "result").as_posix() for p in (tmp_path / "result").rglob("*") if p.is_file()}
    assert files == {"checkpoint/module-node0.pt", "train_summary.json"}
    assert (tmp_path / "result" / "checkpoint" / "module-node0.pt").read_bytes() == b"\x00spm-bytes\xff"
    assert json.loads((tmp_path / "result" / "train_summary.json").read_text()) == {"valid": True}


def test_failed_training_uploads_nothing_and_the_pod_exits_nonzero(s3, prefix, tmp_path, fake_torchrun, capsys):
    job_uri = stage_job(local_job(tmp_path / "local", text="FAIL"), prefix)
    assert main([job_uri, "--workdir", str(tmp_path / "pod")]) == 1
    err = capsys.readouterr().err
    assert "training exited with code 3" in err and "Traceback: boom" in err
    assert not objects(s3, prefix + "/output/") and not objects(s3, prefix + "/nodes/")
    with pytest.raises(InputNotFoundError, match="output"):
        fetch_outputs(prefix, tmp_path / "result")


def test_every_node_uploads_its_part_and_node_0_waits_for_the_others(s3, prefix, tmp_path, fake_torchrun, monkeypatch):
    job_uri = stage_job(local_job(tmp_path / "local", nodes=2), prefix)
    monkeypatch.setenv("PET_NNODES", "2")
    monkeypatch.setenv("PET_NODE_RANK", "0")
    with pytest.raises(StageFailedError, match=r"node\(s\) \[1\] did not upload"):
        run_remote(job_uri, tmp_path / "pod0-early", node_wait_s=0.2)

    monkeypatch.setenv("PET_NODE_RANK", "1")
    run_remote(job_uri, tmp_path / "pod1")
    monkeypatch.setenv("PET_NODE_RANK", "0")
    run_remote(job_uri, tmp_path / "pod0", node_wait_s=0.2)
    fetch_outputs(prefix, tmp_path / "result")
    assert sorted(p.name for p in (tmp_path / "result" / "checkpoint").iterdir()) == ["module-node0.pt", "module-node1.pt"]


def test_remote_job_errors_name_the_uri(s3, prefix, tmp_path, monkeypatch):
    with pytest.raises(InputNotFoundError, match="job.json does not exist"):
        run_remote(f"{prefix}/job.json", tmp_path)
    monkeypatch.setenv("PET_NNODES", "2")
    with pytest.raises(ConfigError, match=r"runs on 2 node\(s\) \(PET_NNODES\) but its plan allocates 1"):
        run_remote(stage_job(local_job(tmp_path / "staged"), prefix), tmp_path / "pod")
    monkeypatch.delenv("PET_NNODES")
    job = local_job(tmp_path / "local")
    bucket, _, key = prefix.removeprefix("s3://").partition("/")
    data = job.model_dump_json().encode()
    s3.put_object(bucket, f"{key}/local.json", io.BytesIO(data), len(data))
    with pytest.raises(ConfigError, match="out_dir .* must be an s3:// URI"):
        run_remote(f"{prefix}/local.json", tmp_path / "pod")


@pytest.mark.slow
def test_real_torchrun_training_round_trip(s3, prefix, tiny_corpora, tiny_spm, tiny_train_config, tmp_path, monkeypatch):
    from mtforge.stages.spm import MODEL_FILE
    from mtforge.train.planning import plan_training

    monkeypatch.delenv("PET_NODE_RANK", raising=False)
    monkeypatch.delenv("PET_NNODES", raising=False)
    config = TrainConfig(**{**tiny_train_config, "max_steps": 4, "valid_every": 0, "checkpoint_every": 0})
    _, plan = plan_training(config, str(tiny_corpora["train"]))
    job = TrainJob(corpus=str(tiny_corpora["train"]), vocab=str(Path(tiny_spm) / MODEL_FILE),
                   valid=str(tiny_corpora["valid"]), out_dir="unused", config=config, plan=plan)
    run_remote(stage_job(job, prefix), tmp_path / "pod")
    fetch_outputs(prefix, tmp_path / "result")
    summary = json.loads((tmp_path / "result" / "train_summary.json").read_text())
    assert summary["steps"] == 4
    assert (tmp_path / "result" / "checkpoint").is_dir() and (tmp_path / "result" / "metrics.jsonl").is_file()
