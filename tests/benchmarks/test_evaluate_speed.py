"""``evaluate_speed`` runs end to end at its quick settings (real spm, train and evaluate stages)
and records a well-formed, sane result. Timings are never asserted: the machine is shared."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import evaluate_speed
from benchmarks.__main__ import BENCHMARKS, main
from benchmarks.common import cpu_model

RESULT_FIELDS = {"name", "description", "mode", "settings", "metrics", "table", "machine", "details"}
PARTS = {"evaluate", "evaluate_beam1", "model_load", "translate", "testset_import", "write_texts", "score", "report"}


@pytest.mark.slow
def test_quick_run_from_the_command_line_records_a_sane_result(shared_data: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Real stages: spm, train (torchrun), then 2 rounds of evaluate at beam 4, translation
    alone, the rest alone and evaluate at beam 1. The record has every part of every round,
    ratios and shares that add up, the sentence count asked for, translations alone equal to the
    stage's, and scores in range."""
    assert BENCHMARKS["evaluate_speed"] is evaluate_speed.BENCHMARK
    assert main(["evaluate_speed", "--quick", "--out", str(tmp_path)]) == 0
    assert "per 1,000 sentences per direction" in capsys.readouterr().out

    data = json.loads((tmp_path / "evaluate_speed.json").read_text())
    assert RESULT_FIELDS <= set(data) and data["mode"] == "quick"
    quick = evaluate_speed.QUICK
    assert data["settings"]["sentences"] == quick.sentences and data["settings"]["beam_size"] == 4
    metrics = data["metrics"]
    assert metrics["sentences"] == quick.sentences and metrics["directions"] == 1 and metrics["threads"] >= 1
    assert metrics["rounds"] == quick.rounds == 2
    per_round = metrics["per_round"]
    assert sum(per_round["sentences"]) == quick.sentences and len(per_round["sentences"]) == 2
    assert all(x > 0 for key in ("seconds_per_1000_sentences", "beam_ratio", "translate_share")
               for x in per_round[key])

    seconds = metrics["seconds"]
    assert set(seconds) == PARTS and all(value > 0 for value in seconds.values())
    assert metrics["seconds_per_1000_sentences_per_direction"] == pytest.approx(
        seconds["evaluate"] * 1000 / quick.sentences)
    assert metrics["beam_ratio"] > 0
    assert metrics["beam_ratio"] == pytest.approx(seconds["evaluate"] / seconds["evaluate_beam1"])
    share = metrics["share"]
    for part in ("translate", "model_load", "score_and_report", "testset_import_and_texts"):
        assert 0 < share[part] <= 1
    assert sum(share.values()) == pytest.approx(1.0)  # "unaccounted" is the rest, of either sign
    assert share["score_and_report"] == pytest.approx((seconds["score"] + seconds["report"]) / seconds["evaluate"])
    assert 0 < metrics["model_forward_share_of_translate"] <= 1
    assert data["details"]["forward_calls"]["encode"] >= 1
    assert data["details"]["forward_calls"]["decode"] >= data["details"]["forward_calls"]["encode"]
    assert [set(loads) for loads in data["details"]["load_average_at_start"]] == [PARTS, PARTS]
    assert sum(r["evaluate"] for r in data["details"]["per_round_seconds"]) == pytest.approx(seconds["evaluate"])

    # The translation timed alone is the stage's translation: same checkpoint, same beam.
    assert metrics["translation_matches_stage"] is True
    assert metrics["hyp_tokens"] > 0 and metrics["hyp_tokens_per_s"] > 0
    assert metrics["hyp_words_mean"] > 0 and metrics["ref_words_mean"] > 0
    assert metrics["hyp_ref_length_ratio"] == pytest.approx(metrics["hyp_words_mean"] / metrics["ref_words_mean"])
    assert 0 <= metrics["hyps_at_length_limit"] <= quick.sentences
    for metric in ("bleu", "bleu_beam1", "chrf"):
        assert 0 <= metrics[metric] <= 100
    assert metrics["chrf"] > 0  # a trained model shares characters with the references

    details = data["details"]
    assert details["train_config"]["max_steps"] == quick.max_steps and details["train_config"]["d_model"] == 64
    assert details["direction"] == "eng_Latn-deu_Latn" and details["testset"] == "multi30k_test_2016_flickr"
    assert details["parameters"] > 0 and details["total_seconds"] > seconds["evaluate"]
    assert data["table"] and all(len(row) == 2 for row in data["table"])
    readme = (tmp_path / "README.md").read_text()
    assert "| evaluate_speed | quick |" in readme and cpu_model() in readme
