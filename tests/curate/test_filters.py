"""Bitext filters (mtforge.curate.filters): each filter's accept and reject cases on
real-looking pairs, its threshold boundary, batch handling, and — where OpusFilter has the
filter — the same decisions as OpusFilter 3.3.1 on real Multi30k pairs and noisy ones."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mtforge.curate.filters import (
    FILTERS,
    AlphabetRatioFilter,
    CharacterScoreFilter,
    HtmlTagFilter,
    IdenticalFilter,
    LanguageIdFilter,
    LengthFilter,
    LengthRatioFilter,
    LongWordFilter,
    NonZeroNumeralsFilter,
    RegexpFilter,
    RepetitionFilter,
    TerminalPunctuationFilter,
    UrlEmailFilter,
    make_filter,
)
from mtforge.errors import ConfigError, CorpusFormatError, UnknownLanguageError

EN, DE, FR, CS, RU, ZH = "eng_Latn", "deu_Latn", "fra_Latn", "ces_Latn", "rus_Cyrl", "zho_Hans"


def pairs_batch(pairs: list[tuple[str, str]], src_lang: str = EN, tgt_lang: str = DE) -> pa.Table:
    """A batch of ``pairs`` in one language direction."""
    return pa.table({"src": [s for s, _ in pairs], "tgt": [t for _, t in pairs],
                     "src_lang": [src_lang] * len(pairs), "tgt_lang": [tgt_lang] * len(pairs)})


def decide(filt, pairs: list[tuple[str, str]], src_lang: str = EN, tgt_lang: str = DE) -> tuple[list, list]:
    """(scores, accepted) of ``filt`` on ``pairs`` as Python lists."""
    scores = filt.score(pairs_batch(pairs, src_lang, tgt_lang))
    return scores.tolist(), filt.accept(scores).tolist()


def words(n: int) -> str:
    return " ".join(["Haus"] * n)


# --- length -------------------------------------------------------------------------------


def test_length_in_words_has_inclusive_bounds_and_scores_the_deciding_side() -> None:
    scores, kept = decide(LengthFilter(), [
        ("A dog runs across the park.", "Ein Hund rennt durch den Park."),
        (words(100), words(3)),  # at max: kept
        (words(101), words(3)),  # one over: the long side decides
        ("", words(101)),  # an empty side is below min: it decides
    ])
    assert scores == [6, 100, 101, 0]
    assert kept == [True, True, False, False]


def test_length_in_characters() -> None:
    scores, kept = decide(LengthFilter(min=5, max=20, unit="char"),
                          [("Hello", "Hallo Welt"), ("Hi", "Hallo"), ("Good morning, friends!", "Guten Morgen!")])
    assert scores == [10, 2, 22] and kept == [True, False, False]


def test_auto_length_counts_chinese_characters_as_english_words() -> None:
    pair = ("We are going to Beijing to see the Great Wall tomorrow.", "我们明天去北京看长城。")
    assert decide(LengthFilter(min=3, unit="word"), [pair], EN, ZH) == ([1], [False])  # one whitespace "word"
    # Chinese is 11 characters / 1.7 ≈ 6.5 words, so the English side (11 words) decides.
    assert decide(LengthFilter(min=3, unit="auto"), [pair], EN, ZH) == ([11], [True])
    assert decide(LengthFilter(min=3, max=5, unit="auto"), [pair[::-1]], ZH, EN) == ([11], [False])
    ratio, _ = decide(LengthRatioFilter(unit="auto"), [pair], EN, ZH)
    assert ratio == [pytest.approx(1.7)]


def test_length_max_below_min_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"filter 'length'.*max=2"):
        make_filter("length", {"min": 5, "max": 2})


# --- length_ratio, long_word --------------------------------------------------------------


def test_length_ratio_rejects_at_the_threshold() -> None:
    scores, kept = decide(LengthRatioFilter(), [
        ("Good morning.", "Einen wunderschönen guten Morgen, meine Damen und Herren."),  # 2 vs 8 words
        ("Good morning.", "Guten Morgen, meine Damen."),  # 2 vs 4
        ("Hello.", "Guten Morgen, liebe Freunde."),  # 1 vs 4 words
        ("Hi", ""), ("", ""),
    ])
    assert scores == [4.0, 2.0, 4.0, float("inf"), 0.0]
    assert kept == [False, True, False, False, True]
    _, kept = decide(LengthRatioFilter(threshold=2), [("Good morning.", "Guten Morgen, meine Damen.")])
    assert kept == [False]  # 2.0 is not below 2


def test_long_word_threshold_and_unspaced_scripts() -> None:
    compound = "Donaudampfschifffahrtsgesellschaftskapitänsmütze"  # 48 characters
    scores, kept = decide(LongWordFilter(), [("The captain's cap.", f"Die {compound}."),
                                             ("a" * 39, "b"), ("a" * 40, "b")])
    assert scores == [49, 39, 40] and kept == [False, True, False]
    chinese = "在这个美丽的城市里，人们每天早上都会去公园散步，然后在附近的咖啡馆喝一杯热咖啡并且阅读当天的报纸。"
    assert len(chinese) >= 40
    _, strict = decide(LongWordFilter(), [("People walk in the park.", chinese)], EN, ZH)
    _, lenient = decide(LongWordFilter(skip_unspaced=True), [("People walk in the park.", chinese)], EN, ZH)
    assert strict == [False] and lenient == [True]


# --- alphabet_ratio, character_score --------------------------------------------------------


def test_alphabet_ratio_rejects_number_and_symbol_lines() -> None:
    scores, kept = decide(AlphabetRatioFilter(), [
        ("Two dogs play in the snow.", "Zwei Hunde spielen im Schnee."),
        ("Tel. +49 30 1234 5678", "Tel. +49 30 1234 5678"),
        ("", "Hallo"),
    ])
    assert kept == [True, False, True]
    assert scores[0] == pytest.approx(20 / 26)  # "Two dogs play in the snow." has 20 letters of 26
    assert scores[2] == pytest.approx(1.0)  # an empty side scores 1
    scores, _ = decide(AlphabetRatioFilter(exclude_whitespace=True), [("Two dogs.", "Zwei Hunde.")])
    assert scores == [pytest.approx(7 / 8)]


def test_character_score_checks_each_side_against_its_languages_script() -> None:
    scores, kept = decide(CharacterScoreFilter(), [
        ("Moscow is the capital of Russia.", "Москва — столица России."),
        ("Moscow is the capital of Russia.", "Moscow is the capital of Russia."),  # English on the Russian side
        ("The company Apple", "Компания Apple"),
    ], EN, RU)
    assert scores == [1.0, 0.0, pytest.approx(8 / 13)]
    assert kept == [True, False, False]
    _, kept = decide(CharacterScoreFilter(threshold=0.6), [("The company Apple", "Компания Apple")], EN, RU)
    assert kept == [True]


# --- language_id ---------------------------------------------------------------------------


def test_language_id_keeps_pairs_in_their_declared_languages() -> None:
    filt = LanguageIdFilter()
    scores, kept = decide(filt, [
        ("A man rides a bicycle down the street.", "Ein Mann fährt mit dem Fahrrad die Straße entlang."),
        ("Ein Mann fährt mit dem Fahrrad die Straße entlang.", "A man rides a bicycle down the street."),  # swapped
        ("A man rides a bicycle down the street.", ""),  # nothing to identify
    ])
    assert kept == [True, False, False]
    assert 0.9 < scores[0] <= 1 and scores[1] == -1.0 and scores[2] == -1.0


def test_language_id_thresholds_per_language() -> None:
    pair = [("A man rides a bicycle down the street.", "Muž jede na kole po ulici.")]  # ces at p ≈ 0.28
    (score,), kept = decide(LanguageIdFilter(), pair, EN, CS)
    assert kept == [True] and 0.2 < score < 0.4
    (strict,), kept = decide(LanguageIdFilter(thresholds={"cs": 0.5}), pair, EN, CS)
    assert kept == [False] and strict == pytest.approx(score - 1)  # failing sides score p - 1
    _, kept = decide(LanguageIdFilter(threshold=0.5, thresholds={"ces": 0.2}), pair, EN, CS)
    assert kept == [True]


def test_language_id_varieties_and_undetectable_languages() -> None:
    mandarin = [("Around 11:29, the protest moved up Whitehall.", "三个赛季前，28岁的比达尔（Vidal）从塞维利亚队加盟巴萨。")]
    assert decide(LanguageIdFilter(), mandarin, EN, ZH)[1] == [True]  # py3langid says wuu: same group
    assert decide(LanguageIdFilter(equivalent=[]), mandarin, EN, ZH)[1] == [False]
    friulian = [("The house is big.", "La cjase e je grande.")]  # py3langid has no Friulian
    assert decide(LanguageIdFilter(), friulian, EN, "fur_Latn")[1] == [True]


def test_language_id_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"backend='langid'.*py3langid"):
        make_filter("language_id", {"backend": "langid"})
    with pytest.raises(ConfigError, match="thresholds"):
        make_filter("language_id", {"thresholds": {"de": 1.5}})


# --- terminal_punctuation, non_zero_numerals ------------------------------------------------


def test_terminal_punctuation_penalises_mismatches() -> None:
    scores, kept = decide(TerminalPunctuationFilter(), [
        ("It is raining.", "Es regnet."),
        ("Really?!?", "Wirklich"),  # 3 vs 0: penalty 3 + 2 = 5
        ("Really?!?!", "Wirklich."),  # 4 vs 1: penalty 3 + 3 = 6 → -log 7 ≈ -1.95
        ("What?!?!?", "Was"),  # 5 vs 0: penalty 5 + 4 = 9
    ])
    assert scores == pytest.approx([0.0, -np.log(6), -np.log(7), -np.log(10)])
    assert kept == [True, True, True, False]


def test_non_zero_numerals_compares_digits_without_zeros() -> None:
    scores, kept = decide(NonZeroNumeralsFilter(), [
        ("It costs 1,000 euros.", "Es kostet 1000 Euro."),
        ("Room 12 on floor 3.", "Zimmer 45."),
        ("No numbers here.", "Keine Zahlen hier."),
        ("Flight 4711 leaves at 9.", "Flug 4711 startet um 10."),  # 47119 vs 47111
    ])
    assert scores == [1.0, 0.0, 1.0, 0.8] and kept == [True, False, True, True]


def test_non_zero_numerals_reads_other_scripts_digits_on_request() -> None:
    pair = [("At 9:30 am (0230 UTC).", "الساعة ٩:٣٠ صباحاً (٠٢٣٠)")]
    assert decide(NonZeroNumeralsFilter(), pair, EN, "arb_Arab") == ([0.0], [False])
    assert decide(NonZeroNumeralsFilter(unicode_digits=True), pair, EN, "arb_Arab") == ([1.0], [True])


# --- repetition, html_tag, identical, url_email, regexp -----------------------------------


def test_repetition_counts_repeats_of_the_first_repeated_substring() -> None:
    scores, kept = decide(RepetitionFilter(), [
        ("Buy now! Buy now! Buy now!", "Jetzt kaufen!"),
        ("Buy now! Buy now!", "Jetzt kaufen!"),  # one repeat: below the threshold, no match
        ("The room costs 2000 euros.", "Das Zimmer kostet 2000 Euro."),
        ("Go", "na na na na na na na na na na"),  # "na " nine times, then "na"
    ])
    assert scores == [2.0, 0.0, 0.0, 8.0]
    assert kept == [False, True, True, False]
    with pytest.raises(ConfigError, match="max_length"):
        make_filter("repetition", {"min_length": 5, "max_length": 4})


def test_html_tag_finds_tags_the_way_html_parser_does() -> None:
    scores, kept = decide(HtmlTagFilter(), [
        ("<b>Warning</b>: hot surface", "<b>Achtung</b>: heiße Oberfläche"),
        ("Line one<br/>line two", "Zeile eins, Zeile zwei"),
        ("if a < b and c > d", "wenn a < b und c > d"),
        ("I <3 you", "Ich <3 dich"),
    ])
    assert scores == [2.0, 1.0, 0.0, 0.0] and kept == [False, False, True, True]


def test_identical_compares_case_folded_letters_only() -> None:
    scores, kept = decide(IdenticalFilter(), [
        ("Berlin", "BERLIN"),
        ("Straße", "STRASSE"),
        ("Hello, world!", "Hello world"),
        ("Version 2.0", "Version 3.1"),
        ("A dog.", "Ein Hund."),
    ])
    assert scores == [1.0, 1.0, 1.0, 1.0, 0.0] and kept == [False, False, False, False, True]


def test_url_email_rejects_addresses_but_not_abbreviations() -> None:
    scores, kept = decide(UrlEmailFilter(), [
        ("Visit https://example.com/page for more.", "Mehr unter https://example.com/page."),
        ("Write to info@example.org.", "Schreiben Sie uns."),
        ("See www.test.de", "Siehe Website"),
        ("Open the file, e.g. notes.txt.", "Öffne die Datei, z.B. notes.txt."),
    ])
    assert scores == [2.0, 1.0, 1.0, 0.0] and kept == [False, False, False, True]


def test_regexp_rejects_matches_or_requires_them() -> None:
    escaped = RegexpFilter(pattern=r"\\[xu][0-9a-fA-F]{2,}")  # bicleaner's c_no_escaped_unicode
    assert decide(escaped, [("caf\\xc3\\xa9", "Café"), ("Café", "Café")])[1] == [False, True]
    capital = RegexpFilter(pattern="^[A-Z]", accept_match=True)
    assert decide(capital, [("Good.", "Gut."), ("good.", "Gut.")])[1] == [True, False]
    with pytest.raises(ConfigError, match="pattern"):
        make_filter("regexp", {"pattern": r"(a)\1"})  # back-references are not RE2


# --- batches, registry --------------------------------------------------------------------


def test_batches_need_the_four_columns() -> None:
    with pytest.raises(CorpusFormatError, match="tgt_lang"):
        LengthFilter().score(pa.table({"src": ["a"], "tgt": ["b"], "src_lang": [EN]}))


def test_unreadable_language_codes_are_named_with_their_column() -> None:
    batch = pa.table({"src": ["Hello"], "tgt": ["Hallo"], "src_lang": ["en"], "tgt_lang": ["klingon"]})
    with pytest.raises(UnknownLanguageError, match=r"tgt_lang.*klingon"):
        CharacterScoreFilter().score(batch)


def test_nulls_slices_chunks_and_string_types_score_alike() -> None:
    texts = ["Ein Hund.", None, "Zwei Katzen schlafen.", "Hallo <b>Welt</b>!!", "Straße 12", "Привет"]
    full = pa.table({"src": ["A dog."] * 6, "tgt": texts, "src_lang": ["en"] * 6, "tgt_lang": ["de"] * 6})
    filters = [LengthFilter(unit="char"), AlphabetRatioFilter(), RepetitionFilter(), HtmlTagFilter(),
               CharacterScoreFilter(), NonZeroNumeralsFilter(), LongWordFilter(), IdenticalFilter()]
    expected = {type(f).__name__: f.score(full) for f in filters}
    assert expected["LengthFilter"][1] == 0  # a null text reads as empty
    chunked = pa.concat_tables([full.slice(0, 2), full.slice(2)])
    large = full.set_column(1, "tgt", full.column("tgt").cast(pa.large_string()))
    dictionary = full.set_column(1, "tgt", full.column("tgt").dictionary_encode())
    for variant in (chunked, large, dictionary):
        for f in filters:
            assert f.score(variant).tolist() == expected[type(f).__name__].tolist()
    sliced = full.to_batches()[0].slice(2, 3)
    for f in filters:
        assert f.score(sliced).tolist() == expected[type(f).__name__][2:5].tolist()


def test_unknown_filters_and_parameters_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"unknown filter 'lenght'.*length, length_ratio"):
        make_filter("lenght")
    with pytest.raises(ConfigError, match=r"filter 'length'.*'mnx'.*valid keys: max, min, unit"):
        make_filter("length", {"mnx": 3})
    with pytest.raises(ConfigError, match=r"filter 'long_word'.*threshold='long'"):
        make_filter("long_word", {"threshold": "long"})


def test_the_registry_has_every_filter_the_docs_list() -> None:
    assert set(FILTERS) == {"length", "length_ratio", "long_word", "alphabet_ratio", "character_score",
                            "language_id", "terminal_punctuation", "non_zero_numerals", "repetition",
                            "html_tag", "identical", "url_email", "encoding", "regexp"}
    docs = (Path(__file__).resolve().parents[2] / "docs" / "filters.md").read_text(encoding="utf-8")
    assert all(f"`{name}`" in docs for name in FILTERS)


def test_every_filter_scores_an_empty_batch() -> None:
    empty = pairs_batch([])
    for name, cls in FILTERS.items():
        filt = cls(pattern="x") if name == "regexp" else cls()
        assert filt.score(empty).shape == (0,) and filt.accept(filt.score(empty)).shape == (0,)


#: One instance of every filter, for the property tests.
EVERY_FILTER = [LengthFilter(), LengthFilter(unit="auto"), LengthRatioFilter(), LengthRatioFilter(unit="char"),
                LongWordFilter(), AlphabetRatioFilter(), AlphabetRatioFilter(exclude_whitespace=True),
                CharacterScoreFilter(), LanguageIdFilter(), TerminalPunctuationFilter(), NonZeroNumeralsFilter(),
                NonZeroNumeralsFilter(unicode_digits=True), RepetitionFilter(), HtmlTagFilter(), IdenticalFilter(),
                UrlEmailFilter(), RegexpFilter(pattern="[0-9]")]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.text(), st.text()), min_size=1, max_size=8),
       st.sampled_from([(EN, DE), (EN, ZH), ("jpn_Jpan", RU), ("hin_Deva", "arb_Arab")]))
def test_no_filter_fails_on_arbitrary_text(pairs: list[tuple[str, str]], langs: tuple[str, str]) -> None:
    """Scores are finite, except length_ratio's documented inf for one empty side."""
    for filt in EVERY_FILTER:
        scores = filt.score(pairs_batch(pairs, *langs))
        assert scores.dtype == np.float64 and scores.shape == (len(pairs),)
        assert filt.accept(scores).dtype == bool
        infinite = ~np.isfinite(scores)
        assert not np.isnan(scores).any()
        if infinite.any():
            assert isinstance(filt, LengthRatioFilter) and (scores[infinite] == np.inf).all()


