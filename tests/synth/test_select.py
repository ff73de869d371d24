"""Decontamination and quality cut of synthetic pairs (mtforge.synth.select) and TopXGen files."""

import json

import numpy as np
import pytest

from mtforge.curate.decontam import Decontaminator, DecontamReport
from mtforge.curate.evalsets import load_eval_sets
from mtforge.errors import ConfigError, CorpusFormatError
from mtforge.synth.select import SelectConfig, check_languages, select_language
from mtforge.synth.topxgen import TranslatedParagraph, find_translated, read_translated, translate_file, \
    write_translated
from tests.conftest import SHARED_DATA

FLORES_SW = (SHARED_DATA / "flores200" / "devtest" / "swh_Latn.devtest").read_text().splitlines()
FLORES_EN = (SHARED_DATA / "flores200" / "devtest" / "eng_Latn.devtest").read_text().splitlines()


def _paragraph(sentences, translations, scores, topic="Afya"):
    return TranslatedParagraph(" ".join(sentences), list(sentences), list(translations), list(scores), topic)


@pytest.fixture(scope="module")
def decontaminator():
    return Decontaminator(load_eval_sets(SHARED_DATA, ["flores200-devtest"]))


def test_a_paragraph_with_one_contaminated_sentence_or_translation_is_dropped_whole(decontaminator):
    clean = _paragraph(["Mvua ilinyesha sana jana usiku kijijini kwetu.", "Watoto walicheza nje asubuhi."],
                       ["It rained a lot last night in our village.", "The children played outside."], [0.9, 0.8])
    copied = _paragraph(["Hii ni sentensi mpya kabisa ya mfano.", FLORES_SW[10]],
                        ["This is a brand new example sentence.", "Something else entirely here."], [0.9, 0.9])
    copied_en = _paragraph(["Sentensi nyingine ya kawaida kabisa hapa."], [FLORES_EN[20]], [0.95])
    report = DecontamReport()
    out = select_language([clean, copied, copied_en], "swh_Latn", "eng_Latn", SelectConfig(), decontaminator,
                          report)
    assert out.clean == [clean]
    assert [row["tgt"] for row in out.rows] == clean.propositions
    assert [row["origin"] for row in out.rows] == ["synth:Swahili:0:0", "synth:Swahili:0:1"]
    assert {(row["origin"], why) for row, why, _ in out.dropped} == {
        ("synth:Swahili:1:0", "contaminated"), ("synth:Swahili:1:1", "contaminated"),
        ("synth:Swahili:2:0", "contaminated")}
    assert report.checked == 3 and report.contaminated == 2


def test_quality_cut_by_threshold_percentile_and_per_language(decontaminator):
    scores = np.linspace(0.0, 0.9, 10)
    paragraph = _paragraph([f"Sentensi namba {i} ni ndefu ya kutosha." for i in range(10)],
                           [f"Sentence number {i}." for i in range(10)], scores)
    by = {}
    for name, config in {"threshold": SelectConfig(threshold=0.5), "percentile": SelectConfig(percentile=30),
                         "per_language": SelectConfig(threshold=0.1, thresholds={"sw": 0.75}),
                         "none": SelectConfig()}.items():
        out = select_language([paragraph], "swh_Latn", "eng_Latn", config, None, DecontamReport())
        by[name] = ([row["score"] for row in out.rows], out.cut)
        assert all(why == "low_qe" for _, why, _ in out.dropped)
    assert by["threshold"] == (pytest.approx([0.5, 0.6, 0.7, 0.8, 0.9]), 0.5)
    assert len(by["percentile"][0]) == 7 and by["percentile"][1] == pytest.approx(0.27)
    assert by["per_language"][0] == pytest.approx([0.8, 0.9])
    assert len(by["none"][0]) == 10 and by["none"][1] is None
    with pytest.raises(ConfigError, match="threshold or percentile"):
        SelectConfig.parse({"threshold": 0.5, "percentile": 10})
    with pytest.raises(ConfigError, match="hau_Latn"):
        check_languages(SelectConfig(thresholds={"hau": 0.5}), ["swh_Latn"])


def test_topxgen_files_round_trip_and_bad_lines_are_named(tmp_path):
    paragraphs = [_paragraph(["Sentensi moja.", "Mbili."], ["One.", "Two."], [0.5, 0.25])]
    path = translate_file(tmp_path, "nllb-200-3.3B", "swh_Latn")
    assert path.relative_to(tmp_path).as_posix() == "nllb-200-3.3B/Swahili_translate.jsonl"
    write_translated(path, paragraphs)
    assert json.loads(path.read_text()) == {"sentence": "Sentensi moja. Mbili.", "propositions": ["Sentensi moja.",
                                            "Mbili."], "translations": ["One.", "Two."], "scores": [0.5, 0.25],
                                            "topic": "Afya"}
    assert read_translated(path) == paragraphs
    assert find_translated(tmp_path) == {"swh_Latn": ("nllb-200-3.3B", path)}
    path.write_text(path.read_text() + '{"sentence": "x", "propositions": ["x"], "translations": []}\n')
    with pytest.raises(CorpusFormatError, match=r"Swahili_translate.jsonl:2: missing key 'scores'"):
        read_translated(path)
    path.write_text('{"sentence": "x", "propositions": ["x"], "translations": [], "scores": []}\n')
    with pytest.raises(CorpusFormatError, match=r":1: .*1 propositions, 0 translations"):
        read_translated(path)
