"""Decontamination against FLORES-200, NTREX-128 and TICO-19 (and a user's set) on real data."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from mtforge.curate.decontam import Decontaminator, DecontamReport, Match, diff_ratio
from mtforge.curate.evalsets import EvalSet, load_eval_sets, load_user_eval_set
from mtforge.errors import ConfigError

REFERENCE = ["flores200-dev", "flores200-devtest", "ntrex128", "tico19"]


@pytest.fixture(scope="module")
def eval_sets(shared_data: Path) -> dict[str, EvalSet]:
    return load_eval_sets(shared_data, REFERENCE)


@pytest.fixture(scope="module")
def decontam(eval_sets: dict[str, EvalSet]) -> Decontaminator:
    return Decontaminator(eval_sets)


@pytest.fixture(scope="module")
def captions(shared_data: Path) -> list[str]:
    return (shared_data / "multi30k" / "train.en").read_text(encoding="utf-8").splitlines()


def sentences(eval_sets: dict[str, EvalSet], benchmark: str, lang: str) -> list[str]:
    return [text for code, text in eval_sets[benchmark] if code == lang]


def test_flores_sentence_exact_and_lowercased(decontam: Decontaminator, eval_sets: dict[str, EvalSet]) -> None:
    sentence = sentences(eval_sets, "flores200-devtest", "eng_Latn")[10]
    found = decontam.match([sentence, sentence.lower().replace(",", "").rstrip(".")])
    for match in found:
        assert match is not None and match.method == "exact" and match.ratio == 1.0
        assert match.benchmark == "flores200-devtest"
        assert eval_sets["flores200-devtest"][match.eval_index] == ("eng_Latn", sentence)


def test_flores_sentence_with_changed_words_or_inside_a_paragraph(
    decontam: Decontaminator, eval_sets: dict[str, EvalSet], captions: list[str]
) -> None:
    english = sentences(eval_sets, "flores200-devtest", "eng_Latn")
    sentence = next(s for s in english if len(s.split()) >= 25)
    words = sentence.split()
    changed = " ".join(words[:-4] + ["yesterday", "afternoon"] + words[-2:])  # 2 words of 25+ changed
    paragraph = " ".join(captions[:6] + [sentence] + captions[6:10])
    (in_paragraph, with_changes) = decontam.match([paragraph, changed], ["eng_Latn", "eng_Latn"])
    for match in (in_paragraph, with_changes):
        assert match is not None and match.method == "ngram"
        assert match.benchmark == "flores200-devtest" and match.eval_text == sentence
    assert in_paragraph.ratio >= 0.99
    assert 0.5 <= with_changes.ratio < 1.0


def test_chinese_sentence_in_a_paragraph_found_by_characters(
    decontam: Decontaminator, eval_sets: dict[str, EvalSet], shared_data: Path
) -> None:
    tatoeba = (shared_data / "tatoeba_laser" / "tatoeba.cmn-eng.cmn").read_text(encoding="utf-8").splitlines()
    sentence = sentences(eval_sets, "flores200-devtest", "zho_Hans")[5]
    paragraph = "".join(tatoeba[:3]) + sentence + "".join(tatoeba[3:6])
    assert decontam.match(["".join(tatoeba[:6])], ["zho_Hans"]) == [None]
    for langs in (["zho_Hans"], None):
        (match,) = decontam.match([paragraph], langs)
        assert match is not None and match.method == "ngram"
        assert (match.benchmark, match.eval_lang, match.eval_text) == ("flores200-devtest", "zho_Hans", sentence)


def test_matches_are_attributed_to_their_benchmark(decontam: Decontaminator, eval_sets: dict[str, EvalSet]) -> None:
    texts = {name: sentences(eval_sets, name, lang)[200]
             for name, lang in [("ntrex128", "deu_Latn"), ("tico19", "fra_Latn"), ("flores200-dev", "hin_Deva")]}
    found = decontam.match(list(texts.values()))
    assert [m.benchmark if m else None for m in found] == list(texts)


def test_shared_ten_gram_alone_is_not_contamination(decontam: Decontaminator, eval_sets: dict[str, EvalSet]) -> None:
    sentence = next(s for s in sentences(eval_sets, "flores200-devtest", "eng_Latn") if len(s.split()) >= 40)
    quote = " ".join(sentence.split()[:11])
    text = f"Yesterday the newspaper on the kitchen table began with {quote} and nothing more was said."
    assert decontam.match([text], ["eng_Latn"]) == [None]
    # The 11 quoted words do make the sentence a candidate; the diff rejects it.
    (loose,) = Decontaminator({"flores200-devtest": [("eng_Latn", sentence)]}, diff_threshold=0.1).match([text])
    assert loose is not None and loose.method == "ngram" and loose.ratio < 0.5


def test_short_eval_sentence_is_found_by_exact_match_only(decontam: Decontaminator) -> None:
    short = "It's normal."  # NTREX-128, 2 words: no 10-gram
    exact, inside = decontam.match(["it's NORMAL!", f"She shrugged and said: {short} Then she left."])
    assert exact is not None and exact.method == "exact" and exact.benchmark == "ntrex128"
    assert inside is None


def test_multi30k_captions_are_not_flagged(decontam: Decontaminator, captions: list[str]) -> None:
    # Measured: 0 of the 29,000 English Multi30k training captions match FLORES-200 dev/devtest,
    # NTREX-128 or TICO-19 (in any of their languages), with or without a language given.
    report = DecontamReport()
    report.add(captions, decontam.match(captions, ["eng_Latn"] * len(captions)))
    assert report.checked == 29000
    assert report.contaminated <= 3, report.to_markdown()


def test_user_eval_set(tmp_path: Path, captions: list[str]) -> None:
    mine = tmp_path / "holdout.en"
    mine.write_text("\n".join(captions[100:110]) + "\n", encoding="utf-8")
    decontam = Decontaminator({"holdout": load_user_eval_set(mine)})
    found = decontam.match(captions[95:115])
    assert [m is not None for m in found] == [False] * 5 + [True] * 10 + [False] * 5
    assert {m.benchmark for m in found if m} == {"holdout"}


def test_mark_and_report(decontam: Decontaminator, eval_sets: dict[str, EvalSet], captions: list[str]) -> None:
    flores = sentences(eval_sets, "flores200-devtest", "deu_Latn")[7]
    tico = sentences(eval_sets, "tico19", "eng_Latn")[30]
    batch = pa.table({
        "src": [captions[0], tico, captions[2]], "tgt": ["Zwei Männer draußen.", "Text.", flores],
        "src_lang": ["eng_Latn"] * 3, "tgt_lang": ["deu_Latn"] * 3,
    })
    report = DecontamReport(max_examples=1)
    assert decontam.mark(batch, report=report).to_pylist() == [None, "contaminated", "contaminated"]
    assert report.to_dict() == {
        "checked": 3, "contaminated": 2,
        "counts": {"flores200-devtest": {"exact": 1, "ngram": 0}, "tico19": {"exact": 1, "ngram": 0}},
        "examples": [report.examples[0]],
    }
    assert report.examples[0]["text"] == tico and report.examples[0]["benchmark"] == "tico19"
    markdown = report.to_markdown()
    assert "| flores200-devtest | 1 | 0 | 1 |" in markdown and "2 of 3 texts" in markdown


def test_report_markdown_keeps_table_cells_intact() -> None:
    report = DecontamReport()
    found = Match("mine", 0, "eng_Latn", "Yes | no", "exact", 1.0)
    report.add(["yes | no\nmaybe", "clean"], [found, None])
    assert "| yes \\| no maybe | Yes \\| no | mine | exact | 1.00 |" in report.to_markdown()
    assert report.to_dict()["counts"] == {"mine": {"exact": 1, "ngram": 0}}


def test_diff_ratio_is_the_share_of_the_eval_sentence_covered() -> None:
    sentence = "the committee had abandoned its efforts to reach him"
    assert diff_ratio(f"long before that day {sentence} and many other things happened later", sentence) == 1.0
    assert diff_ratio("something else entirely", sentence) == 0.0
    assert diff_ratio("anything", "") == 0.0


def test_invalid_settings() -> None:
    with pytest.raises(ConfigError, match="diff_threshold"):
        Decontaminator({}, diff_threshold=0.0)
    with pytest.raises(ConfigError, match="ngram"):
        Decontaminator({}, ngram=0)
    with pytest.raises(ValueError, match="one language per text"):
        Decontaminator({"x": [("eng_Latn", "A sentence.")]}).match(["a", "b"], ["eng_Latn"])