# --- the same decisions as OpusFilter -----------------------------------------------------

#: Noisy pairs that exercise every shared filter's edge cases.
NOISY = [
    ("<b>Bold</b> text", "<i>Kursiv</i>"), ("", ""), ("   ", "\t"), ("ha ha ha ha ha", "hahahahaha"),
    ("1 2 3 4 5", "5 4 3 2 1"), ("Straße", "STRASSE"), ("x" * 50, "y"), ("Hello... world!!!", "Hallo Welt"),
    ("Price 1000 $, 2000 $", "Preis 1000 $"), ("中文句子，没有空格。", "Chinese sentence."), ("abcabcabc", "abc abc abc"),
    ("a\x1cb\x1dc", "a\u2028b"), ("<a href='x'>link</a>", "ok < b >"), ("www.example.com", "e-mail: foo@bar.com"),
    ("Ünïcödé ααα βββ", "Ⓐ Ⓑ Ⓒ"), ("<!-- comment -->", "<!DOCTYPE html>"), ("<p", "<3 <3 <3"),
    ("Call 0800 123 456 now!!!", "Rufen Sie 0800 123 456 an!"), ("Ok.\n\nOk.\n\nOk.", "Gut."),
    ("\u00a0\u00a0Leading spaces", "Trailing spaces\u3000\u3000"), ("Мама мыла раму.", "Mama myla ramu."),
    ("The  end  end  end", "Das Ende Ende Ende Ende"), ("wow wow wow", "toll"),
]


