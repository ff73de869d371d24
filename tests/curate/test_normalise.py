"""Text normalisation: Unicode forms, Moses punctuation, invisible characters, whitespace."""

from __future__ import annotations

import sys
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sacremoses import MosesPunctNormalizer

from mtforge.curate.normalise import NormaliseConfig, Normaliser
from mtforge.errors import ConfigError, CorpusFormatError, UnknownLanguageError

DEFAULT = Normaliser()
NFKC = Normaliser(NormaliseConfig(unicode_form="NFKC"))


def test_nfc_composes_accents_and_nfkc_also_folds_compatibility_characters() -> None:
    decomposed = "Cafe\u0301 in Ｔｏｋｙｏ ２０２０: ﬁnal ofﬁce"
    assert DEFAULT(decomposed, "eng_Latn") == "Café in Ｔｏｋｙｏ ２０２０: ﬁnal ofﬁce"
    assert NFKC(decomposed, "eng_Latn") == "Café in Tokyo 2020: final office"
    # Half-width katakana become the ordinary full-width ones under NFKC only.
    assert NFKC("ｶﾀｶﾅ", "jpn_Jpan") == "カタカナ" != DEFAULT("ｶﾀｶﾅ", "jpn_Jpan")


def test_moses_normalises_quotes_dashes_and_ellipsis() -> None:
    assert DEFAULT("He said “hello”, then left—quickly…", "eng_Latn") == (
        'He said "hello," then left - quickly...')
    assert DEFAULT("Nadal's record against the Canadian is 7–2.", "eng_Latn") == (
        "Nadal's record against the Canadian is 7-2.")
    assert DEFAULT("Er sagte: „Hallo“, und ging.", "deu_Latn") == 'Er sagte: "Hallo", und ging.'


def test_french_guillemets_and_no_break_spaces() -> None:
    text = "«\u00a0Bonjour\u00a0», dit-il\u00a0: c’est l’été…"
    assert DEFAULT(text, "fra_Latn") == "\"Bonjour\", dit-il: c'est l'été..."
    # NFKC must not fold the no-break spaces before Moses has used them.
    assert NFKC(text, "fra_Latn") == DEFAULT(text, "fra_Latn")


def test_language_selects_the_moses_quote_comma_rule() -> None:
    text = '"Danke", sagte sie.'
    assert DEFAULT(text, "eng_Latn") == '"Danke," sagte sie.'
    assert DEFAULT(text, "deu_Latn") == text
    assert DEFAULT.normalise_batch([text, text], ["en", "deu_Latn"]) == ['"Danke," sagte sie.', text]


def test_numbers_with_a_no_break_space_keep_their_value() -> None:
    # Moses' norm_numbers would make "1,000" (one) in French and "1.000" in English.
    assert DEFAULT("Il a payé 1\u00a0000 euros.", "fra_Latn") == "Il a payé 1 000 euros."
    assert DEFAULT("It cost 1\u00a0000 euros.", "eng_Latn") == "It cost 1 000 euros."


def test_no_space_between_bracket_and_cjk_punctuation() -> None:
    text = "当地时间上午 9:30 左右 (UTC 0230)，JAS 39C 鹰狮战斗机撞上跑道并发生爆炸。"
    assert DEFAULT(text, "zho_Hans") == text
    assert MosesPunctNormalizer().normalize(text) != text  # plain Moses writes "(UTC 0230) ，"


def test_invisible_format_characters_are_removed() -> None:
    assert DEFAULT("\ufeffphoto\u200bgraph of the Silben\u00adtrennung", "eng_Latn") == (
        "photograph of the Silbentrennung")
    assert DEFAULT("\u200fשלום\u200f \u2067עולם\u2069", "heb_Hebr") == "שלום עולם"
    assert DEFAULT("Hello\x07 world\x1b[0m\x00", "eng_Latn") == "Hello world[0m"


@pytest.mark.parametrize(("text", "lang"), [
    ("می\u200cخواهم کتاب بخوانم", "pes_Arab"),  # Persian "I want to read a book": ZWNJ in the verb
    ("क्\u200cष", "hin_Deva"),  # Hindi: ZWNJ keeps क् and ष from forming the conjunct क्ष
    ("रु\u200dपया", "hin_Deva"),  # ZWJ
    ("👩\u200d💻 ❤\ufe0f", "eng_Latn"),  # emoji ZWJ sequence and emoji variation selector
])
def test_joiners_and_variation_selectors_are_kept(text: str, lang: str) -> None:
    assert DEFAULT(text, lang) == text


