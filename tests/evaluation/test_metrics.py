"""Corpus BLEU / chrF++ / TER and sentence chrF++ on real Multi30k lines, checked against
sacrebleu called directly (scores and signatures), plus the errors and warnings users see."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from sacrebleu.metrics import BLEU, CHRF, TER

from mtforge.errors import ConfigError, CorpusFormatError, InputNotFoundError
from mtforge.evaluation.metrics import EmptyHypothesisWarning, score_files, score_texts, sentence_chrf
from mtforge.evaluation.results import MetricScore

N = 200
TESTSET, DIRECTION = "multi30k_test_2016_flickr", "eng_Latn-deu_Latn"


def drop_words(line: str, every: int) -> str:
    """``line`` without every ``every``-th word (a deterministic corruption)."""
    return " ".join(w for i, w in enumerate(line.split(), 1) if i % every)


@pytest.fixture(scope="module")
def refs(shared_data: Path) -> list[str]:
    return (shared_data / "multi30k" / "test_2016_flickr.de").read_text(encoding="utf-8").splitlines()[:N]


@pytest.fixture(scope="module")
def hyps(refs: list[str]) -> list[str]:
    """Graded corruptions of the references, some lines swapped with their neighbour."""
    out = [drop_words(r, 3 + i % 4) for i, r in enumerate(refs)]
    for i in range(0, N - 1, 10):
        out[i], out[i + 1] = out[i + 1], out[i]
    return out


def by_metric(scores: list[MetricScore]) -> dict[str, MetricScore]:
    return {s.metric: s for s in scores}


def write(path: Path, lines: list[str], *, newline: str = "\n", bom: bool = False) -> Path:
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + "".join(line + newline for line in lines).encode())
    return path


def test_scores_equal_sacrebleu_directly(hyps: list[str], refs: list[str]) -> None:
    scores = by_metric(score_texts(hyps, refs, testset=TESTSET, direction=DIRECTION))
    assert list(scores) == ["bleu", "chrf", "ter"]
    for name, metric in (("bleu", BLEU(tokenize="13a")), ("chrf", CHRF(word_order=2)), ("ter", TER())):
        score = scores[name]
        expected = metric.corpus_score(hyps, [refs])
        assert score.value == round(expected.score, 2)
        assert score.signature == str(metric.get_signature())
        assert (score.testset, score.direction, score.n_segments, score.empty_hypotheses) == (
            TESTSET, DIRECTION, N, 0)
        assert score.key == f"{name}.{DIRECTION}.{TESTSET}"
    assert "tok:13a" in scores["bleu"].signature
    assert "nw:2" in scores["chrf"].signature  # chrF++: word bigrams
    assert "tok:tercom" in scores["ter"].signature
    # A sanity check on the values themselves: corrupted but related text.
    assert 10 < scores["bleu"].value < 90 and 30 < scores["chrf"].value < 95 and 5 < scores["ter"].value < 80


@pytest.mark.parametrize("tokenize", ["char", "intl", "none"])
def test_other_bleu_tokenizers(hyps: list[str], refs: list[str], tokenize: str) -> None:
    (bleu,) = score_texts(hyps, refs, testset=TESTSET, direction=DIRECTION, tokenize=tokenize, metrics=("bleu",))
    metric = BLEU(tokenize=tokenize)
    assert bleu.value == round(metric.corpus_score(hyps, [refs]).score, 2)
    assert bleu.signature == str(metric.get_signature())
    assert f"tok:{tokenize}" in bleu.signature
    if tokenize == "char":
        (bleu_13a,) = score_texts(hyps, refs, testset=TESTSET, direction=DIRECTION, metrics=("bleu",))
        assert bleu.value != bleu_13a.value


def test_perfect_and_metric_subset(refs: list[str]) -> None:
    scores = by_metric(score_texts(refs, refs, testset=TESTSET, direction=DIRECTION, metrics=("ter", "bleu")))
    assert list(scores) == ["ter", "bleu"]  # in the order asked for
    assert scores["bleu"].value == 100.0 and scores["ter"].value == 0.0


def test_unknown_metric_or_tokenizer_is_a_config_error(hyps: list[str], refs: list[str]) -> None:
    with pytest.raises(ConfigError, match=r"unknown metric 'comet'.*bleu, chrf, ter"):
        score_texts(hyps, refs, testset=TESTSET, direction=DIRECTION, metrics=("bleu", "comet"))
    with pytest.raises(ConfigError, match=r"unknown BLEU tokenizer 'spacy'.*13a"):
        score_texts(hyps, refs, testset=TESTSET, direction=DIRECTION, tokenize="spacy")


def test_line_count_mismatch_names_both_sides(hyps: list[str], refs: list[str]) -> None:
    with pytest.raises(CorpusFormatError, match=r"my hyps has 199 lines but my refs has 200"):
        score_texts(hyps[:-1], refs, testset=TESTSET, direction=DIRECTION, hyp_name="my hyps", ref_name="my refs")


def test_score_files_mismatch_names_both_files(hyps: list[str], refs: list[str], tmp_path: Path) -> None:
    hyp_file, ref_file = write(tmp_path / "sys.hyp", hyps[:-3]), write(tmp_path / "test.ref", refs)
    with pytest.raises(CorpusFormatError) as info:
        score_files(hyp_file, ref_file)
    message = str(info.value)
    assert str(hyp_file) in message and str(ref_file) in message
    assert "197" in message and "200" in message


def test_score_files_equals_score_texts(hyps: list[str], refs: list[str], tmp_path: Path) -> None:
    expected = score_texts(hyps, refs, testset="files", direction="", hyp_name="h", ref_name="r")
    hyp_file, ref_file = write(tmp_path / "sys.hyp", hyps), write(tmp_path / "test.ref", refs)
    assert score_files(hyp_file, ref_file) == expected
    assert score_files(str(hyp_file), str(ref_file)) == expected
    # Windows line endings and a byte-order mark read the same lines.
    crlf = write(tmp_path / "crlf.hyp", hyps, newline="\r\n", bom=True)
    assert score_files(crlf, ref_file) == expected
    # A last line without a newline is still a line.
    no_final_newline = tmp_path / "nofinal.hyp"
    no_final_newline.write_text("\n".join(hyps), encoding="utf-8")
    assert score_files(no_final_newline, ref_file) == expected
    labelled = score_files(hyp_file, ref_file, tokenize="char", testset="mine", direction=DIRECTION)
    assert {(s.testset, s.direction) for s in labelled} == {("mine", DIRECTION)}
    assert "tok:char" in labelled[0].signature


def test_score_files_missing_or_undecodable_file_is_named(refs: list[str], tmp_path: Path) -> None:
    ref_file = write(tmp_path / "test.ref", refs)
    with pytest.raises(InputNotFoundError, match="nope.hyp"):
        score_files(tmp_path / "nope.hyp", ref_file)
    latin1 = tmp_path / "latin1.hyp"
    latin1.write_bytes(b"ok\nstill ok\nGr\xfc\xdfe\n")
    with pytest.raises(CorpusFormatError, match=r"latin1.hyp:3: not UTF-8"):
        score_files(latin1, ref_file)


def test_empty_hypotheses_are_scored_counted_and_warned(hyps: list[str], refs: list[str]) -> None:
    with_empty = list(hyps)
    with_empty[3], with_empty[50], with_empty[51] = "", "   ", ""
    with pytest.warns(EmptyHypothesisWarning, match=r"3 of 200 hypotheses are empty") as record:
        scores = by_metric(score_texts(with_empty, refs, testset=TESTSET, direction=DIRECTION))
    assert len(record) == 1  # one warning per call, not per metric
    assert DIRECTION in str(record[0].message) and TESTSET in str(record[0].message)
    for name, metric in (("bleu", BLEU()), ("chrf", CHRF(word_order=2)), ("ter", TER())):
        assert scores[name].empty_hypotheses == 3
        assert scores[name].n_segments == N
        assert scores[name].value == round(metric.corpus_score(with_empty, [refs]).score, 2)
    full = by_metric(score_texts(hyps, refs, testset=TESTSET, direction=DIRECTION))
    assert scores["bleu"].value < full["bleu"].value and scores["ter"].value > full["ter"].value


def test_no_warning_without_empty_hypotheses(hyps: list[str], refs: list[str]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        score_texts(hyps, refs, testset=TESTSET, direction=DIRECTION)


def test_empty_files_from_score_files_warn_and_count(refs: list[str], tmp_path: Path) -> None:
    hyp_file, ref_file = write(tmp_path / "empty-lines.hyp", [""] * 5), write(tmp_path / "r", refs[:5])
    with pytest.warns(EmptyHypothesisWarning, match="empty-lines.hyp: 5 of 5"):
        scores = by_metric(score_files(hyp_file, ref_file))
    assert scores["bleu"].value == 0.0 and scores["bleu"].empty_hypotheses == 5


def test_nothing_to_score_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusFormatError, match=r"system output: nothing to score \(0 lines\)"):
        score_texts([], [], testset=TESTSET, direction=DIRECTION, hyp_name="system output")
    empty_hyp, empty_ref = tmp_path / "empty.hyp", tmp_path / "empty.ref"
    empty_hyp.write_text("", encoding="utf-8")
    empty_ref.write_text("", encoding="utf-8")
    with pytest.raises(CorpusFormatError, match=r"empty.hyp: nothing to score"):
        score_files(empty_hyp, empty_ref)


def test_sentence_chrf_equals_sacrebleu(hyps: list[str], refs: list[str]) -> None:
    metric = CHRF(word_order=2)
    scores = sentence_chrf(hyps, refs)
    assert scores == [metric.sentence_score(h, [r]).score for h, r in zip(hyps, refs)]
    assert sentence_chrf(refs[:3], refs[:3]) == [100.0] * 3
    assert sentence_chrf([""], [refs[0]]) == [0.0]
    with pytest.raises(CorpusFormatError, match="hypotheses has 2 lines but references has 3"):
        sentence_chrf(hyps[:2], refs[:3])
