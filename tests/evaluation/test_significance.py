"""Paired bootstrap resampling between two systems on real Multi30k references: identical,
clearly worse and clearly better systems, TER's reversed direction, determinism, and
comparisons of two evaluation directories."""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict
from pathlib import Path

import pytest
from sacrebleu.metrics import BLEU, CHRF, TER
from sacrebleu.significance import PairedTest

from mtforge.errors import ConfigError, CorpusFormatError
from mtforge.evaluation.metrics import EmptyHypothesisWarning, score_texts
from mtforge.evaluation.results import Evaluation, Texts, write_scores, write_texts
from mtforge.evaluation.significance import ALPHA, Comparison, compare_evaluations, paired_bootstrap

N, SAMPLES = 100, 200
M30K = "multi30k_test_2016_flickr"
EN_DE, DE_EN, EN_FR = "eng_Latn-deu_Latn", "deu_Latn-eng_Latn", "eng_Latn-fra_Latn"
ALL = ("bleu", "chrf", "ter")


def drop_words(line: str, every: int) -> str:
    """``line`` without every ``every``-th word."""
    return " ".join(w for i, w in enumerate(line.split(), 1) if i % every)


@pytest.fixture(scope="module")
def lines(shared_data: Path) -> dict[str, list[str]]:
    return {iso: (shared_data / "multi30k" / f"test_2016_flickr.{iso}").read_text(encoding="utf-8").splitlines()[:N]
            for iso in ("en", "de", "fr")}


@pytest.fixture(scope="module")
def refs(lines: dict[str, list[str]]) -> list[str]:
    return lines["de"]


@pytest.fixture(scope="module")
def system(refs: list[str]) -> list[str]:
    """A decent system: every fifth word of the reference missing."""
    return [drop_words(r, 5) for r in refs]


@pytest.fixture(scope="module")
def worse(refs: list[str]) -> list[str]:
    """A clearly worse one: half the words missing."""
    return [drop_words(r, 2) for r in refs]


def by_metric(comparisons: list[Comparison]) -> dict[str, Comparison]:
    return {c.metric: c for c in comparisons}


def test_identical_systems_are_not_significantly_different(system: list[str], refs: list[str]) -> None:
    result = by_metric(paired_bootstrap(system, list(system), refs, testset=M30K, direction=EN_DE, metrics=ALL,
                                        n_samples=SAMPLES))
    assert list(result) == list(ALL)
    for c in result.values():
        assert c.delta == 0 and c.baseline == c.candidate
        assert c.p_value == 1.0
        assert not c.significant and not c.regression and c.mark == ""
        assert (c.baseline_mean, c.baseline_ci) == (c.candidate_mean, c.candidate_ci)


def test_clearly_worse_system_is_a_regression(system: list[str], worse: list[str], refs: list[str]) -> None:
    result = by_metric(paired_bootstrap(system, worse, refs, testset=M30K, direction=EN_DE, metrics=ALL,
                                        n_samples=SAMPLES))
    for name, metric in (("bleu", BLEU()), ("chrf", CHRF(word_order=2)), ("ter", TER())):
        c = result[name]
        # Corpus scores are sacrebleu's own.
        assert c.baseline == round(metric.corpus_score(system, [refs]).score, 2)
        assert c.candidate == round(metric.corpus_score(worse, [refs]).score, 2)
        assert c.delta == round(c.candidate - c.baseline, 2)
        assert c.p_value < ALPHA and c.significant
        assert c.regression and c.mark == "-"
        assert (c.testset, c.direction) == (M30K, EN_DE)
        # Bootstrap means lie near the corpus scores, with positive CI half-widths.
        for score, mean, ci in ((c.baseline, c.baseline_mean, c.baseline_ci),
                                (c.candidate, c.candidate_mean, c.candidate_ci)):
            assert ci > 0 and abs(mean - score) < 2 * ci + 0.5
    assert result["bleu"].delta < 0 and result["chrf"].delta < 0
    assert result["ter"].delta > 0  # more edits: TER went up, which is worse


def test_clearly_better_system_is_an_improvement(system: list[str], worse: list[str], refs: list[str]) -> None:
    result = by_metric(paired_bootstrap(worse, system, refs, testset=M30K, direction=EN_DE, metrics=ALL,
                                        n_samples=SAMPLES))
    for c in result.values():
        assert c.significant and not c.regression and c.mark == "+"
    assert result["bleu"].delta > 0 and result["chrf"].delta > 0 and result["ter"].delta < 0


def test_a_small_difference_on_few_lines_is_not_significant(system: list[str], refs: list[str]) -> None:
    candidate = list(system)
    candidate[7] = drop_words(candidate[7], 2)  # one sentence slightly worse
    for c in paired_bootstrap(system, candidate, refs, testset=M30K, direction=EN_DE, metrics=ALL, n_samples=SAMPLES):
        assert c.delta != 0 and not c.significant and c.mark == "" and not c.regression


