"""The distillation stages as pipeline tasks run them: sample → (the real translate stage with the
toy model as teacher) → filter → report, and their errors. The toy model translates toy English
word lists into German perfectly, so what the filter drops is what the checks say."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mtforge.corpus import Corpus, CorpusWriter
from mtforge.distill.filter import REASONS
from mtforge.errors import ConfigError, InputNotFoundError
from mtforge.stage import read_stage_record, run_stage
from tests.conftest import DE, EN, TOY_CHECK, toy_translation

LINES, COUNT = 40, 60
DIRECTION = f"{EN}-{DE}"


@pytest.fixture(scope="module")
def toy_dir(toy_model) -> str:
    """The toy model's folder: a train-like output (checkpoint/) and an spm-like one (spm.model)."""
    return str(toy_model.ckpt.parent)


@pytest.fixture(scope="module")
def sampled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """distill-sample's output on ``toy.en``: 40 toy sentences and an empty line."""
    root = tmp_path_factory.mktemp("distill")
    (root / "toy.en").write_text("".join(f"{s}\n" for s in TOY_CHECK[:20]) + "\n" +
                                 "".join(f"{s}\n" for s in TOY_CHECK[20:LINES]), encoding="utf-8")
    run_stage("distill-sample", {"directions": "en-de", "count": COUNT, "seed": 7}, out_dir=str(root / "sampled"),
              source=str(root / "toy.en"))
    return root / "sampled"


@pytest.fixture(scope="module")
def translated(sampled: Path, toy_dir: str) -> Path:
    out = sampled.parent / "translated"
    run_stage("translate", {"beam_size": 2, "batch_sentences": 16}, out_dir=str(out), model=toy_dir, vocab=toy_dir,
              corpus=str(sampled))
    return out


@pytest.fixture(scope="module")
def filtered(translated: Path, toy_dir: str) -> Path:
    out = translated.parent / "filtered"
    run_stage("distill-filter", {"qe": "cosine", "qe_percentile": 10}, out_dir=str(out), corpus=str(translated),
              model=toy_dir, vocab=toy_dir)
    return out


def test_sample_writes_sources_to_translate_with_provenance(sampled: Path) -> None:
    rows = Corpus.open(sampled).to_table().to_pylist()
    assert len(rows) == COUNT
    assert {(r["src_lang"], r["tgt_lang"], r["tgt"]) for r in rows} == {(EN, DE, "")}
    lines = {f"toy.en:{i + 1 + (i >= 20)}": s for i, s in enumerate(TOY_CHECK[:LINES])}
    assert all(lines[r["origin"]] == r["src"] for r in rows)
    stats = read_stage_record(str(sampled))["stats"]
    assert stats["rows"] == stats[f"sampled.{EN}"] == COUNT
    assert stats[f"available.{EN}"] == LINES and stats[f"excluded.{EN}"] == 1
    assert stats[f"unique.{EN}"] == len({r["origin"] for r in rows}) < LINES
    excluded = pq.read_table(sampled / "exclusions.parquet").to_pylist()
    assert [(e["origin"], e["reason"], e["lang"]) for e in excluded] == [("toy.en:21", "empty", EN)]
    report = json.loads((sampled / "sample.json").read_text())
    assert report["languages"][EN]["parts"] == ["toy.eng_Latn.00000"]
    assert report["languages"][EN]["excluded"] == {"empty": 1}


def test_the_translate_stage_fills_in_the_teacher_translations(sampled: Path, translated: Path) -> None:
    rows = Corpus.open(translated).to_table().to_pylist()
    source = Corpus.open(sampled).to_table().to_pylist()
    assert [(r["src"], r["origin"]) for r in rows] == [(r["src"], r["origin"]) for r in source]
    assert all(r["tgt"] == toy_translation(r["src"]) for r in rows)


def test_filter_keeps_german_well_scored_pairs_and_records_the_others(translated: Path, filtered: Path) -> None:
    stats = read_stage_record(str(filtered))["stats"]
    assert stats["rows_in"] == COUNT == stats["rows_out"] + sum(stats[f"dropped_{r}"] for r in REASONS)
    assert stats["dropped_empty"] == stats["dropped_length_ratio"] == 0
    assert 0 < stats["dropped_low_qe"] <= 0.15 * COUNT
    kept = Corpus.open(filtered).to_table().to_pylist()
    assert len(kept) == stats["rows_out"] == stats[f"kept.{DIRECTION}"]
    assert all(r["score"] is not None and r["score"] >= stats[f"qe_cut.{DIRECTION}"] - 1e-6 for r in kept)
    excluded = pq.read_table(filtered / "exclusions.parquet").to_pylist()
    assert {e["reason"] for e in excluded} <= set(REASONS)
    assert all(e["reason_score"] < stats[f"qe_cut.{DIRECTION}"] for e in excluded if e["reason"] == "low_qe")
    assert {e["origin"] for e in excluded} | {r["origin"] for r in kept} == \
        {r["origin"] for r in Corpus.open(translated).iter_rows()}
    report = json.loads((filtered / "filter.json").read_text())
    assert report["qe"] == "cosine" and report["directions"][DIRECTION]["kept"] == len(kept)
    markdown = (filtered / "report.md").read_text()
    assert "◀ cut" in markdown and f"### {DIRECTION}" in markdown