@pytest.fixture(scope="module")
def opusfilter():
    module = pytest.importorskip("opusfilter.filters")
    logging.getLogger("opusfilter").setLevel(logging.ERROR)
    return module


@pytest.fixture(scope="module")
def multi30k_pairs(shared_data: Path) -> list[tuple[str, str, str, str]]:
    """(src, tgt, src_lang, tgt_lang): Multi30k train lines 0-299 in four directions, then NOISY."""
    lines = {lang: (shared_data / "multi30k" / f"train.{lang}").read_text(encoding="utf-8").splitlines()[:300]
             for lang in ("en", "de", "fr", "cs")}
    codes = {"en": EN, "de": DE, "fr": FR, "cs": CS}
    out = [(s, t, codes[a], codes[b]) for a, b in (("en", "de"), ("en", "fr"), ("en", "cs"), ("de", "fr"))
           for s, t in zip(lines[a], lines[b])]
    return out + [(s, t, EN, DE) for s, t in NOISY]


def as_table(rows: list[tuple[str, str, str, str]]) -> pa.Table:
    return pa.table({name: [row[i] for row in rows] for i, name in enumerate(("src", "tgt", "src_lang", "tgt_lang"))})


def shared_filters(opus) -> list[tuple[object, object]]:
    """(OpusFilter filter, ours) with the same settings: defaults, then non-default ones."""
    return [
        (opus.LengthFilter(), LengthFilter()),
        (opus.LengthFilter(min_length=5, max_length=60, unit="char"), LengthFilter(min=5, max=60, unit="char")),
        (opus.LengthRatioFilter(), LengthRatioFilter()),
        (opus.LengthRatioFilter(threshold=1.3, unit="char"), LengthRatioFilter(threshold=1.3, unit="char")),
        (opus.LongWordFilter(), LongWordFilter()),
        (opus.LongWordFilter(threshold=9), LongWordFilter(threshold=9)),
        (opus.AlphabetRatioFilter(), AlphabetRatioFilter()),
        (opus.AlphabetRatioFilter(threshold=0.85, exclude_whitespace=True),
         AlphabetRatioFilter(threshold=0.85, exclude_whitespace=True)),
        (opus.CharacterScoreFilter(scripts=["Latin", "Latin"]), CharacterScoreFilter()),
        (opus.CharacterScoreFilter(scripts=["Latin", "Latin"], thresholds=[0.9, 0.9]),
         CharacterScoreFilter(threshold=0.9)),
        (opus.TerminalPunctuationFilter(), TerminalPunctuationFilter()),
        (opus.TerminalPunctuationFilter(threshold=-0.5), TerminalPunctuationFilter(threshold=-0.5)),
        (opus.NonZeroNumeralsFilter(), NonZeroNumeralsFilter()),
        (opus.NonZeroNumeralsFilter(threshold=0.9), NonZeroNumeralsFilter(threshold=0.9)),
        (opus.RepetitionFilter(), RepetitionFilter()),
        (opus.RepetitionFilter(threshold=1, min_length=2, max_length=8),
         RepetitionFilter(threshold=1, min_length=2, max_length=8)),
        (opus.HtmlTagFilter(), HtmlTagFilter()),
    ]


