"""train-lid: a fastText LID model trained on the shared data, scored on held-out FLORES
devtest next to py3langid, then used as the LID backend of the lid stage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mtforge.corpus import CorpusWriter
from mtforge.stage import run_stage
from mtforge.stages.train_lid import EVALUATION_FILE, MODEL_FILE, REPORT_FILE

LANGS = ["eng_Latn", "deu_Latn", "fra_Latn", "scn_Latn"]


@pytest.fixture(scope="module")
def trained(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("train-lid")
    config = {"languages": LANGS, "max_per_language": 400, "compare_with": ["py3langid"]}
    stats = run_stage("train-lid", config, out_dir=str(out), data=str(shared_data))
    return {"out": out, "stats": stats}


def test_model_report_and_scores_next_to_py3langid(trained: dict) -> None:
    out, stats = trained["out"], trained["stats"]
    assert (out / MODEL_FILE).is_file()
    assert stats["languages"] == 4 and stats["test_sentences"] >= 4 * 1000
    assert stats["fasttext.accuracy"] > 0.95          # measured 0.98-0.99 with 400 sentences per language
    # py3langid cannot detect Sicilian: it loses those sentences on "all", not on "common".
    assert stats["py3langid.accuracy"] < 0.8 < stats["py3langid.common.accuracy"]
    report = (out / REPORT_FILE).read_text(encoding="utf-8")
    assert "py3langid cannot detect: scn_Latn" in report and "| scn_Latn |" in report
    assert set(json.loads((out / EVALUATION_FILE).read_text())) == {"fasttext (ours)", "py3langid"}


def test_the_trained_model_is_a_lid_backend(trained: dict, shared_data: Path, tmp_path: Path) -> None:
    scn = (shared_data / "flores200" / "devtest" / "scn_Latn.devtest").read_text(encoding="utf-8").splitlines()
    eng = (shared_data / "flores200" / "devtest" / "eng_Latn.devtest").read_text(encoding="utf-8").splitlines()
    with CorpusWriter(tmp_path / "in", kind="mono") as writer:
        writer.write([{"text": t, "lang": "scn_Latn"} for t in scn[:40] + eng[:10]])
    config = {"backend": "fasttext", "model_path": str(trained["out"] / MODEL_FILE)}
    stats = run_stage("lid", config, out_dir=str(tmp_path / "out"), corpus=str(tmp_path / "in"))
    assert stats["rows_out"] >= 38 and stats["excluded.lid_mismatch.scn_Latn"] >= 9