def test_every_format_character_is_either_removed_or_deliberately_kept() -> None:
    kept = {0x200C, 0x200D, *range(0x0600, 0x0606), 0x06DD, 0x070F, 0x0890, 0x0891, 0x08E2,
            0x110BD, 0x110CD, *range(0x13430, 0x13440), *range(0x1BCA0, 0x1BCA4), *range(0xE0020, 0xE0080)}
    only_invisible = Normaliser(NormaliseConfig(unicode_form="none", moses_punct=False,
                                                collapse_whitespace=False))
    for code in range(sys.maxunicode + 1):
        if unicodedata.category(chr(code)) == "Cf":
            assert (only_invisible(f"a{chr(code)}b") == "ab") == (code not in kept), hex(code)


def test_unicode_whitespace_collapses_to_one_space() -> None:
    text = "\t10\u00a0km  away,\u3000now\u2028and\u202fhere\u00a0!\n"
    assert DEFAULT(text, "eng_Latn") == "10 km away, now and here!"
    keep_spaces = Normaliser(NormaliseConfig(collapse_whitespace=False, moses_punct=False))
    assert keep_spaces("a\u3000b\tc\x07", "eng_Latn") == "a\u3000b\tc"


def test_each_step_can_be_switched_off() -> None:
    text = "Cafe\u0301 “zero\u200bwidth”\u00a0 end"
    off = Normaliser(NormaliseConfig(unicode_form="none", moses_punct=False, remove_invisible=False,
                                     collapse_whitespace=False))
    assert off(text, "eng_Latn") == text
    assert Normaliser(NormaliseConfig(moses_punct=False))(text) == "Café “zerowidth” end"


def test_config_errors_name_the_key_or_value() -> None:
    with pytest.raises(ConfigError, match="unicode_form"):
        NormaliseConfig.parse({"unicode_form": "NFD"})
    with pytest.raises(ConfigError, match="lowercase"):
        NormaliseConfig.parse({"lowercase": True})
    with pytest.raises(UnknownLanguageError, match="xx_Nope"):
        DEFAULT("text", "xx_Nope")
    with pytest.raises(CorpusFormatError, match="2 texts but 1 languages"):
        DEFAULT.normalise_batch(["a", "b"], ["eng_Latn"])


def test_plain_moses_is_not_idempotent_but_the_normaliser_is() -> None:
    moses = MosesPunctNormalizer(lang="en")
    once = moses.normalize('He said "".')
    assert moses.normalize(once) != once  # one pass moves a quote past one run of dots
    assert DEFAULT('He said "".', "eng_Latn") == 'He said .""' == DEFAULT('He said .""', "eng_Latn")


def test_real_french_text_is_normalised_idempotently(shared_data: Path) -> None:
    path = shared_data / "flores200" / "dev" / "fra_Latn.dev"
    lines = path.read_text(encoding="utf-8").splitlines()[:100]
    out = DEFAULT.normalise_batch(lines, ["fra_Latn"] * len(lines))
    assert not any(char in line for line in out for char in "’\u00a0«»")
    assert DEFAULT.normalise_batch(out, ["fra_Latn"] * len(out)) == out
    assert sum(a != b for a, b in zip(lines, out)) > 20


CONFIGS = [NormaliseConfig(unicode_form=form, moses_punct=moses, remove_invisible=invisible,
                           collapse_whitespace=collapse)
           for form in ("NFC", "NFKC", "none") for moses in (True, False)
           for invisible in (True, False) for collapse in (True, False)]
NORMALISERS = [Normaliser(config) for config in CONFIGS]
#: Characters that the steps treat specially, to make the interactions between them likely.
TRICKY = st.text(st.sampled_from(list(
    "\"'`,.:;!?()% \u00a0\u202f\u3000\r\n\t«»„“”‘’´—–…aé\u0301e\u200b\u200c\ufeff12，。（）ＡＢ")), max_size=40)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(st.text(), TRICKY),
       lang=st.sampled_from([None, "eng_Latn", "deu_Latn", "fra_Latn", "spa_Latn", "hin_Deva", "zho_Hans"]),
       normaliser=st.sampled_from(NORMALISERS))
def test_idempotent_and_never_raises_on_any_text(text: str, lang: str | None, normaliser: Normaliser) -> None:
    once = normaliser(text, lang)
    assert isinstance(once, str)
    assert normaliser(once, lang) == once
