"""Paired bootstrap resampling (sacrebleu's) between a baseline and a candidate system.

For every (test set, direction) both evaluations scored, the candidate's and the baseline's
hypotheses of the same references are resampled together (``n_samples`` times, sacrebleu's
fixed seed unless ``SACREBLEU_SEED`` says otherwise), giving each system's bootstrap mean with
a 95 % confidence interval and the p-value of the difference. Identical corpus scores get
p = 1 (sacrebleu's test would give identical systems its smallest p-value, 1 / (n + 1)).
"""

from __future__ import annotations

from dataclasses import dataclass

from sacrebleu.metrics import BLEU, CHRF, TER
from sacrebleu.significance import PairedTest

from mtforge.errors import ConfigError, CorpusFormatError
from mtforge.evaluation.metrics import check_aligned
from mtforge.evaluation.results import HIGHER_IS_BETTER, Evaluation

ALPHA = 0.05
_SACREBLEU_NAMES = {"bleu": "BLEU", "chrf": "chrF2++", "ter": "TER"}


@dataclass(frozen=True)
class Comparison:
    """Candidate versus baseline on one (test set, direction, metric)."""

    testset: str
    direction: str
    metric: str
    baseline: float  # corpus score
    candidate: float
    baseline_mean: float  # bootstrap mean ± 95 % CI half-width
    baseline_ci: float
    candidate_mean: float
    candidate_ci: float
    p_value: float

    @property
    def delta(self) -> float:
        """Candidate minus baseline (corpus scores)."""
        return round(self.candidate - self.baseline, 2)

    @property
    def significant(self) -> bool:
        return self.p_value < ALPHA

    @property
    def regression(self) -> bool:
        """Significantly worse than the baseline (lower BLEU/chrF++, higher TER)."""
        worse = self.delta < 0 if HIGHER_IS_BETTER[self.metric] else self.delta > 0
        return self.significant and worse

    @property
    def mark(self) -> str:
        """``+``/``-`` for a significant improvement/regression, empty otherwise."""
        if not self.significant or self.delta == 0:
            return ""
        return "-" if self.regression else "+"


def _sacrebleu_metric(name: str, tokenize: str):
    if name == "bleu" and tokenize not in BLEU.TOKENIZERS:
        raise ConfigError(f"unknown BLEU tokenizer {tokenize!r}; sacrebleu's: {', '.join(BLEU.TOKENIZERS)}")
    return {"bleu": lambda: BLEU(tokenize=tokenize), "chrf": lambda: CHRF(word_order=2), "ter": TER}[name]()


def _num(value) -> float:
    """A plain, rounded ``float`` (sacrebleu hands back numpy scalars, which JSON cannot write)."""
    return round(float(value), 2)


def paired_bootstrap(baseline: list[str], candidate: list[str], refs: list[str], *, testset: str, direction: str,
                     metrics: tuple[str, ...] = ("bleu", "chrf"), n_samples: int = 1000,
                     tokenize: str = "13a") -> list[Comparison]:
    """One :class:`Comparison` per metric of ``candidate`` against ``baseline`` on ``refs``
    (line-aligned; :class:`CorpusFormatError` otherwise or when there is nothing to compare)."""
    check_aligned(baseline, refs, f"baseline hypotheses ({direction}, {testset})", "its references")
    check_aligned(candidate, refs, f"candidate hypotheses ({direction}, {testset})", "its references")
    if not refs:
        raise CorpusFormatError(f"{testset} {direction}: nothing to compare (0 lines)")
    unknown = sorted(set(metrics) - set(_SACREBLEU_NAMES))
    if unknown:
        raise ConfigError(f"unknown metric(s) {unknown}; known: {', '.join(_SACREBLEU_NAMES)}")
    test = PairedTest([("baseline", baseline), ("candidate", candidate)],
                      {_SACREBLEU_NAMES[m]: _sacrebleu_metric(m, tokenize) for m in metrics}, [refs],
                      test_type="bs", n_samples=n_samples)
    _, results = test()
    out = []
    for m in metrics:
        base, cand = results[_SACREBLEU_NAMES[m]]
        p_value = 1.0 if cand.score == base.score else float(cand.p_value)
        out.append(Comparison(testset=testset, direction=direction, metric=m, baseline=_num(base.score),
                              candidate=_num(cand.score), baseline_mean=_num(base.mean),
                              baseline_ci=_num(base.ci), candidate_mean=_num(cand.mean),
                              candidate_ci=_num(cand.ci), p_value=p_value))
    return out


def compare_evaluations(baseline: Evaluation, candidate: Evaluation, *, metrics: tuple[str, ...] = ("bleu", "chrf"),
                        n_samples: int = 1000) -> list[Comparison]:
    """Paired bootstrap on every (test set, direction) both evaluations hold with the same
    references (a pair whose references differ is a :class:`ConfigError`: the test sets are not
    the same). BLEU uses the tokenizer recorded in the candidate's signature."""
    comparisons = []
    common = sorted(set(baseline.pairs()) & set(candidate.pairs()))
    for testset, direction in common:
        base, cand = baseline.texts(testset, direction), candidate.texts(testset, direction)
        if base.ref != cand.ref:
            raise ConfigError(f"{testset} {direction}: the references in {baseline.root} and {candidate.root} "
                              "differ, so the systems cannot be compared on it")
        signature = next((s.signature for s in candidate.scores
                          if (s.metric, s.testset, s.direction) == ("bleu", testset, direction)), "")
        tokenize = next((part.split(":", 1)[1] for part in signature.split("|") if part.startswith("tok:")), "13a")
        comparisons += paired_bootstrap(base.hyp, cand.hyp, cand.ref, testset=testset, direction=direction,
                                        metrics=metrics, n_samples=n_samples, tokenize=tokenize)
    return comparisons
