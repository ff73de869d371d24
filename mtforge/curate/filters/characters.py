"""Character-class filters: ``alphabet_ratio`` (alphabetic characters) and
``character_score`` (letters in the script of the declared language)."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from mtforge.curate.filters.base import BitextFilter
from mtforge.curate.filters.batch import ALPHABETIC, WHITE_SPACE, Pairs, Side


def _fraction(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    """``part / whole`` per text, 1.0 where ``whole`` is 0."""
    return np.divide(part, whole, out=np.ones(len(whole)), where=whole > 0)


class AlphabetRatioFilter(BitextFilter):
    """At least ``threshold`` of each side's characters alphabetic (OpusFilter
    ``AlphabetRatioFilter``).

    Score: the lower of the sides' fractions of characters with the Unicode ``Alphabetic``
    property (white space left out of the count with ``exclude_whitespace``); an empty side
    scores 1.0.
    """

    name = "alphabet_ratio"
    threshold: float = Field(0.75, ge=0, le=1)
    exclude_whitespace: bool = False

    def _score(self, pairs: Pairs) -> np.ndarray:
        def ratio(side: Side) -> np.ndarray:
            total = side.lengths - side.count_flag(WHITE_SPACE) if self.exclude_whitespace else side.lengths
            return _fraction(side.count_flag(ALPHABETIC), total)

        return np.minimum(ratio(pairs.src), ratio(pairs.tgt))

    def accept(self, scores: np.ndarray) -> np.ndarray:
        return scores >= self.threshold


class CharacterScoreFilter(BitextFilter):
    """At least ``threshold`` of each side's letters in the script of its language
    (OpusFilter ``CharacterScoreFilter``).

    The script comes from each pair's FLORES code (``rus_Cyrl`` → Cyrillic, ``jpn_Jpan`` →
    Han + Hiragana + Katakana; see :mod:`mtforge.curate.scripts`) instead of a configured
    script list. Score: the lower of the sides' fractions of alphabetic characters in that
    script; a side without alphabetic characters scores 1.0. Default threshold 1, as
    OpusFilter's.
    """

    name = "character_score"
    threshold: float = Field(1.0, ge=0, le=1)

    def _score(self, pairs: Pairs) -> np.ndarray:
        def ratio(side: Side) -> np.ndarray:
            alphabetic = (side.flags & ALPHABETIC) != 0
            return _fraction(side.sums(alphabetic & side.in_script), side.sums(alphabetic))

        return np.minimum(ratio(pairs.src), ratio(pairs.tgt))

    def accept(self, scores: np.ndarray) -> np.ndarray:
        return scores >= self.threshold
