"""``synth_speed`` end to end at toy sizes: every generation backend (transformers, vLLM in this
process, a vLLM server) and both back-translators are measured and the record is well formed.
Timings are never asserted: the machine is shared."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import synth_speed
from benchmarks.__main__ import BENCHMARKS


@pytest.mark.slow
def test_synth_speed_measures_every_backend(shared_data: Path) -> None:
    pytest.importorskip("vllm")
    assert BENCHMARKS["synth_speed"] is synth_speed.BENCHMARK
    settings = synth_speed.Settings(prompts=4, max_tokens=16, repeats=1, teach_steps=5, concurrency=2,
                                    bt_sentences=6, bt_max_new_tokens=8, bt_max_steps=2, bt_train_lines=200)
    result = synth_speed.run(settings)
    metrics = result.metrics
    speeds = metrics["generation_tokens_per_s"]
    assert set(speeds) == {"hf", "vllm", "openai"} and min(speeds.values()) > 0
    assert metrics["generation_ratio_to_hf"]["hf"] == 1.0
    for name, notes in result.details["generation"].items():
        assert 0 < notes["completion_tokens"] <= settings.prompts * settings.max_tokens, name
        assert notes["prompt_tokens"] > 0, name
    # the same prompts through every backend: the same prompt tokens (the tokenizer's chat template)
    assert len({notes["prompt_tokens"] for notes in result.details["generation"].values()}) == 1
    bt = metrics["back_translation"]
    assert set(bt) == {"hf", "mtforge"}
    assert all(r["sentences_per_s"] > 0 and r["tokens_per_s"] > 0 for r in bt.values())
    assert bt["hf"]["mean_output_tokens"] <= settings.bt_max_new_tokens + 1
    assert set(metrics["back_translation_mtforge_over_hf"]) == {"sentences_per_s", "tokens_per_s"}
    assert len(result.table) == 3 + 2 + 1