def opus_decisions(filt, pairs: list[tuple[str, str]]) -> list[bool]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # bs4 warns about text that looks like a URL or file name
        return list(filt.decisions(pairs))


def test_same_decisions_as_opusfilter_on_multi30k_and_noise(opusfilter, multi30k_pairs) -> None:
    table, texts = as_table(multi30k_pairs), [(s, t) for s, t, *_ in multi30k_pairs]
    rejected = 0
    for theirs, ours in shared_filters(opusfilter):
        expected = opus_decisions(theirs, texts)
        got = ours.accept(ours.score(table)).tolist()
        differing = [texts[i] for i, (a, b) in enumerate(zip(expected, got)) if a != b]
        assert not differing, (type(ours).__name__, differing[:3])
        rejected += expected.count(False)
    assert rejected > 100  # the settings reject real pairs, not only the noise


def test_same_scores_as_opusfilter(opusfilter, multi30k_pairs) -> None:
    """Scores agree too, where OpusFilter's per-side scores reduce to ours."""
    table, texts = as_table(multi30k_pairs), [(s, t) for s, t, *_ in multi30k_pairs]
    reductions = [(opusfilter.LengthRatioFilter(), LengthRatioFilter(), lambda s: s),
                  (opusfilter.LongWordFilter(), LongWordFilter(), max),
                  (opusfilter.AlphabetRatioFilter(), AlphabetRatioFilter(), min),
                  (opusfilter.CharacterScoreFilter(scripts=["Latin", "Latin"]), CharacterScoreFilter(), min),
                  (opusfilter.NonZeroNumeralsFilter(), NonZeroNumeralsFilter(), lambda s: s[0]),
                  (opusfilter.RepetitionFilter(), RepetitionFilter(), lambda s: s)]
    for theirs, ours, reduce in reductions:
        assert [reduce(s) for s in theirs.score(texts)] == ours.score(table).tolist(), type(ours).__name__
    terminal = [s for s in opusfilter.TerminalPunctuationFilter().score(texts)]
    assert TerminalPunctuationFilter().score(table) == pytest.approx(terminal, abs=1e-12)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.text(max_size=30), st.text(max_size=30)), min_size=1, max_size=10))
def test_same_decisions_as_opusfilter_on_arbitrary_text(opusfilter, pairs: list[tuple[str, str]]) -> None:
    table = pairs_batch(pairs)
    for theirs, ours in shared_filters(opusfilter):
        assert opus_decisions(theirs, pairs) == ours.accept(ours.score(table)).tolist(), type(ours).__name__


@pytest.mark.parametrize(("text", "bad"), [
    ("Ein Mädchen läuft über die Straße.", False),
    ("SÃO PAULO é a maior cidade do Brasil.", False),       # Portuguese capital Ã before a letter
    ("Ein MÃ¤dchen lÃ¤uft Ã¼ber die StraÃŸe.", True),       # UTF-8 read as cp1252
    ("Ein Mädchen läuft über die Stra\u00c3e.", True),      # ß read as Latin-1, C1 control stripped
    ("Itâ€™s raining.", True),
    ("Stra\ufffde", True),
])
def test_encoding_rejects_mojibake_and_replacement_characters(text: str, bad: bool) -> None:
    filt = make_filter("encoding")
    scores = filt.score(pairs_batch([("A girl runs.", text)]))
    assert bool(filt.accept(scores)[0]) is not bad
