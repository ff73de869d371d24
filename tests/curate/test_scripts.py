"""Unicode scripts of characters and texts (mtforge.curate.scripts)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import regex

from mtforge.curate.scripts import (
    CHARS_PER_WORD,
    OTHER,
    UNICODE_SCRIPTS,
    alphabetic_table,
    in_script,
    script_code,
    script_of,
    script_ratio,
)
from mtforge.errors import UnknownLanguageError
from mtforge.langcodes import SCRIPTS

#: One letter of each major script and the Unicode script it is in.
LETTERS = {
    "a": "Latin", "ß": "Latin", "ж": "Cyrillic", "Ω": "Greek", "ع": "Arabic", "क": "Devanagari",
    "ক": "Bengali", "中": "Han", "々": "Han", "あ": "Hiragana", "カ": "Katakana", "한": "Hangul",
    "ก": "Thai", "ሀ": "Ethiopic", "ש": "Hebrew", "ა": "Georgian", "Ա": "Armenian", "த": "Tamil",
    "త": "Telugu", "ಕ": "Kannada", "ക": "Malayalam", "ક": "Gujarati", "ਕ": "Gurmukhi", "ක": "Sinhala",
    "ក": "Khmer", "ກ": "Lao", "က": "Myanmar", "ཀ": "Tibetan",
}


@pytest.mark.parametrize(("char", "script"), LETTERS.items())
def test_script_of_names_the_script_of_a_letter(char: str, script: str) -> None:
    assert script_of(char) == script


def test_shared_and_combining_characters_and_untabulated_scripts() -> None:
    assert [script_of(c) for c in "1!。ー"] == ["Common"] * 4
    assert script_of("\u0301") == "Inherited"  # combining acute accent
    assert script_of("ᚠ") == OTHER  # Runic: not a script any FLORES code uses


def test_every_script_a_language_code_may_name_has_unicode_scripts() -> None:
    assert set(UNICODE_SCRIPTS) == SCRIPTS
    assert all(script_of(char) in UNICODE_SCRIPTS[script_code(code)]
               for char, code in {"ж": "rus_Cyrl", "中": "zho_Hant", "カ": "jpn_Jpan", "한": "kor_Hang"}.items())
    assert set(CHARS_PER_WORD) < SCRIPTS


@pytest.mark.parametrize("code", ["eng", "xyz_Abcd", "Latin"])
def test_a_code_without_a_known_script_is_named_in_the_error(code: str) -> None:
    with pytest.raises(UnknownLanguageError, match=code):
        script_code(code)


def test_script_ratio_counts_letters_in_the_script_of_the_code() -> None:
    assert script_ratio("Der Hund läuft über die Straße.", "deu_Latn") == 1.0
    assert script_ratio("Der Hund läuft über die Straße.", "rus_Cyrl") == 0.0
    # 9 Cyrillic letters of 12: punctuation, digits and spaces are not letters.
    assert script_ratio("Привет, мир! ABC 123", "rus_Cyrl") == pytest.approx(9 / 12)
    assert script_ratio("2024 — 12:30!", "hin_Deva") == 1.0  # no letters at all
    assert script_ratio("Hello", "Latn") == 1.0  # a bare script code works too


def test_japanese_counts_han_and_both_kana_with_the_length_mark() -> None:
    text = "コーヒーを飲みました。"
    assert script_ratio(text, "jpn_Jpan") == 1.0
    assert script_ratio(text, "zho_Hans") == pytest.approx(1 / 10)  # only 飲 is Han
    assert script_ratio("ハングル한국어", "kor_Kore") == pytest.approx(3 / 7)


def test_devanagari_vowel_signs_count_and_the_virama_does_not() -> None:
    # न म स ् त े: the vowel sign े is Alphabetic, the virama ् is not (as in OpusFilter).
    assert alphabetic_table()[[ord(c) for c in "नमस्ते"]].tolist() == [True, True, True, False, True, True]
    assert script_ratio("नमस्ते", "hin_Deva") == 1.0


def test_in_script_marks_each_codepoint() -> None:
    codepoints = np.frombuffer("aж中ー!".encode("utf-32-le"), "<u4")
    assert in_script(codepoints, "Latn").tolist() == [True, False, False, False, False]
    assert in_script(codepoints, "Jpan").tolist() == [False, False, True, True, False]


def opusfilter_ratio(text: str, unicode_script: str) -> float:
    """OpusFilter's CharacterScoreFilter score for one segment, written out with ``regex``."""
    letters = regex.sub(r"\p{Alphabetic=No}", "", text)
    return len(regex.sub(rf"\p{{^Script={unicode_script}}}", "", letters)) / len(letters) if letters else 1.0


def test_script_ratio_is_opusfilters_character_score_on_flores(shared_data: Path) -> None:
    checked = 0
    for path in sorted((shared_data / "flores200" / "dev").glob("*.dev")):
        code = path.name.split(".")[0]
        scripts = UNICODE_SCRIPTS[script_code(code)]
        if len(scripts) > 1:  # Jpan: OpusFilter takes one script per side
            continue
        for text in path.read_text(encoding="utf-8").splitlines()[:40]:
            assert script_ratio(text, code) == opusfilter_ratio(text, scripts[0]), (code, text)
            checked += 1
    assert checked >= 26 * 40
