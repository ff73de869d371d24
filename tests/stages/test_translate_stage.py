"""The translate stage: every direction of the test corpus, in corpus order, to text and corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mtforge.corpus import Corpus, CorpusWriter
from mtforge.errors import ConfigError
from mtforge.stage import read_stage_record, run_stage
from mtforge.stages.translate import group_by_direction

EN, DE = "eng_Latn", "deu_Latn"


def test_pipeline_translations_cover_every_row_in_order(tiny_pipeline: dict[str, str]) -> None:
    out = Path(tiny_pipeline["translate"])
    test_rows = list(Corpus.open(tiny_pipeline["corpus.test"]).iter_rows())
    translated = Corpus.open(out / "corpus", verify=True)
    rows = list(translated.iter_rows())
    # grouped by direction (first-seen order), corpus order within each direction
    expected = [r for d in ((EN, DE), (DE, EN)) for r in test_rows if (r["src_lang"], r["tgt_lang"]) == d]
    assert [(r["src"], r["origin"], r["src_lang"], r["tgt_lang"]) for r in rows] == [
        (r["src"], r["origin"], r["src_lang"], r["tgt_lang"]) for r in expected]
    for src, tgt in ((EN, DE), (DE, EN)):
        lines = (out / f"{src}-{tgt}.txt").read_text(encoding="utf-8").split("\n")
        assert lines[-1] == "" and len(lines) == 7  # 6 lines, each newline-terminated
        assert lines[:-1] == [r["tgt"] for r in rows if (r["src_lang"], r["tgt_lang"]) == (src, tgt)]
    assert all(r["score"] is None for r in rows)
    assert any(r["tgt"] for r in rows)  # the model produces text, not only empty lines
    assert all(r["tgt"] != r["src"] for r in rows)
    record = read_stage_record(str(out))
    assert record["config"] == {"beam_size": 2, "batch_sentences": 4}
    inventory = json.loads((Path(tiny_pipeline["train"]) / "modules.json").read_text())
    loaded = {d: sum(v["parameters"] for v in inventory.values() if d in v["tasks"]) for d in (f"{EN}-{DE}", f"{DE}-{EN}")}
    assert record["stats"] == {f"sentences.{EN}-{DE}": 6.0, f"sentences.{DE}-{EN}": 6.0,
                               **{f"parameters_loaded.{d}": float(n) for d, n in loaded.items()}}
    assert loaded[f"{EN}-{DE}"] < sum(v["parameters"] for v in inventory.values())  # only its own modules


def test_translations_match_the_translator_for_the_toy_model(toy_model, tmp_path: Path, torch_one_thread) -> None:
    """The stage reads ``<model>/checkpoint`` and ``<vocab>/spm.model``; with a model that
    translates exactly, each output row is the translation of its own source row."""
    import shutil

    model_dir, vocab_dir = tmp_path / "train", tmp_path / "spm"
    shutil.copytree(toy_model.ckpt, model_dir / "checkpoint")
    vocab_dir.mkdir()
    shutil.copy(toy_model.vocab.path, vocab_dir / "spm.model")
    sentences = toy_model.sentences[:10]
    with CorpusWriter(tmp_path / "test") as writer:
        writer.write([{"src": s, "tgt": "?", "src_lang": EN, "tgt_lang": DE, "origin": f"toy:{i}"}
                      for i, s in enumerate(sentences)])
    stats = run_stage("translate", {"beam_size": 3, "batch_sentences": 3}, out_dir=str(tmp_path / "out"),
                      model=str(model_dir), vocab=str(vocab_dir), corpus=str(tmp_path / "test"))
    assert stats[f"sentences.{EN}-{DE}"] == 10.0
    rows = list(Corpus.open(tmp_path / "out" / "corpus").iter_rows())
    assert [(r["origin"], r["tgt"]) for r in rows] == [(f"toy:{i}", toy_model.translation(s))
                                                       for i, s in enumerate(sentences)]
    assert (tmp_path / "out" / f"{EN}-{DE}.txt").read_text() == "".join(
        toy_model.translation(s) + "\n" for s in sentences)


def test_group_by_direction_keeps_corpus_order(tmp_path: Path) -> None:
    rows = [("a", EN, DE), ("b", DE, EN), ("c", EN, DE), ("d", DE, EN), ("e", EN, DE)]
    with CorpusWriter(tmp_path / "c") as writer:
        writer.write([{"src": s, "tgt": "", "src_lang": sl, "tgt_lang": tl, "origin": f"o{s}"} for s, sl, tl in rows])
    groups = group_by_direction(Corpus.open(tmp_path / "c"))
    assert groups == {(EN, DE): (["a", "c", "e"], ["oa", "oc", "oe"]), (DE, EN): (["b", "d"], ["ob", "od"])}


def test_unknown_config_key_lists_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'beam'.*valid keys: batch_sentences, beam_size"):
        run_stage("translate", {"beam": 5}, out_dir=str(tmp_path), model="m", vocab="v", corpus="c")
