"""Corpus-level BLEU, chrF++ and TER of one direction with sacrebleu, and sentence chrF++."""

from __future__ import annotations

import warnings
from pathlib import Path

from sacrebleu.metrics import BLEU, CHRF, TER

from mtforge.errors import ConfigError, CorpusFormatError, InputNotFoundError
from mtforge.evaluation.results import METRICS, MetricScore


class EmptyHypothesisWarning(UserWarning):
    """Some hypotheses are empty: they are scored (as empty strings) and counted."""


def _metric(name: str, tokenize: str):
    """The sacrebleu metric object of ``name``; :class:`ConfigError` for an unknown metric or tokenizer."""
    if name == "bleu":
        if tokenize not in BLEU.TOKENIZERS:
            raise ConfigError(f"unknown BLEU tokenizer {tokenize!r}; sacrebleu's: {', '.join(BLEU.TOKENIZERS)}")
        return BLEU(tokenize=tokenize)
    if name == "chrf":
        return CHRF(word_order=2)
    if name == "ter":
        return TER()
    raise ConfigError(f"unknown metric {name!r}; known: {', '.join(METRICS)}")


def check_aligned(hyps: list[str], refs: list[str], hyp_name: str, ref_name: str) -> None:
    """Raise :class:`CorpusFormatError` naming both sides unless they have the same length."""
    if len(hyps) != len(refs):
        raise CorpusFormatError(f"{hyp_name} has {len(hyps)} lines but {ref_name} has {len(refs)}; "
                                "hypotheses and references must be line-aligned")


def score_texts(hyps: list[str], refs: list[str], *, testset: str, direction: str, tokenize: str = "13a",
                metrics: tuple[str, ...] = ("bleu", "chrf", "ter"), hyp_name: str = "hypotheses",
                ref_name: str = "references") -> list[MetricScore]:
    """Each of ``metrics`` (bleu with ``tokenize``, chrf = chrF++ i.e. word order 2, ter) over
    aligned ``hyps`` / ``refs``, with sacrebleu's signature.

    Line counts must match (:class:`CorpusFormatError` naming ``hyp_name`` and ``ref_name``).
    Empty hypotheses are scored as they are, counted in ``empty_hypotheses`` and reported with
    an :class:`EmptyHypothesisWarning`.
    """
    check_aligned(hyps, refs, hyp_name, ref_name)
    if not hyps:
        raise CorpusFormatError(f"{hyp_name}: nothing to score (0 lines)")
    scorers = [(name, _metric(name, tokenize)) for name in metrics]
    empty = sum(1 for h in hyps if not h.strip())
    if empty:
        warnings.warn(f"{hyp_name}: {empty} of {len(hyps)} hypotheses are empty ({direction}, {testset}); "
                      "they are scored as empty", EmptyHypothesisWarning, stacklevel=2)
    out = []
    for name, metric in scorers:
        value = metric.corpus_score(hyps, [refs]).score
        out.append(MetricScore(testset=testset, direction=direction, metric=name, value=round(value, 2),
                               signature=str(metric.get_signature()), n_segments=len(hyps),
                               empty_hypotheses=empty))
    return out


def score_files(hyp_file: str | Path, ref_file: str | Path, *, tokenize: str = "13a",
                testset: str = "files", direction: str = "") -> list[MetricScore]:
    """:func:`score_texts` of two UTF-8 files, one segment per line (``\\n`` or ``\\r\\n``
    endings, an optional BOM). A missing file is an :class:`InputNotFoundError`, invalid UTF-8 a
    :class:`CorpusFormatError`, both naming the file."""
    def lines(path: str | Path) -> list[str]:
        if not Path(path).is_file():
            raise InputNotFoundError(f"{path}: no such file")
        data = Path(path).read_bytes()
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise CorpusFormatError(f"{path}:{line}: not UTF-8 ({exc.reason})") from None
        rows = text.split("\n")[:-1] if text.endswith("\n") else text.split("\n") if text else []
        return [row.removesuffix("\r") for row in rows]

    return score_texts(lines(hyp_file), lines(ref_file), testset=testset, direction=direction, tokenize=tokenize,
                       hyp_name=str(hyp_file), ref_name=str(ref_file))


def sentence_chrf(hyps: list[str], refs: list[str]) -> list[float]:
    """Sentence-level chrF++ of each aligned pair (:class:`CorpusFormatError` unless aligned)."""
    check_aligned(hyps, refs, "hypotheses", "references")
    metric = CHRF(word_order=2)
    return [metric.sentence_score(h, [r]).score for h, r in zip(hyps, refs)]
