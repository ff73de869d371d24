"""Prompt construction (mtforge.synth.prompts)."""

import pytest

from mtforge.errors import ConfigError, InputNotFoundError
from mtforge.synth.prompts import ExamplePool, PromptConfig, batch_prompts, build_prompt, batch_rng, read_topics
from tests.conftest import SHARED_DATA

FLORES_DEV = SHARED_DATA / "flores200" / "dev"


@pytest.fixture(scope="module")
def pool() -> ExamplePool:
    return ExamplePool.from_dir(FLORES_DEV)


def test_topics_file_errors_name_the_file(tmp_path):
    with pytest.raises(InputNotFoundError, match="missing.txt"):
        read_topics(tmp_path / "missing.txt")
    empty = tmp_path / "topics.txt"
    empty.write_text("\n  \n")
    with pytest.raises(ConfigError, match="topics.txt has no topics"):
        read_topics(empty)
    empty.write_text("Volcano\n\nMusic\nVolcano\n")
    assert read_topics(empty) == ["Volcano", "Music"]


def test_prompt_has_topic_examples_and_numbered_request(pool):
    config = PromptConfig(paragraphs_per_prompt=3, example_paragraphs=2, example_sentences=4)
    messages = build_prompt("Volcano", "swh_Latn", pool, config, batch_rng(0, "swh_Latn", 0))
    assert [m["role"] for m in messages] == ["user"]
    text = messages[0]["content"]
    assert 'in Swahili about the topic "Volcano"' in text
    assert "1. <paragraph 1 in Swahili>" in text and "3. <paragraph 3 in Swahili>" in text
    swahili = set(pool.sentences["swh_Latn"])
    examples = [line[2:] for line in text.splitlines() if line.startswith("- ")]
    assert len(examples) == 4 and set(examples) <= swahili
    others = [line for line in text.splitlines() if line.startswith("[")]
    assert len(others) == 2 and not any(line.startswith("[Swahili]") for line in others)


def test_batches_depend_only_on_seed_language_and_batch(pool):
    config = PromptConfig()
    topics = [f"topic {i}" for i in range(50)]
    first = batch_prompts(topics, "deu_Latn", pool, config, seed=3, batch=5, size=4)
    assert first == batch_prompts(topics, "deu_Latn", pool, config, seed=3, batch=5, size=4)
    assert first != batch_prompts(topics, "deu_Latn", pool, config, seed=3, batch=6, size=4)
    assert len(set(first[2])) == 4  # one sampling seed per request


def test_missing_example_language_is_a_clear_error(pool, tmp_path):
    with pytest.raises(ConfigError, match="0 sentences of xho_Latn"):
        ExamplePool({"eng_Latn": ["a"] * 10}, "mine").require("xho_Latn", 4)
    with pytest.raises(InputNotFoundError, match="no <lang>.<split> files"):
        ExamplePool.from_dir(tmp_path)
