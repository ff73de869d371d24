"""The tiny local test models: the chat model keeps its template in its tokenizer and, once
taught, answers in numbered paragraphs of the asked language; the NLLB-style model has
FLORES-200 codes as tokens and NLLB's source and decoder layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtforge.synth.tiny_model import CHAT_TEMPLATE, build_tiny_llama, synth_prompts
from tests.conftest import DE, EN, one_torch_thread
from tests.synth.conftest import LANGUAGES


def test_the_chat_template_lives_in_the_tokenizer(tiny_llm: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_llm)
    assert tokenizer.chat_template == CHAT_TEMPLATE
    conversation = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Write about dogs."}]
    prompt = tokenizer.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
    assert prompt == ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWrite about dogs.<|im_end|>\n"
                      "<|im_start|>assistant\n")
    assert tokenizer.eos_token == "<|im_end|>"


def test_a_head_dimension_vllm_cannot_run_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="head dimension 16 < 32"):
        build_tiny_llama(tmp_path, ["a b c"], hidden_size=64, heads=4)


def test_the_taught_model_answers_synth_prompts_with_numbered_paragraphs_in_their_language(
        tiny_llm: Path, example_pool) -> None:
    import py3langid
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from mtforge.synth.answers import parse_numbered

    tokenizer = AutoTokenizer.from_pretrained(tiny_llm)
    model = AutoModelForCausalLM.from_pretrained(tiny_llm).eval()
    topics = ["dogs", "cars", "books", "rain", "trees", "bridges", "tea", "islands"]  # not taught
    answers = []
    with one_torch_thread(), torch.inference_mode():
        for lang in LANGUAGES:
            for seed, prompt in enumerate(synth_prompts(example_pool, lang, len(topics), topics=topics, seed=5)):
                inputs = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, return_dict=True,
                                                       return_tensors="pt")
                torch.manual_seed(seed)
                output = model.generate(**inputs, do_sample=True, temperature=0.8, top_k=0, max_new_tokens=200)
                answers.append((lang, tokenizer.decode(output[0, inputs["input_ids"].shape[1]:],
                                                       skip_special_tokens=True)))
    assert all(text.startswith("1.") for _, text in answers), answers
    parsed = [text for _, text in answers if parse_numbered(text, 2)]
    assert len(parsed) >= 2, answers
    in_language = [text for lang, text in answers if py3langid.classify(text)[0] == lang[:2]]
    assert len(in_language) >= len(answers) - 2, answers


def test_tiny_nllb_has_flores_codes_as_tokens_and_nllbs_layout(tiny_nllb: Path) -> None:
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_nllb)
    assert type(tokenizer).__name__ == "NllbTokenizer"
    codes = [EN, DE, "swh_Latn"]
    ids = tokenizer.convert_tokens_to_ids(codes)
    assert len(set(ids)) == 3 and tokenizer.unk_token_id not in ids
    assert tokenizer.convert_tokens_to_ids("fra_Latn") == tokenizer.unk_token_id  # only the languages asked for
    tokenizer.src_lang = DE
    encoded = tokenizer("Der Hund schläft.").input_ids
    assert encoded[0] == ids[1] and encoded[-1] == tokenizer.eos_token_id and len(encoded) > 3
    assert tokenizer.decode(encoded, skip_special_tokens=True) == "Der Hund schläft."
    model = AutoModelForSeq2SeqLM.from_pretrained(tiny_nllb)
    assert type(model).__name__ == "M2M100ForConditionalGeneration" and model.config.d_model == 64
    assert model.config.decoder_start_token_id == tokenizer.eos_token_id
    assert model.config.vocab_size == len(tokenizer)
