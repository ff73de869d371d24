"""record_rows: the JSONL / Hugging Face record shapes."""

from __future__ import annotations

import pytest

from mtforge.corpus.records import record_rows
from mtforge.errors import CorpusFormatError

EN_DE = ("eng_Latn", "deu_Latn")
DE_EN = ("deu_Latn", "eng_Latn")
EN_HA = ("eng_Latn", "hau_Latn")


def run(records: list[dict], directions: list[tuple[str, str]]) -> list[tuple]:
    numbered = [(f"r:{i}", record) for i, record in enumerate(records, 1)]
    return [
        (r["src_lang"], r["tgt_lang"], r["src"], r["tgt"], r["origin"])
        for r in record_rows(numbered, directions, "recs")
    ]


def test_translation_dict_and_language_keys_give_every_requested_direction() -> None:
    records = [{"translation": {"en": "Dog", "de": "Hund"}}, {"id": 7, "eng_Latn": "Cat", "deu": "Katze"}]
    assert run(records, [EN_DE, DE_EN]) == [
        (*EN_DE, "Dog", "Hund", "r:1"),
        (*DE_EN, "Hund", "Dog", "r:1"),
        (*EN_DE, "Cat", "Katze", "r:2"),
        (*DE_EN, "Katze", "Cat", "r:2"),
    ]


def test_topxgen_records_carry_language_names() -> None:
    records = [
        {"source": "Hello", "target": "Sannu", "source_language": "English", "target_language": "Hausa"},
        {"source": "Hallo", "target": "Hello", "source_language": "German", "target_language": "English"},
    ]
    # the first record serves the reverse direction, the second is not requested
    assert run(records, [("hau_Latn", "eng_Latn")]) == [("hau_Latn", "eng_Latn", "Sannu", "Hello", "r:1")]


def test_src_tgt_without_languages_take_the_first_direction() -> None:
    rows = list(record_rows([("r:1", {"src": "a", "tgt": "b", "score": 2})], [EN_HA], "recs"))
    assert rows == [
        {"src": "a", "tgt": "b", "src_lang": "eng_Latn", "tgt_lang": "hau_Latn", "score": 2, "origin": "r:1"}
    ]


def test_a_direction_no_record_holds_lists_the_languages_found() -> None:
    records = [{"translation": {"en": "Dog", "de": "Hund"}}, {"translation": {"en": "Cat", "fr": "Chat"}}]
    with pytest.raises(
        CorpusFormatError,
        match=r"recs: no rows for direction\(s\) eng_Latn-hau_Latn; languages found: deu_Latn, eng_Latn, fra_Latn",
    ):
        run(records, [EN_DE, EN_HA])


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"src": "a", "tgt": None}, "r:1: field 'tgt' must be a string, got NoneType"),
        ({"src": "a", "tgt": "b", "score": "high"}, "r:1: field 'score' must be a number"),
        ({"translation": ["a", "b"]}, "r:1: field 'translation' must be an object"),
    ],
)
def test_bad_records_name_their_origin(record: dict, message: str) -> None:
    with pytest.raises(CorpusFormatError, match=message):
        run([record], [EN_DE])


def test_non_object_record() -> None:
    with pytest.raises(CorpusFormatError, match="r:1: expected an object, got list"):
        list(record_rows([("r:1", [1, 2])], [EN_DE], "recs"))  # type: ignore[list-item]
