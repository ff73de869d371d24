"""Corpus-level BLEU and chrF++ of one direction with sacrebleu (used in training and evaluation)."""

from __future__ import annotations

from sacrebleu.metrics import BLEU, CHRF

from mtforge.tracking import Score


def score_direction(direction: str, hyps: list[str], refs: list[str], tokenize: str = "13a") -> Score:
    """BLEU (``tokenize``) and chrF++ (word order 2) of ``hyps`` against one reference each."""
    bleu, chrf = BLEU(tokenize=tokenize), CHRF(word_order=2)
    b, c = bleu.corpus_score(hyps, [refs]), chrf.corpus_score(hyps, [refs])
    return Score(direction=direction, bleu=round(b.score, 2), chrf=round(c.score, 2),
                 bleu_signature=str(bleu.get_signature()), chrf_signature=str(chrf.get_signature()),
                 n_segments=len(hyps))