@pytest.mark.parametrize(("metric", "baseline", "candidate", "p_value", "regression", "mark"), [
    ("bleu", 30.0, 28.0, 0.01, True, "-"),
    ("bleu", 30.0, 32.0, 0.01, False, "+"),
    ("chrf", 50.0, 49.0, 0.01, True, "-"),
    ("ter", 50.0, 52.0, 0.01, True, "-"),   # TER: lower is better
    ("ter", 50.0, 48.0, 0.01, False, "+"),
    ("bleu", 30.0, 28.0, 0.2, False, ""),   # not significant: no mark either way
    ("ter", 50.0, 52.0, 0.2, False, ""),
    ("bleu", 30.0, 30.0, 0.01, False, ""),  # significant but no difference in the corpus score
    ("bleu", 30.0, 28.0, ALPHA, False, ""),  # p must be below alpha
])
def test_comparison_semantics(metric: str, baseline: float, candidate: float, p_value: float, regression: bool,
                              mark: str) -> None:
    c = Comparison("t", EN_DE, metric, baseline, candidate, baseline, 1.0, candidate, 1.0, p_value)
    assert c.delta == round(candidate - baseline, 2)
    assert c.significant == (p_value < ALPHA)
    assert c.regression is regression
    assert c.mark == mark


def test_deterministic_and_equal_to_sacrebleu_paired_test(system: list[str], worse: list[str],
                                                          refs: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SACREBLEU_SEED", raising=False)
    first = paired_bootstrap(system, worse, refs, testset=M30K, direction=EN_DE, metrics=ALL, n_samples=SAMPLES)
    assert paired_bootstrap(system, worse, refs, testset=M30K, direction=EN_DE, metrics=ALL,
                            n_samples=SAMPLES) == first
    # The same as sacrebleu's own paired bootstrap test (fixed seed 12345).
    _, expected = PairedTest([("baseline", system), ("candidate", worse)],
                             {"BLEU": BLEU(), "chrF2++": CHRF(word_order=2), "TER": TER()}, [refs],
                             test_type="bs", n_samples=SAMPLES)()
    for c, name in zip(first, ("BLEU", "chrF2++", "TER")):
        base, cand = expected[name]
        assert c.p_value == pytest.approx(cand.p_value)
        assert c.candidate_mean == round(float(cand.mean), 2) and c.candidate_ci == round(float(cand.ci), 2)
        assert c.baseline_mean == round(float(base.mean), 2) and c.baseline_ci == round(float(base.ci), 2)
    # Another seed resamples differently.
    monkeypatch.setenv("SACREBLEU_SEED", "7")
    reseeded = paired_bootstrap(system, worse, refs, testset=M30K, direction=EN_DE, metrics=ALL, n_samples=SAMPLES)
    assert [c.baseline_mean for c in reseeded] != [c.baseline_mean for c in first]
    assert [c.baseline for c in reseeded] == [c.baseline for c in first]


def test_comparisons_are_plain_json(system: list[str], worse: list[str], refs: list[str]) -> None:
    comparisons = paired_bootstrap(system, worse, refs, testset=M30K, direction=EN_DE, metrics=ALL, n_samples=50)
    rows = json.loads(json.dumps([asdict(c) for c in comparisons]))
    assert [r["metric"] for r in rows] == list(ALL)
    assert all(type(getattr(c, f)) is float for c in comparisons
               for f in ("baseline", "candidate", "baseline_mean", "baseline_ci", "candidate_mean", "candidate_ci",
                         "p_value"))


def test_paired_bootstrap_input_errors(system: list[str], worse: list[str], refs: list[str]) -> None:
    with pytest.raises(CorpusFormatError, match=r"candidate hypotheses \(eng_Latn-deu_Latn, m\) has 99 lines"):
        paired_bootstrap(system, worse[:-1], refs, testset="m", direction=EN_DE, n_samples=SAMPLES)
    with pytest.raises(CorpusFormatError, match=r"baseline hypotheses .* has 101 lines"):
        paired_bootstrap(system + ["x"], worse, refs, testset="m", direction=EN_DE, n_samples=SAMPLES)
    with pytest.raises(ConfigError, match=r"unknown metric\(s\) \['comet'\]"):
        paired_bootstrap(system, worse, refs, testset="m", direction=EN_DE, metrics=("bleu", "comet"))
    with pytest.raises(ConfigError, match=r"unknown BLEU tokenizer 'spacy'"):
        paired_bootstrap(system, worse, refs, testset="m", direction=EN_DE, tokenize="spacy")
    with pytest.raises(CorpusFormatError, match="nothing to compare"):
        paired_bootstrap([], [], [], testset="m", direction=EN_DE)


# ------------------------------------------------------------------------- evaluation directories


def evaluation(root: Path, pairs: dict[tuple[str, str], tuple[list[str], list[str], list[str]]],
               tokenize: str = "13a") -> Evaluation:
    """An evaluation directory holding ``(testset, direction) -> (src, ref, hyp)``, scored for real."""
    root.mkdir(parents=True)
    scores = []
    for (testset, direction), (src, ref, hyp) in pairs.items():
        write_texts(root, testset, direction, Texts(src, ref, hyp))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", EmptyHypothesisWarning)
            scores += score_texts(hyp, ref, testset=testset, direction=direction, tokenize=tokenize)
    write_scores(root, scores)
    return Evaluation(root)


@pytest.fixture(scope="module")
def evaluations(lines: dict[str, list[str]], tmp_path_factory: pytest.TempPathFactory
                ) -> tuple[Evaluation, Evaluation]:
    """A baseline and a candidate sharing (M30K, en-de) and (M30K, de-en); each also has a pair
    the other lacks. The candidate is much worse on en-de and the same on de-en."""
    en, de, fr = lines["en"], lines["de"], lines["fr"]
    root = tmp_path_factory.mktemp("significance")
    baseline = evaluation(root / "baseline", {
        (M30K, EN_DE): (en, de, [drop_words(r, 5) for r in de]),
        (M30K, DE_EN): (de, en, [drop_words(r, 4) for r in en]),
        ("flores200_devtest", EN_DE): (en[:10], de[:10], de[:10]),
    })
    candidate = evaluation(root / "candidate", {
        (M30K, EN_DE): (en, de, [drop_words(r, 2) for r in de]),
        (M30K, DE_EN): (de, en, [drop_words(r, 4) for r in en]),
        (M30K, EN_FR): (en, fr, fr),
    })
    return baseline, candidate


def test_compare_evaluations_on_common_pairs(evaluations: tuple[Evaluation, Evaluation]) -> None:
    baseline, candidate = evaluations
    comparisons = compare_evaluations(baseline, candidate, metrics=ALL, n_samples=SAMPLES)
    assert [(c.testset, c.direction, c.metric) for c in comparisons] == [
        (M30K, DE_EN, m) for m in ALL] + [(M30K, EN_DE, m) for m in ALL]
    for c in comparisons:
        # Corpus scores are the ones each evaluation recorded.
        assert c.baseline == baseline.value(c.metric, c.testset, c.direction)
        assert c.candidate == candidate.value(c.metric, c.testset, c.direction)
        if c.direction == EN_DE:
            assert c.regression and c.mark == "-"
        else:
            assert c.delta == 0 and not c.significant and c.mark == ""
    # Exactly what paired_bootstrap gives on the texts, and the same again on a second call.
    base, cand = baseline.texts(M30K, EN_DE), candidate.texts(M30K, EN_DE)
    direct = paired_bootstrap(base.hyp, cand.hyp, cand.ref, testset=M30K, direction=EN_DE, metrics=ALL,
                              n_samples=SAMPLES)
    assert comparisons[3:] == direct
    assert compare_evaluations(baseline, candidate, metrics=ALL, n_samples=SAMPLES) == comparisons
    # Default metrics: BLEU and chrF++.
    assert {c.metric for c in compare_evaluations(baseline, candidate, n_samples=SAMPLES)} == {"bleu", "chrf"}


def test_compare_evaluations_uses_the_candidates_bleu_tokenizer(lines: dict[str, list[str]],
                                                                tmp_path: Path) -> None:
    en, de = lines["en"], lines["de"]
    baseline = evaluation(tmp_path / "b", {(M30K, EN_DE): (en, de, [drop_words(r, 5) for r in de])}, "char")
    candidate = evaluation(tmp_path / "c", {(M30K, EN_DE): (en, de, [drop_words(r, 3) for r in de])}, "char")
    (c,) = compare_evaluations(baseline, candidate, metrics=("bleu",), n_samples=50)
    assert c.baseline == round(BLEU(tokenize="char").corpus_score(baseline.texts(M30K, EN_DE).hyp, [de]).score, 2)
    assert c.candidate == candidate.value("bleu", M30K, EN_DE)
    assert c.baseline != round(BLEU().corpus_score(baseline.texts(M30K, EN_DE).hyp, [de]).score, 2)


def test_compare_evaluations_with_different_references_names_both(lines: dict[str, list[str]],
                                                                  tmp_path: Path) -> None:
    en, de = lines["en"], lines["de"]
    other_refs = de[1:] + de[:1]
    baseline = evaluation(tmp_path / "run-a", {(M30K, EN_DE): (en, de, de)})
    candidate = evaluation(tmp_path / "run-b", {(M30K, EN_DE): (en, other_refs, de)})
    with pytest.raises(ConfigError) as info:
        compare_evaluations(baseline, candidate, n_samples=50)
    message = str(info.value)
    assert str(tmp_path / "run-a") in message and str(tmp_path / "run-b") in message
    assert M30K in message and EN_DE in message


def test_compare_evaluations_without_common_pairs_is_empty(lines: dict[str, list[str]], tmp_path: Path) -> None:
    en, de, fr = lines["en"], lines["de"], lines["fr"]
    baseline = evaluation(tmp_path / "b", {(M30K, EN_DE): (en, de, de)})
    candidate = evaluation(tmp_path / "c", {(M30K, EN_FR): (en, fr, fr)})
    assert compare_evaluations(baseline, candidate, n_samples=50) == []
