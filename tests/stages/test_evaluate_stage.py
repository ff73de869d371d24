"""The evaluate stage: translate test sets with a real checkpoint, score them with sacrebleu,
write the evaluation directory; and its errors (untranslatable direction, no test set)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from sacrebleu.metrics import BLEU, CHRF, TER

from tests.conftest import DE, EN, TINY_TRANSLATE, one_torch_thread
from mtforge.corpus import CorpusWriter
from mtforge.errors import ConfigError
from mtforge.evaluation.results import SCORES_CSV, Evaluation
from mtforge.stage import read_stage_record, run_stage
from mtforge.stages.spm import MODEL_FILE
from mtforge.translate import Translator
from mtforge.vocab import Vocab


def test_scores_are_sacrebleu_over_the_models_own_translations(tiny_pipeline: dict[str, str]) -> None:
    """The tidy table holds BLEU, chrF++ and TER per direction, equal to sacrebleu over the
    hypotheses the stage wrote, which are the checkpoint's translations of the test sources."""
    out = Path(tiny_pipeline["evaluate"])
    evaluation = Evaluation(out)
    assert evaluation.pairs() == [("tiny", f"{DE}-{EN}"), ("tiny", f"{EN}-{DE}")]
    vocab = Vocab(Path(tiny_pipeline["spm"]) / MODEL_FILE)
    stats = read_stage_record(str(out))["stats"]
    for testset, direction in evaluation.pairs():
        texts = evaluation.texts(testset, direction)
        assert len(texts.src) == 6
        with one_torch_thread():
            translator = Translator(Path(tiny_pipeline["train"]) / "checkpoint", vocab, *direction.split("-"))
            assert texts.hyp == translator.translate(texts.src, beam_size=TINY_TRANSLATE["beam_size"])
        expected = {"bleu": BLEU(), "chrf": CHRF(word_order=2), "ter": TER()}
        for metric, scorer in expected.items():
            value = round(scorer.corpus_score(texts.hyp, [texts.ref]).score, 2)
            assert evaluation.value(metric, testset, direction) == value
            assert stats[f"{metric}.{direction}.{testset}"] == value
            row = next(s for s in evaluation.scores if (s.metric, s.direction) == (metric, direction))
            assert row.signature == str(scorer.get_signature()) and row.n_segments == 6
        assert stats[f"segments.{direction}.{testset}"] == 6
    header = (out / SCORES_CSV).read_text().splitlines()[0]
    assert header.startswith("testset,direction,metric,value,signature")
    assert "<html" in (out / "report.html").read_text().lower()


def test_named_test_sets_and_a_sentence_cap(tiny_pipeline: dict[str, str], shared_data: Path, tmp_path: Path) -> None:
    """Multi30k and FLORES devtest by name; every trained direction by default; max_sentences caps."""
    out = tmp_path / "eval"
    with one_torch_thread():
        stats = run_stage("evaluate", {"testsets": "multi30k,flores200:devtest", "testsets_root": str(shared_data),
                                       "max_sentences": 3, "beam_size": 1},
                          out_dir=str(out), model=tiny_pipeline["train"], vocab=tiny_pipeline["spm"])
    evaluation = Evaluation(out)
    assert {t for t, _ in evaluation.pairs()} == {"multi30k_test_2016_flickr", "flores200_devtest"}
    assert {d for _, d in evaluation.pairs()} == {f"{EN}-{DE}", f"{DE}-{EN}"}
    first_flores = (shared_data / "flores200" / "devtest" / "eng_Latn.devtest").read_text().splitlines()[:3]
    assert evaluation.texts("flores200_devtest", f"{EN}-{DE}").src == first_flores
    assert stats[f"segments.{EN}-{DE}.flores200_devtest"] == 3
    assert len([k for k in stats if k.startswith("bleu.")]) == 4


def test_a_direction_the_model_cannot_translate_fails_before_translating(
        tiny_pipeline: dict[str, str], shared_data: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot translate eng_Latn-fra_Latn.*fra_Latn.*trained directions: "
                                          rf"{DE}-{EN}, {EN}-{DE}"):
        run_stage("evaluate", {"testsets": "multi30k", "testsets_root": str(shared_data), "directions": "en-fr"},
                  out_dir=str(tmp_path / "out"), model=tiny_pipeline["train"], vocab=tiny_pipeline["spm"])
    assert not (tmp_path / "out" / "scores.json").exists()


def test_no_test_set_with_the_directions_is_an_error_and_a_partial_one_warns(
        tiny_pipeline: dict[str, str], shared_data: Path, tmp_path: Path) -> None:
    tico = tmp_path / "root" / "tico19"  # TICO-19 has no German: nothing to score
    tico.mkdir(parents=True)
    for name in ("test.en.fr", "test.fr"):
        (tico / name).write_text("a\n")
    with pytest.raises(ConfigError, match=r"none of the test sets 'tico19'.*eng_Latn-deu_Latn"):
        run_stage("evaluate", {"testsets": "tico19", "testsets_root": str(tmp_path / "root")},
                  out_dir=str(tmp_path / "a"), model=tiny_pipeline["train"], vocab=tiny_pipeline["spm"])
    with CorpusWriter(tmp_path / "mine") as writer:  # a user test set with English→German only
        writer.write([{"src": "A dog runs.", "tgt": "Ein Hund rennt.", "src_lang": EN, "tgt_lang": DE}])
    with warnings.catch_warnings(record=True) as caught, one_torch_thread():
        warnings.simplefilter("always")
        run_stage("evaluate", {"testsets": f"mine={tmp_path / 'mine'}", "beam_size": 1},
                  out_dir=str(tmp_path / "b"), model=tiny_pipeline["train"], vocab=tiny_pipeline["spm"])
    assert any("no test set has deu_Latn-eng_Latn" in str(w.message) for w in caught)
    assert Evaluation(tmp_path / "b").pairs() == [("mine", f"{EN}-{DE}")]


def test_unknown_config_key_and_test_set_are_named(tmp_path: Path, tiny_pipeline: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match=r"'testset'.*valid keys:.*testsets"):
        run_stage("evaluate", {"testset": "multi30k"}, out_dir=str(tmp_path), model="x", vocab="y")
    with pytest.raises(ConfigError, match="unknown test set 'flores'.*flores200"):
        run_stage("evaluate", {"testsets": "flores"}, out_dir=str(tmp_path), model=tiny_pipeline["train"],
                  vocab=tiny_pipeline["spm"])


def test_scores_json_rows_are_tidy(tiny_pipeline: dict[str, str]) -> None:
    rows = json.loads((Path(tiny_pipeline["evaluate"]) / "scores.json").read_text())
    assert {r["metric"] for r in rows} == {"bleu", "chrf", "ter"}
    assert len(rows) == len({(r["testset"], r["direction"], r["metric"]) for r in rows}) == 6
