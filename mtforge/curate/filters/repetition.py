"""Repeated-substring filter: ``repetition``."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
import regex
from pydantic import Field, field_validator

from mtforge.curate.filters.base import BitextFilter
from mtforge.curate.filters.batch import Pairs, Side


class RepetitionFilter(BitextFilter):
    """No substring repeated ``threshold`` more times in a row (OpusFilter
    ``RepetitionFilter``).

    Repetitions are found with OpusFilter's expression ``(\\S.{min-1,max}?)(?: *\\1){threshold,}``
    on each side; score: the higher of the sides' repetition counts of the first such match
    (0 without one, so never between 0 and ``threshold``). Only texts that a numpy pre-check
    over all texts finds able to match (:func:`_has_power`) are searched.
    """

    name = "repetition"
    threshold: int = Field(2, ge=1)
    min_length: int = Field(3, ge=1)
    max_length: int = 100

    @field_validator("max_length")
    @classmethod
    def _max_not_below_min(cls, value: int, info: Any) -> int:
        if value < info.data.get("min_length", 1):
            raise ValueError(f"max_length must not be below min_length ({info.data['min_length']})")
        return value

    @cached_property
    def _pattern(self) -> regex.Pattern:
        return regex.compile(rf"(\S.{{{self.min_length - 1},{self.max_length}}}?)(?: *\1){{{self.threshold},}}")

    def repetitions(self, text: str) -> int:
        """How many times the first repeated substring of ``text`` repeats (0 if none)."""
        match = self._pattern.search(text)
        return match.group(0).count(match.group(1)) - 1 if match else 0

    def _score(self, pairs: Pairs) -> np.ndarray:
        scores = np.zeros(len(pairs))
        for side in pairs.sides:
            rows = np.flatnonzero(_has_power(side, self.threshold + 1, self.max_length + 1, self.min_length))
            found = np.array([self.repetitions(text) for text in side.strings(rows)], dtype=np.float64)
            scores[rows] = np.maximum(scores[rows], found)
        return scores

    def accept(self, scores: np.ndarray) -> np.ndarray:
        return scores < self.threshold


def _has_power(side: Side, copies: int, max_period: int, min_length: int) -> np.ndarray:
    """Bool per text: it may hold ``copies`` copies in a row of one string ``X`` of
    ``min_length`` to ``max_period`` characters, separated by U+0020 spaces only — every text
    that does is flagged, a few that do not may be.

    With spaces removed, such copies are ``copies`` consecutive copies of ``X`` without its
    spaces (``q`` characters, 1 <= q <= ``max_period``): ``(copies - 1) * q`` consecutive
    positions ``i`` with ``c[i] == c[i + q]``. When ``q < min_length``, ``X`` holds at least
    ``min_length - q`` spaces, so the first ``copies - 1`` copies hold that many each. Each
    period is checked over the texts at least ``copies * q`` characters long: laid out longest
    first, those are a prefix.
    """
    kept = np.flatnonzero(side.codepoints != ord(" "))
    lengths = side.sums(side.codepoints != ord(" "))
    order = np.argsort(-lengths, kind="stable")
    sorted_lengths = lengths[order]
    starts = np.concatenate([[0], np.cumsum(lengths)])[:-1][order]
    offsets = np.concatenate([[0], np.cumsum(sorted_lengths)])
    where = kept[np.repeat(starts - offsets[:-1], sorted_lengths) + np.arange(offsets[-1])]
    chars = side.codepoints[where]
    found = np.zeros(len(side), bool)
    for period in range(1, max_period + 1):
        long_enough = np.searchsorted(-sorted_lengths, -copies * period, "right")
        if not long_enough:
            break
        end = offsets[long_enough]
        same = np.flatnonzero(chars[:end - period] == chars[period:end])
        run = (copies - 1) * period
        if len(same) < run:
            continue
        first = same[:len(same) - run + 1]
        first = first[same[run - 1:] - first == run - 1]
        if period < min_length:
            spaces = where[first + copies * period - 1] - where[first] - (copies * period - 1)
            first = first[spaces >= (copies - 1) * (min_length - period)]
        found[order[np.searchsorted(offsets, first, "right") - 1]] = True
    return found
