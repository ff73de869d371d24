"""Filtering of teacher translations (stopes §5.3 "Bitext Filtering", plus QE).

Each pair of one direction gets the first reason that applies, in :data:`REASONS` order:

* ``empty``: the source or the translation is blank;
* ``wrong_language``: the language identifier's top answer for the translation is not the
  target language (the language part of the FLORES code is compared) or its probability is
  below ``lid_threshold``;
* ``length_ratio``: the longer side has more than ``max_length_ratio`` times the tokens of the
  shorter (tokens as the ``clean`` stage counts them);
* ``low_qe``: the quality estimate is below the cut — a threshold, or a percentile of the
  direction's scores among the pairs that passed the checks before it.

The quality estimate is computed only for the pairs that reach it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mtforge.curate.lid import LanguageIdentifier
from mtforge.langcodes import is_spaceless
from mtforge.synth.qe import QualityEstimator, cut_value, select

#: Drop reasons, in the order they are tested.
REASONS = ("empty", "wrong_language", "length_ratio", "low_qe")


@dataclass(frozen=True)
class Decisions:
    """Per pair the drop reason (None: kept) and the score of the check that decided it (the
    LID probability of the target language, the length ratio or the QE score; NaN for
    ``empty``), the QE scores (NaN where not estimated) and the QE cut (None: no cut)."""

    reasons: np.ndarray
    reason_scores: np.ndarray
    qe_scores: np.ndarray
    qe_cut: float | None

    @property
    def kept(self) -> np.ndarray:
        return np.array([r is None for r in self.reasons], dtype=bool)


def _language(code: str) -> str:
    return code.split("_", 1)[0]


def tokens(text: str, lang: str) -> int:
    """Tokens as the ``clean`` stage counts them: whitespace-separated words, or non-space
    characters in a script written without spaces (:func:`mtforge.langcodes.is_spaceless`)."""
    return sum(not c.isspace() for c in text) if is_spaceless(lang) else len(text.split())


def _undecided(reasons: np.ndarray) -> np.ndarray:
    return np.flatnonzero([reason is None for reason in reasons])


def decide(src: list[str], tgt: list[str], src_lang: str, tgt_lang: str, *,
           identifier: LanguageIdentifier | None = None, lid_threshold: float = 0.0,
           max_length_ratio: float = 3.0, qe: QualityEstimator | None = None, qe_threshold: float | None = None,
           qe_percentile: float | None = None) -> Decisions:
    """Decide every pair of one direction (see the module docstring). ``identifier=None``
    skips the language check and ``qe=None`` the quality estimate; a QE cut needs ``qe``."""
    n = len(src)
    reasons = np.full(n, None, dtype=object)
    reason_scores = np.full(n, np.nan)
    reasons[[not s.strip() or not t.strip() for s, t in zip(src, tgt)]] = "empty"

    if identifier is not None:
        todo = _undecided(reasons)
        predictions = identifier.predict([tgt[i] for i in todo])
        right = np.array([_language(code) == _language(tgt_lang) for code, _ in predictions], dtype=bool)
        probability = np.array([p for _, p in predictions], dtype=np.float64)
        reasons[todo[~right | (probability < lid_threshold)]] = "wrong_language"
        reason_scores[todo] = np.where(right, probability, 0.0)

    todo = _undecided(reasons)
    src_tokens, tgt_tokens = (np.array([tokens(side[i], lang) for i in todo], dtype=np.float64)
                              for side, lang in ((src, src_lang), (tgt, tgt_lang)))
    ratio = np.maximum(src_tokens, tgt_tokens) / np.maximum(np.minimum(src_tokens, tgt_tokens), 1)
    reasons[todo[ratio > max_length_ratio]] = "length_ratio"
    reason_scores[todo] = ratio

    qe_scores, cut = np.full(n, np.nan), None
    if qe is not None:
        todo = _undecided(reasons)
        scores = qe.score([src[i] for i in todo], [tgt[i] for i in todo], src_lang, tgt_lang)
        cut = cut_value(scores, threshold=qe_threshold, percentile=qe_percentile)
        reasons[todo[~select(scores, threshold=qe_threshold, percentile=qe_percentile)]] = "low_qe"
        qe_scores[todo] = reason_scores[todo] = scores
    return Decisions(reasons, reason_scores, qe_scores, cut)
