"""`mtforge xsim` and `mtforge mine-eval` on a small copy of the shared-data layout: tables
written, every number logged to MLflow."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from mtforge.cli import main
from mtforge.tracking import tracking_uri

N = 30


@pytest.fixture(scope="module")
def small_shared(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first lines of every file the evaluations read, in the shared-data layout."""
    root = tmp_path_factory.mktemp("shared")
    files = {f"tatoeba_laser/tatoeba.{lang}-eng.{side}": N * (1 if lang == "deu" else 2) for lang in ("deu", "fra", "spa")
             for side in (lang, "eng")}
    files.update({f"flores200/{split}/{lang}.{split}": N for split in ("dev", "devtest")
                  for lang in ("deu_Latn", "fra_Latn", "eng_Latn")})
    files.update({f"multi30k/val.{lang}": N for lang in ("de", "en")})
    files.update({"oldi_seed/eng_Latn": 3 * N})
    for relative, lines in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        text = (shared_data / relative).read_text(encoding="utf-8").splitlines()[:lines]
        (root / relative).write_text("".join(f"{line}\n" for line in text), encoding="utf-8")
    return root


def test_xsim_writes_the_table_and_logs_each_language(small_shared: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["xsim", "--data", str(small_shared), "--out", str(tmp_path), "--cache", str(tmp_path / "c")]) == 0
    assert "| deu | yes | 30 |" in (tmp_path / "xsim.md").read_text()
    run_id = capsys.readouterr().out.split("MLflow run ")[1].split()[0]
    metrics = MlflowClient(tracking_uri()).get_run(run_id).data.metrics
    assert {"xsim.deu.margin", "xsim.fra.cosine", "xsim.mean_covered.margin"} <= set(metrics)
    assert 0 <= metrics["xsim.deu.margin"] <= 20


def test_mine_eval_calibrates_then_scores_held_out_sets(small_shared: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    args = ["mine-eval", "--data", str(small_shared), "--out", str(tmp_path), "--ratio", "2", "--calibrate", "deu",
            "--calibrate-multi30k", "de", "--tatoeba-langs", "deu", "--flores-langs", "fra"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "thresholds calibrated on FLORES-200 dev + Multi30k val: ratio=" in out
    table = (tmp_path / "recovery.md").read_text()
    for testset in ("tatoeba", "tatoeba_unpaired50", "tatoeba_in_domain", "flores200_devtest"):
        assert f"| {testset} |" in table
    metrics = MlflowClient(tracking_uri()).get_run(out.split("MLflow run ")[1].split()[0]).data.metrics
    assert metrics["f1.flores200_devtest.fra_Latn.ratio"] > 0.9
    assert {"threshold.ratio", "precision.tatoeba.deu.distance", "recall.tatoeba.deu.absolute"} <= set(metrics)


def test_a_missing_data_folder_is_a_clear_error(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("MTFORGE_SHARED_DATA", raising=False)
    assert main(["mine-eval", "--no-track"]) == 2
    assert "--data or MTFORGE_SHARED_DATA" in capsys.readouterr().err
