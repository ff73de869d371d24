"""The joint SentencePiece vocabulary: fixed special ids, language tags, encode/decode, determinism."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtforge.vocab import BOS, EOS, PAD, UNK, Vocab, lang_tag, train_vocab

EN, DE, FR = "eng_Latn", "deu_Latn", "fra_Latn"


@pytest.fixture(scope="module")
def sentences(shared_data: Path) -> list[str]:
    lines = []
    for ext in ("en", "de"):
        lines += (shared_data / "multi30k" / f"train.{ext}").read_text(encoding="utf-8").splitlines()[:200]
    return lines


@pytest.fixture(scope="module")
def vocab(sentences: list[str], tmp_path_factory: pytest.TempPathFactory) -> Vocab:
    path = train_vocab(iter(sentences), tmp_path_factory.mktemp("v") / "spm", vocab_size=200,
                       languages=[EN, DE, EN])  # a repeated language gets one tag
    return Vocab(path)


def test_lang_tag_format() -> None:
    assert lang_tag(EN) == "__eng_Latn__"


def test_special_ids_are_fixed(vocab: Vocab) -> None:
    assert (PAD, UNK, BOS, EOS) == (0, 1, 2, 3)
    assert [vocab.sp.id_to_piece(i) for i in range(4)] == ["<pad>", "<unk>", "<s>", "</s>"]
    assert vocab.sp.pad_id() == PAD and vocab.sp.eos_id() == EOS
    assert len(vocab) == 200


def test_one_tag_per_language_directly_after_the_specials(vocab: Vocab) -> None:
    assert {vocab.tag_id(DE), vocab.tag_id(EN)} == {4, 5}  # user-defined symbols come first
    assert [vocab.sp.id_to_piece(i) for i in (4, 5)] == sorted([lang_tag(DE), lang_tag(EN)])
    assert not any(vocab.sp.id_to_piece(i).startswith("__") for i in range(6, len(vocab)))
    assert vocab.special_ids == {0, 1, 2, 3, 4, 5}


def test_missing_tag_is_a_key_error_naming_language_and_file(vocab: Vocab) -> None:
    with pytest.raises(KeyError) as err:
        vocab.tag_id(FR)
    assert FR in str(err.value) and str(vocab.path) in str(err.value)


def test_encode_decode_round_trip_drops_tags_and_specials(vocab: Vocab, sentences: list[str]) -> None:
    texts = sentences[:5] + sentences[-5:]
    ids = vocab.encode(texts)
    assert all(ids) and not any(EOS in seq or BOS in seq or PAD in seq for seq in ids)
    assert vocab.decode(ids) == texts
    tagged = [[vocab.tag_id(DE)] + seq + [EOS, PAD, PAD] for seq in ids]
    assert vocab.decode(tagged) == texts
    # a tag written in text is a single piece
    assert vocab.tag_id(EN) in vocab.encode([f"{lang_tag(EN)} A dog."])[0]


def test_training_is_deterministic(sentences: list[str], vocab: Vocab, tmp_path: Path) -> None:
    again = train_vocab(iter(sentences), tmp_path / "again", vocab_size=200, languages=[DE, EN])
    assert again == tmp_path / "again.model"
    other = Vocab(again)
    # the same pieces with the same scores (the file itself also records its own path)
    pieces = lambda v: [(v.sp.id_to_piece(i), v.sp.get_score(i)) for i in range(len(v))]  # noqa: E731
    assert pieces(other) == pieces(vocab)


def test_too_large_a_vocabulary_fails_loudly(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="[Vv]ocabulary size"):
        train_vocab(iter(["a b c", "a b"] * 10), tmp_path / "x", vocab_size=500, languages=[EN])
