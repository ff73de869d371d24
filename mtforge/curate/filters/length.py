"""Length filters: ``length``, ``length_ratio`` and ``long_word``."""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from mtforge.curate.filters.base import BitextFilter
from mtforge.curate.filters.batch import Pairs

Unit = Literal["word", "char", "auto"]


class LengthFilter(BitextFilter):
    """Both sides between ``min`` and ``max`` long (OpusFilter ``LengthFilter``).

    ``unit``: ``word`` (whitespace tokens, ``str.split()``), ``char`` (codepoints) or ``auto``
    (words, but on sides whose script is written without spaces — Chinese, Japanese, Thai, …
    — non-space characters over :data:`scripts.CHARS_PER_WORD`, about an English word each).
    Score: the shorter side's length when it is below ``min``, else the longer side's — the
    side that decides. OpusFilter's ``pass_empty`` is not offered.
    """

    name = "length"
    min: float = 1
    max: float = 100
    unit: Unit = "word"

    @field_validator("max")
    @classmethod
    def _max_not_below_min(cls, value: float, info: Any) -> float:
        if value < info.data.get("min", -math.inf):
            raise ValueError(f"max must not be below min ({info.data['min']})")
        return value

    def _score(self, pairs: Pairs) -> np.ndarray:
        src, tgt = (side.lengths_in(self.unit) for side in pairs.sides)
        shorter, longer = np.minimum(src, tgt), np.maximum(src, tgt)
        return np.where(shorter < self.min, shorter, longer)

    def accept(self, scores: np.ndarray) -> np.ndarray:
        return (scores >= self.min) & (scores <= self.max)


class LengthRatioFilter(BitextFilter):
    """Longer side at most ``threshold`` times the shorter (OpusFilter ``LengthRatioFilter``).

    Score: longer / shorter length in ``unit`` (see :class:`LengthFilter`); ``inf`` when
    exactly one side is empty, 0 when both are.
    """

    name = "length_ratio"
    threshold: float = Field(3, gt=0)
    unit: Unit = "word"

    def _score(self, pairs: Pairs) -> np.ndarray:
        src, tgt = (side.lengths_in(self.unit) for side in pairs.sides)
        shorter, longer = np.minimum(src, tgt), np.maximum(src, tgt)
        ratio = np.where(longer > 0, np.inf, 0.0)
        np.divide(longer, shorter, out=ratio, where=shorter > 0)
        return ratio

    def accept(self, scores: np.ndarray) -> np.ndarray:
        return scores < self.threshold


class LongWordFilter(BitextFilter):
    """No word of ``threshold`` characters or more (OpusFilter ``LongWordFilter``).

    Score: the longest whitespace-separated word of either side, in characters. With
    ``skip_unspaced``, sides whose script is written without spaces score 0 (a "word" there is
    a phrase); OpusFilter has no such option.
    """

    name = "long_word"
    threshold: int = Field(40, ge=1)
    skip_unspaced: bool = False

    def _score(self, pairs: Pairs) -> np.ndarray:
        src, tgt = (np.where(side.chars_per_word > 0, 0, side.longest_words) if self.skip_unspaced
                    else side.longest_words for side in pairs.sides)
        return np.maximum(src, tgt)

    def accept(self, scores: np.ndarray) -> np.ndarray:
        return scores < self.threshold
