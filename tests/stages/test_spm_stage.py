"""The spm stage: a joint SentencePiece model with a tag per language, and the stage record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mtforge.corpus import Corpus, CorpusWriter
from mtforge.errors import ConfigError
from mtforge.stage import read_stage_record, run_stage
from mtforge.stages.spm import MODEL_FILE, unique_sentences
from mtforge.vocab import EOS, PAD, Vocab, lang_tag


def test_tiny_pipeline_vocab_has_both_tags_and_a_stage_record(tiny_spm: str) -> None:
    out = Path(tiny_spm)
    vocab = Vocab(out / MODEL_FILE)
    assert len(vocab) == 300
    for lang in ("eng_Latn", "deu_Latn"):
        tag = vocab.tag_id(lang)
        assert vocab.sp.id_to_piece(tag) == lang_tag(lang)
    record = read_stage_record(str(out))
    assert record["stage"] == "spm" and record["version"] == "1"
    assert record["config"] == {"vocab_size": 300, "model_type": "unigram", "character_coverage": 1.0,
                                "max_sentences": 2_000_000}
    assert record["stats"] == {"vocab_size": 300.0, "languages": 2.0}


def write_corpus(path: Path, rows: list[tuple[str, str, str, str]]) -> str:
    with CorpusWriter(path) as writer:
        writer.write([{"src": s, "tgt": t, "src_lang": sl, "tgt_lang": tl} for s, t, sl, tl in rows])
    return str(path)


@pytest.fixture
def three_language_corpus(tmp_path: Path, shared_data: Path) -> str:
    lines = {ext: (shared_data / "multi30k" / f"train.{ext}").read_text(encoding="utf-8").splitlines()[:150]
             for ext in ("en", "de", "fr")}
    rows = [(e, d, "eng_Latn", "deu_Latn") for e, d in zip(lines["en"], lines["de"])]
    rows += [(f, e, "fra_Latn", "eng_Latn") for f, e in zip(lines["fr"], lines["en"])]
    return write_corpus(tmp_path / "corpus", rows)


def test_every_language_of_the_corpus_gets_a_single_piece_tag(three_language_corpus: str, tmp_path: Path) -> None:
    stats = run_stage("spm", {"vocab_size": 250, "model_type": "bpe"}, out_dir=str(tmp_path / "spm"),
                      corpus=three_language_corpus)
    assert stats == {"vocab_size": 250.0, "languages": 3.0}
    vocab = Vocab(tmp_path / "spm" / MODEL_FILE)
    assert len(vocab) == 250
    assert [vocab.sp.id_to_piece(i) for i in range(4)] == ["<pad>", "<unk>", "<s>", "</s>"]
    tags = {lang: vocab.tag_id(lang) for lang in ("deu_Latn", "eng_Latn", "fra_Latn")}
    assert len(set(tags.values())) == 3 and min(tags.values()) > EOS
    for lang, tag in tags.items():
        # a tag in text is one piece, never split into characters
        assert tag in vocab.encode([f"{lang_tag(lang)} Hallo"])[0]
        assert tag in vocab.special_ids
    with pytest.raises(KeyError, match="ces_Latn"):
        vocab.tag_id("ces_Latn")  # no such language in the corpus
    # the model is really BPE and covers the French text (character_coverage 1.0: no <unk>)
    assert json.loads(Path(tmp_path / "spm" / "stage.json").read_text())["config"]["model_type"] == "bpe"
    french = Corpus.open(three_language_corpus).to_table().column("src").to_pylist()[-5:]
    assert all(1 not in ids and PAD not in ids for ids in vocab.encode(french))


def test_unique_sentences_yields_each_language_and_text_once_in_order(tmp_path: Path) -> None:
    corpus = Corpus.open(write_corpus(tmp_path / "c", [
        ("A dog.", "Ein Hund.", "eng_Latn", "deu_Latn"),
        ("Ein Hund.", "A dog.", "deu_Latn", "eng_Latn"),  # German "Ein Hund." is new as a source
        ("A cat.", "Ein Hund.", "eng_Latn", "deu_Latn"),
        ("Ein Hund.", "A dog.", "eng_Latn", "deu_Latn"),  # both texts new in these languages
    ]))
    # column-wise per batch: the new sources, then the new targets
    assert list(unique_sentences(corpus)) == ["A dog.", "Ein Hund.", "A cat.", "Ein Hund.", "A dog."]


def test_unknown_config_key_lists_the_valid_ones_and_runs_nothing(tmp_path: Path) -> None:
    out = tmp_path / "never"
    with pytest.raises(ConfigError) as err:
        run_stage("spm", {"vocab_sise": 100}, out_dir=str(out), corpus=str(tmp_path))
    message = str(err.value)
    assert "'vocab_sise'" in message and "stage 'spm'" in message
    assert "valid keys: character_coverage, max_sentences, model_type, vocab_size" in message
    assert not out.exists()


def test_invalid_config_value_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="vocab_size='many'"):
        run_stage("spm", {"vocab_size": "many"}, out_dir=str(tmp_path / "x"), corpus=str(tmp_path))


def test_unknown_stage_lists_the_stages(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown stage 'spn'.*evaluate.*spm.*train.*translate"):
        run_stage("spn", {}, out_dir=str(tmp_path))
