"""The distill pipeline runs for real with kfp.local: the toy model (tests/conftest.py) is the
teacher, toy English word lists the monolingual source; a tiny student is trained on the
filtered teacher output, both are evaluated, compared and logged to MLflow. A second run with
another student size reuses everything up to the student's training (about two minutes in all)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from mtforge.corpus import Corpus
from mtforge.errors import ConfigError, InputNotFoundError
from mtforge.tracking import tracking_uri
from pipelines.runner import RunReport, resolve_params
from tests.conftest import DE, EN, TOY_CHECK, run_local_pipeline, toy_translation

DIRECTION = f"{EN}-{DE}"
STEPS = {"teacher-model", "teacher-vocab", "distill-sample", "teacher-translate", "distill-filter", "ingest-valid",
         "spm", "train-student", "evaluate-student", "evaluate-teacher", "distill-report", "track"}
STUDENT = {"train-student", "evaluate-student", "distill-report", "track"}
#: Importers are never cached (they only name the artifact; its fingerprint keys what reads it).
IMPORTERS = {"teacher-model", "teacher-vocab"}


@pytest.fixture(scope="module")
def toy_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``mono/toy.en`` (80 toy sentences) and ``toy/{val,test}.{en,de}`` (20 each)."""
    root = tmp_path_factory.mktemp("distill-data")
    (root / "mono").mkdir()
    (root / "toy").mkdir()
    (root / "mono" / "toy.en").write_text("".join(f"{s}\n" for s in TOY_CHECK[:80]), encoding="utf-8")
    for split, lines in (("val", TOY_CHECK[80:100]), ("test", TOY_CHECK[100:120])):
        (root / "toy" / f"{split}.en").write_text("".join(f"{s}\n" for s in lines), encoding="utf-8")
        (root / "toy" / f"{split}.de").write_text("".join(f"{toy_translation(s)}\n" for s in lines), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def sets(toy_data: Path, toy_model) -> list[str]:
    teacher = str(toy_model.ckpt.parent)
    return [f"mono_source={toy_data / 'mono' / 'toy.en'}", f"teacher_model={teacher}", f"teacher_vocab={teacher}",
            "sample_count=150", "beam_size=2", "qe_percentile=5", "vocab_size=48", "d_model=32", "ffn_dim=64",
            "encoder_layers=1", "decoder_layers=1", "max_steps=12", "batch_tokens=600", "warmup_steps=4",
            "nproc=1", f"valid_data={toy_data / 'toy'}", f"testsets=toy={toy_data / 'toy'}#test",
            f"testsets_root={toy_data}", "speed_sentences=20", "experiment=mtforge-distill-test",
            "run_name=distill-test"]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("distill-home")


def run(home: Path, sets: list[str]) -> RunReport:
    return run_local_pipeline("distill", home, sets)


@pytest.fixture(scope="module")
def first(home: Path, sets: list[str]) -> RunReport:
    return run(home, sets)


def test_distill_runs_end_to_end_and_logs_the_comparison(first: RunReport, home: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    assert set(first.executed) == STEPS and not first.cached
    monkeypatch.setenv("MTFORGE_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    run = MlflowClient(tracking_uri()).get_run(first.output)
    metrics = run.data.metrics
    assert metrics["distill-sample.rows"] == 150
    assert metrics["distill-filter.rows_in"] == 150 > metrics["distill-filter.rows_out"] >= 120
    assert metrics["distill-filter.dropped_low_qe"] > 0
    # The teacher is perfect on the toy test set; the student's scores are logged next to it.
    assert metrics[f"distill-report.teacher.bleu.{DIRECTION}.toy"] == 100.0
    assert metrics[f"distill-report.student.bleu.{DIRECTION}.toy"] == metrics[f"bleu.{DIRECTION}.toy"]
    assert metrics[f"distill-report.student.parameters.{DIRECTION}"] < \
        metrics[f"distill-report.teacher.parameters.{DIRECTION}"]
    assert metrics[f"distill-report.speedup.{DIRECTION}"] > 0
    report = Path(run.data.tags["mtforge.output"])
    comparison = json.loads((report / "distill.json").read_text())
    assert comparison["directions"][DIRECTION]["speed_sentences"] == 20
    artifacts = {a.path for a in MlflowClient(tracking_uri()).list_artifacts(first.output, "reports")}
    assert {"reports/distill-filter", "reports/distill-report"} <= artifacts
    filtered = Corpus.open(next(home.glob("kfp/outputs/distill-*/distill-filter/filtered")))
    assert filtered.rows == metrics["distill-filter.rows_out"]
    assert all(r["tgt"] == toy_translation(r["src"]) for r in filtered.iter_rows())


def test_a_new_student_size_reuses_the_teacher_work(first: RunReport, home: Path, sets: list[str]) -> None:
    again = run(home, [*sets, "d_model=16"])
    assert set(again.executed) == STUDENT | IMPORTERS
    assert set(again.cached) == STEPS - STUDENT - IMPORTERS


def test_bad_parameters_are_named_before_anything_runs(sets: list[str], tmp_path: Path) -> None:
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    with pytest.raises(InputNotFoundError, match="teacher_model .*not-a-model.* has no complete checkpoint"):
        resolve_params("distill", None, [*sets, f"teacher_model={empty}"])
    with pytest.raises(ConfigError, match="teacher_model is empty"):
        resolve_params("distill", None, [s for s in sets if not s.startswith("teacher_model=")])
    with pytest.raises(ConfigError, match="mono source is empty"):
        resolve_params("distill", None, [*sets, "mono_source="])
