"""The generation loop (mtforge.synth.generate): parsing, rejection, stopping, resumption.

The LLM here is a scripted :class:`Generator` whose answer is a function of the request's
seed, so the exact counts can be asserted; the real backends (vLLM, transformers, an
OpenAI-compatible server) run the same loop in tests/synth/test_synth_pipeline.py."""

import json
import random

import pytest

from mtforge.errors import StageFailedError
from mtforge.synth.generate import PROGRESS, REJECTED, GenerateConfig, generate_language, paragraphs_file, read_jsonl
from mtforge.synth.generators import Generation, Generator
from mtforge.synth.prompts import ExamplePool
from tests.conftest import SHARED_DATA

LANG = "swh_Latn"
SWAHILI = (SHARED_DATA / "flores200" / "devtest" / "swh_Latn.devtest").read_text().splitlines()


class Scripted(Generator):
    """Answers by seed: seed % 4 == 0 → not a list; == 1 → two fresh paragraphs; == 2 → one
    fresh paragraph and one repeat of a fixed paragraph; == 3 → a word loop and an English one."""

    name = "scripted"

    def __init__(self, fail_on_call: int | None = None) -> None:
        self.calls, self.fail_on_call = 0, fail_on_call

    def chat(self, conversations, sampling, seeds):
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise KeyboardInterrupt("interrupted")
        return [Generation(self.answer(seed), 100, 50) for seed in seeds]

    @staticmethod
    def answer(seed: int) -> str:
        rng = random.Random(seed)

        def fresh() -> str:
            start = rng.randrange(len(SWAHILI) - 3)
            return " ".join(SWAHILI[start : start + 3])

        kind = seed % 4
        if kind == 0:
            return "Samahani, siwezi kuandika hilo."
        if kind == 1:
            return f"1. {fresh()}\n2. {fresh()}"
        if kind == 2:
            return f"1. {fresh()}\n2. {' '.join(SWAHILI[:3])}"
        return ("1. " + "ni ni " * 20 + "\n2. The weather in London was cold and rainy for most of the year, "
                "and many people stayed at home reading books.")


@pytest.fixture(scope="module")
def pool() -> ExamplePool:
    return ExamplePool.from_dir(SHARED_DATA / "flores200" / "dev")


def _config(**values) -> GenerateConfig:
    base = {"prompts_per_batch": 8, "target_paragraphs": 1000, "max_batches": 4, "seed": 7}
    return GenerateConfig.parse({**base, **values})


def _expected_counts(config: GenerateConfig) -> dict[str, int]:
    from mtforge.synth.prompts import request_seed

    kinds = [request_seed(config.seed, LANG, b, i) % 4 for b in range(config.max_batches)
             for i in range(config.prompts_per_batch)]
    return {k: kinds.count(k) for k in range(4)}


def test_answers_are_parsed_and_rejections_counted_with_reasons(pool, tmp_path):
    config = _config()
    state = generate_language(Scripted(), ["Afya", "Historia"], pool, LANG, tmp_path, config)
    kinds = _expected_counts(config)
    counts = state.counts
    assert counts["prompts"] == 32 and counts["prompt_tokens"] == 3200 and counts["completion_tokens"] == 1600
    assert counts["answers_rejected.format"] == kinds[0]
    assert counts["paragraphs_rejected.repeated_words"] == kinds[3]
    assert counts["paragraphs_rejected.lid_mismatch"] == kinds[3]   # the English paragraph
    # The fixed paragraph is kept once, then every repeat is a near duplicate.
    assert counts["paragraphs_rejected.near_duplicate"] >= kinds[2] - 1
    kept = read_jsonl(paragraphs_file(tmp_path, LANG))
    assert paragraphs_file(tmp_path, LANG).name == "Swahili.jsonl"
    assert len(kept) == counts["paragraphs_kept"] > 0
    assert all(set(r) == {"text", "topic"} and r["topic"] in ("Afya", "Historia") for r in kept)
    assert len({r["text"] for r in kept}) == len(kept)
    rejected = read_jsonl(tmp_path / REJECTED)
    assert sum(r["reason"] == "format" for r in rejected) == kinds[0]
    assert len(rejected) == sum(v for k, v in counts.items() if "_rejected." in k)


def test_stops_at_the_target_count(pool, tmp_path):
    state = generate_language(Scripted(), ["Afya"], pool, LANG, tmp_path, _config(target_paragraphs=5))
    assert len(read_jsonl(paragraphs_file(tmp_path, LANG))) == 5 == state.counts["paragraphs_kept"]
    assert state.batch < 4
    # every paragraph of a parsed answer is accounted for: kept, rejected, or over the target
    c = state.counts
    parsed = (c["prompts"] - c["answers_rejected.format"]) * _config().prompt.paragraphs_per_prompt
    rejected = sum(v for k, v in c.items() if k.startswith("paragraphs_rejected."))
    assert c["paragraphs_kept"] + rejected + c["paragraphs_over_target"] == parsed
    assert c["paragraphs_over_target"] > 0


def test_stops_after_consecutive_empty_batches_and_enforces_the_minimum(pool, tmp_path):
    class Refuses(Scripted):
        @staticmethod
        def answer(seed: int) -> str:
            return "Sorry."

    config = _config(max_batches=100, max_empty_batches=3, min_paragraphs=1)
    with pytest.raises(StageFailedError, match=r"swh_Latn: 0 paragraphs kept after 3 batches.*format 24"):
        generate_language(Refuses(), ["Afya"], pool, LANG, tmp_path, config)
    assert json.loads((tmp_path / PROGRESS).read_text())["batch"] == 3


def test_an_interrupted_run_resumes_without_duplicates(pool, tmp_path):
    config = _config()
    whole = tmp_path / "whole"
    generate_language(Scripted(), ["Afya", "Historia"], pool, LANG, whole, config)
    parts = tmp_path / "parts"
    with pytest.raises(KeyboardInterrupt):
        generate_language(Scripted(fail_on_call=3), ["Afya", "Historia"], pool, LANG, parts, config)
    # A crash while writing batch 3 leaves half a record behind the last saved batch.
    with paragraphs_file(parts, LANG).open("a") as f:
        f.write('{"text": "nusu ya ')
    state = generate_language(Scripted(), ["Afya", "Historia"], pool, LANG, parts, config)
    assert state.batch == 4
    assert paragraphs_file(parts, LANG).read_text() == paragraphs_file(whole, LANG).read_text()
    assert (parts / REJECTED).read_text() == (whole / REJECTED).read_text()
    # Running again once finished does nothing.
    again = generate_language(Scripted(fail_on_call=1), ["Afya"], pool, LANG, parts, config)
    assert again.counts == state.counts
