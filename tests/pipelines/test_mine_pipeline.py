"""The mine pipeline runs for real with kfp.local: parts embedded in parallel tasks, one index
per side, margin mining, an MLflow run; re-runs reuse every part whose text did not change."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from mtforge.corpus import Corpus
from mtforge.tracking import tracking_uri
from pipelines.runner import RunReport, resolve_params, run_pipeline


def run(home: Path, monkeypatch: pytest.MonkeyPatch, *sets: str) -> RunReport:
    monkeypatch.setenv("MTFORGE_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return run_pipeline("mine", resolve_params("mine", None, list(sets)), home, echo=lambda line: None)


def count(report: RunReport, prefix: str, status: str) -> int:
    return sum(t.status == status and t.name.startswith(prefix) for t in report.tasks.values())


def status(report: RunReport, name: str) -> str:
    return next(t.status for t in report.tasks.values() if t.name == name)


def test_mine_pipeline_mines_flores_and_reuses_unchanged_parts(shared_data: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "flores"
    source.mkdir()
    for lang in ("deu_Latn", "eng_Latn"):
        lines = (shared_data / "flores200" / "dev" / f"{lang}.dev").read_text(encoding="utf-8").splitlines()[:60]
        (source / f"{lang}.dev").write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    sets = [f"src_source={source}", "src_lang=de", "tgt_lang=en", "shard_rows=30"]
    first = run(tmp_path / "home", monkeypatch, *sets)
    assert count(first, "embed-src", "executed") == 2 and count(first, "embed-tgt", "executed") == 2
    logged = MlflowClient(tracking_uri()).get_run(first.output).data
    assert logged.metrics["mine.src_sentences"] == logged.metrics["mine.tgt_sentences"] == 60
    assert logged.metrics["mine.mined"] >= 55
    mined = Corpus.open(Path(logged.tags["mtforge.output"]) / "corpus").to_table().to_pylist()
    assert sum(r["origin"].split("|")[0].split(":")[1] == r["origin"].split("|")[1].split(":")[1] for r in mined) \
        == len(mined)

    again = run(tmp_path / "home", monkeypatch, *sets)
    assert count(again, "embed", "executed") == 0 and status(again, "mine") == "cached"

    with open(source / "eng_Latn.dev", "a", encoding="utf-8") as f:
        f.write("An extra English sentence without a German translation.\n")
    changed = run(tmp_path / "home", monkeypatch, *sets)
    assert count(changed, "embed-src", "cached") == 2
    assert count(changed, "embed-tgt", "executed") == 3         # 61 lines: three parts, all new
    assert status(changed, "mine") == "executed"
