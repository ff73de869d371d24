"""Filters that compare the two sides of a pair: ``terminal_punctuation``,
``non_zero_numerals`` and ``identical``."""

from __future__ import annotations

import difflib
import unicodedata
from functools import lru_cache

import numpy as np
from pydantic import Field

from mtforge.curate import scripts
from mtforge.curate.filters.base import BitextFilter
from mtforge.curate.filters.batch import NON_ZERO_DIGIT, TERMINAL, Pairs, Side


class TerminalPunctuationFilter(BitextFilter):
    """Sides end (and stop) alike (OpusFilter ``TerminalPunctuationFilter``).

    With ``s`` and ``t`` the counts of ``. ? ! …`` on the two sides, score
    ``-log(1 + |s - t| + max(s - 1, 0) + max(t - 1, 0))`` (0 is best).
    """

    name = "terminal_punctuation"
    threshold: float = -2

    def _score(self, pairs: Pairs) -> np.ndarray:
        src, tgt = (side.count_flag(TERMINAL) for side in pairs.sides)
        penalty = np.abs(src - tgt) + np.maximum(src - 1, 0) + np.maximum(tgt - 1, 0)
        return -np.log(penalty + 1.0)

    def accept(self, scores: np.ndarray) -> np.ndarray:
        return scores >= self.threshold


class NonZeroNumeralsFilter(BitextFilter):
    """The sides carry the same numbers (OpusFilter ``NonZeroNumeralsFilter``).

    Score: ``difflib.SequenceMatcher`` ratio between the sides' sequences of the ASCII digits
    1-9 (zeros dropped, so 1,000 and 1000 agree); 1.0 when neither side has any. With
    ``unicode_digits`` every Unicode decimal digit counts by its value (Arabic-Indic ``٣`` is
    3), which OpusFilter does not do. A number spelled out on one side fails either way.
    """

    name = "non_zero_numerals"
    threshold: float = Field(0.5, ge=0, le=1)
    unicode_digits: bool = False

    def _score(self, pairs: Pairs) -> np.ndarray:
        digits = [_digits(side, self.unicode_digits) for side in pairs.sides]
        counts = [side.sums(digit > 0) for side, digit in zip(pairs.sides, digits)]
        rows = np.flatnonzero(counts[0] + counts[1])
        scores = np.ones(len(pairs))
        for row, a, b in zip(rows, *(_digit_strings(digit, count, rows) for digit, count in zip(digits, counts))):
            if a != b or len(b) >= 200:  # SequenceMatcher's autojunk may split long equal runs
                scores[row] = difflib.SequenceMatcher(None, a, b).ratio()
        return scores

    def accept(self, scores: np.ndarray) -> np.ndarray:
        return scores >= self.threshold


@lru_cache(maxsize=1)
def _decimal_values() -> np.ndarray:
    """uint8 per codepoint: its value as a Unicode decimal digit, 0 for other characters."""
    values = np.zeros(0x110000, np.uint8)
    digits = scripts.property_codepoints(r"\p{Nd}")
    values[digits] = [unicodedata.decimal(chr(code), 0) for code in digits.tolist()]
    return values


def _digits(side: Side, unicode_digits: bool) -> np.ndarray:
    """uint8 per codepoint: its value when it is a digit 1-9 the filter counts, else 0."""
    if unicode_digits:
        return _decimal_values()[side.codepoints]
    counted = (side.flags & NON_ZERO_DIGIT) != 0
    digits = np.zeros(len(counted), np.uint8)
    digits[counted] = side.codepoints[counted] - ord("0")
    return digits


def _digit_strings(digits: np.ndarray, counts: np.ndarray, rows: np.ndarray) -> list[str]:
    """The non-zero ``digits`` (see :func:`_digits`; ``counts`` of them per text) of the texts
    at ``rows``, in order, as strings."""
    text = (digits[digits > 0] + ord("0")).astype(np.uint8).tobytes().decode("ascii")
    ends = np.cumsum(counts)
    starts = ends - counts
    return [text[start:end] for start, end in zip(starts[rows].tolist(), ends[rows].tolist())]


@lru_cache(maxsize=1)
def _fold_hashes() -> np.ndarray:
    """uint64 per codepoint: for a letter (``str.isalpha``), the sum of a 64-bit hash of each
    character of its ``casefold()``; 0 otherwise. Equal case-folded letter sequences have equal
    sums."""
    text, codepoints = scripts.all_characters()
    letters = [(code, char.casefold()) for code, char in zip(codepoints.tolist(), text) if char.isalpha()]
    folded = "".join(fold for _, fold in letters)
    hashed = _mix(np.frombuffer(folded.encode("utf-32-le"), "<u4").astype(np.uint64))
    starts = np.concatenate([[0], np.cumsum([len(fold) for _, fold in letters])[:-1]])
    table = np.zeros(0x110000, np.uint64)
    table[[code for code, _ in letters]] = np.add.reduceat(hashed, starts)
    return table


def _mix(values: np.ndarray) -> np.ndarray:
    """A 64-bit integer hash (splitmix64's finaliser) of each uint64."""
    with np.errstate(over="ignore"):
        values = (values + np.uint64(0x9E3779B97F4A7C15)) * np.uint64(0xBF58476D1CE4E5B9)
        values ^= values >> np.uint64(31)
        return values * np.uint64(0x94D049BB133111EB)


def same_letters(a: str, b: str) -> bool:
    """bicleaner-hardrules' ``c_no_identical`` test: the letters (``str.isalpha``) of ``a``
    and ``b``, case-folded, are the same sequence."""
    return "".join(filter(str.isalpha, a)).casefold() == "".join(filter(str.isalpha, b)).casefold()


class IdenticalFilter(BitextFilter):
    """The sides differ in their letters (bicleaner-hardrules ``c_no_identical``).

    Score: 1 when the two sides' letters, case-folded, are the same sequence (digits,
    punctuation and spaces ignored), else 0. Pairs whose letter hashes differ are never
    compared in Python.
    """

    name = "identical"

    def _score(self, pairs: Pairs) -> np.ndarray:
        src, tgt = (side.sums(_fold_hashes()[side.codepoints]) for side in pairs.sides)
        rows = np.flatnonzero(src == tgt)
        scores = np.zeros(len(pairs))
        scores[rows] = [same_letters(a, b) for a, b in zip(pairs.src.strings(rows), pairs.tgt.strings(rows))]
        return scores

    def accept(self, scores: np.ndarray) -> np.ndarray:
        return scores == 0