def test_report_compares_student_and_teacher(toy_dir: str, tmp_path: Path) -> None:
    testset = tmp_path / "toy"
    testset.mkdir()
    (testset / "test.en").write_text("".join(f"{s}\n" for s in TOY_CHECK[40:52]), encoding="utf-8")
    (testset / "test.de").write_text("".join(f"{toy_translation(s)}\n" for s in TOY_CHECK[40:52]), encoding="utf-8")
    evaluation = str(tmp_path / "evaluation")
    run_stage("evaluate", {"testsets": f"toy={testset}#test", "directions": DIRECTION, "beam_size": 2},
              out_dir=evaluation, model=toy_dir, vocab=toy_dir)
    out = tmp_path / "report"
    stats = run_stage("distill-report", {"speed_sentences": 12, "beam_size": 2}, out_dir=str(out), teacher=toy_dir,
                      teacher_vocab=toy_dir, student=toy_dir, student_vocab=toy_dir, teacher_evaluation=evaluation,
                      student_evaluation=evaluation)
    assert stats[f"teacher.bleu.{DIRECTION}.toy"] == stats[f"student.bleu.{DIRECTION}.toy"] == 100.0
    assert stats[f"delta.chrf.{DIRECTION}.toy"] == 0.0
    assert stats[f"teacher.parameters.{DIRECTION}"] == stats[f"student.parameters.{DIRECTION}"] > 10_000
    assert stats[f"parameter_ratio.{DIRECTION}"] == 1.0
    assert stats[f"teacher.sentences_per_s.{DIRECTION}"] > 0 and stats[f"speedup.{DIRECTION}"] > 0
    assert stats[f"teacher.output_words.{DIRECTION}"] == stats[f"student.output_words.{DIRECTION}"] > 1
    comparison = json.loads((out / "distill.json").read_text())
    assert comparison["directions"][DIRECTION]["speed_sentences"] == 12
    assert comparison["settings"] == {"beam_size": 2, "batch_sentences": 64, "threads": 1}
    markdown = (out / "report.md").read_text()
    assert "| toy | eng_Latn-deu_Latn | BLEU | 100.00 | 100.00 | +0.00 |" in markdown
    assert "speed-up" in markdown


def test_round_trip_qe_translates_back_with_the_teacher(tiny_pipeline: dict[str, str], tmp_path: Path) -> None:
    """The tiny pipeline's model (both directions, barely trained) as the teacher of the round trip."""
    with CorpusWriter(tmp_path / "pairs") as writer:
        writer.write([{"src": "A dog runs.", "tgt": "Ein Hund rennt.", "src_lang": EN, "tgt_lang": DE},
                      {"src": "Two men talk.", "tgt": "Zwei Männer reden.", "src_lang": EN, "tgt_lang": DE}])
    stats = run_stage("distill-filter", {"qe": "chrf-roundtrip", "lid_backend": "none", "back_beam_size": 1},
                      out_dir=str(tmp_path / "out"), corpus=str(tmp_path / "pairs"), model=tiny_pipeline["train"],
                      vocab=tiny_pipeline["spm"])
    assert stats["rows_out"] == 2
    scores = [r["score"] for r in Corpus.open(tmp_path / "out").iter_rows()]
    assert all(0.0 <= s <= 1.0 for s in scores)


@pytest.fixture
def pairs(tmp_path: Path) -> Path:
    with CorpusWriter(tmp_path / "pairs") as writer:
        writer.write([{"src": s, "tgt": toy_translation(s), "src_lang": EN, "tgt_lang": DE} for s in TOY_CHECK[:6]])
    return tmp_path / "pairs"


def test_filter_errors_name_the_key(pairs: Path, toy_dir: str, tmp_path: Path) -> None:
    out = str(tmp_path / "out")
    with pytest.raises(ConfigError, match="config key 'qe' \\('comet'\\): unknown QE spec 'comet'; valid: auto, cosine"):
        run_stage("distill-filter", {"qe": "comet"}, out_dir=out, corpus=str(pairs))
    with pytest.raises(ConfigError, match=re.escape(f"round trip needs the teacher {toy_dir} to translate {DE}-{EN}")):
        run_stage("distill-filter", {"qe": "chrf-roundtrip"}, out_dir=out, corpus=str(pairs), model=toy_dir,
                  vocab=toy_dir)
    with pytest.raises(ConfigError, match="qe_threshold or qe_percentile, not both"):
        run_stage("distill-filter", {"qe_threshold": 0.5, "qe_percentile": 5}, out_dir=out, corpus=str(pairs))
    with pytest.raises(ConfigError, match="kept none of the 6 .*dropped_low_qe=6.*loosen the filters"):
        run_stage("distill-filter", {"lid_backend": "none", "qe_threshold": 1.5}, out_dir=out, corpus=str(pairs))
    assert "low_qe" in (tmp_path / "out" / "report.md").read_text()


def test_sample_and_report_errors_name_the_input(toy_dir: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="mono source is empty"):
        run_stage("distill-sample", {}, out_dir=str(tmp_path / "s"), source="")
    (tmp_path / "mono.en").write_text("a cat\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="counts names deu_Latn, not a source language"):
        run_stage("distill-sample", {"counts": {"de": 5}}, out_dir=str(tmp_path / "s"),
                  source=str(tmp_path / "mono.en"))
    empty = tmp_path / "no-model"
    empty.mkdir()
    with pytest.raises(InputNotFoundError, match=re.escape(f"teacher_model '{empty}' has no complete checkpoint")):
        run_stage("distill-report", {}, out_dir=str(tmp_path / "r"), teacher=str(empty), teacher_vocab=toy_dir,
                  student=toy_dir, student_vocab=toy_dir, teacher_evaluation="", student_evaluation="")
    with pytest.raises(InputNotFoundError, match=re.escape(f"student_vocab '{empty}' has no spm.model")):
        run_stage("distill-report", {}, out_dir=str(tmp_path / "r"), teacher=toy_dir, teacher_vocab=toy_dir,
                  student=toy_dir, student_vocab=str(empty), teacher_evaluation="", student_evaluation="")
