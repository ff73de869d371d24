"""Back-translation backends: an NLLB-style Hugging Face model (forced target-language BOS,
tagged source, length-sorted batches, beam size) and mtforge's own checkpoints."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from mtforge.errors import ConfigError, InputNotFoundError
from mtforge.synth.backtranslate import HFBackTranslator, length_sorted_batches, load_back_translator
from tests.conftest import DE, EN, one_torch_thread

pytestmark = pytest.mark.usefixtures("torch_one_thread")
SW = "swh_Latn"


@pytest.fixture(scope="module")
def nllb(tiny_nllb: Path) -> HFBackTranslator:
    with one_torch_thread():
        translator = load_back_translator(f"hf:{tiny_nllb}")
    assert isinstance(translator, HFBackTranslator)
    return translator


@pytest.fixture
def sentences(flores_dev: dict[str, list[str]]) -> list[str]:
    """German sentences of very different lengths, in no length order."""
    picked = sorted(flores_dev[DE][:60], key=len)[::6]  # 10 lengths, shortest to longest
    return [picked[i] for i in (3, 9, 0, 6, 1, 8, 4, 2, 7, 5)]


@pytest.fixture
def generate_calls(nllb: HFBackTranslator, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[SimpleNamespace]]:
    """Every ``model.generate`` call of ``nllb``: its inputs, keyword arguments and output ids."""
    calls: list[SimpleNamespace] = []
    generate = nllb.model.generate

    def spy(**kwargs):
        output = generate(**kwargs)
        calls.append(SimpleNamespace(input_ids=kwargs["input_ids"], kwargs=kwargs, output=output))
        return output

    monkeypatch.setattr(nllb.model, "generate", spy)
    yield calls


@pytest.mark.parametrize("tgt", [EN, SW])
def test_decoding_starts_with_the_target_language_token_and_the_source_is_tagged(
        nllb: HFBackTranslator, generate_calls: list[SimpleNamespace], sentences: list[str], tgt: str) -> None:
    nllb.translate(sentences[:4], DE, tgt, beam_size=2, max_new_tokens=8)
    tokenizer, config = nllb.tokenizer, nllb.model.config
    tgt_id, src_id = tokenizer.convert_tokens_to_ids(tgt), tokenizer.convert_tokens_to_ids(DE)
    assert generate_calls
    for call in generate_calls:
        assert call.output[:, 0].tolist() == [config.decoder_start_token_id] * len(call.output)
        assert call.output[:, 1].tolist() == [tgt_id] * len(call.output)
        assert call.input_ids[:, 0].tolist() == [src_id] * len(call.input_ids)


def test_output_order_is_input_order_under_length_sorted_batches(
        nllb: HFBackTranslator, generate_calls: list[SimpleNamespace], sentences: list[str]) -> None:
    batched = nllb.translate(sentences, DE, EN, beam_size=2, batch_size=3, max_new_tokens=12)
    widths = [call.input_ids.shape[1] for call in generate_calls]
    assert len(widths) == 4 and widths == sorted(widths, reverse=True)  # longest batch first
    one_by_one = [nllb.translate([s], DE, EN, beam_size=2, max_new_tokens=12)[0] for s in sentences]
    assert batched == one_by_one
    assert len(set(batched)) > len(batched) // 2  # the model's outputs tell its inputs apart


def test_beam_size_is_honoured(nllb: HFBackTranslator, generate_calls: list[SimpleNamespace],
                               sentences: list[str]) -> None:
    greedy = nllb.translate(sentences, DE, EN, beam_size=1, max_new_tokens=12)
    beam = nllb.translate(sentences, DE, EN, beam_size=4, max_new_tokens=12)
    assert [call.kwargs["num_beams"] for call in generate_calls] == [1, 4]
    assert greedy != beam


def test_empty_input_and_batch_size_errors(nllb: HFBackTranslator) -> None:
    assert nllb.translate([], DE, EN) == []
    with pytest.raises(ConfigError, match="batch_size must be ≥ 1, got 0"):
        nllb.translate(["Hallo"], DE, EN, batch_size=0)


def test_length_sorted_batches_cover_every_index_once_longest_first() -> None:
    batches = list(length_sorted_batches([3, 9, 1, 7, 7, 2], 4))
    assert batches == [[1, 3, 4, 0], [5, 2]]


def test_hf_errors_name_the_language_and_model(nllb: HFBackTranslator, tiny_nllb: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=rf"language 'fra_Latn' is not a token of the tokenizer of {tiny_nllb}"):
        nllb.translate(["Hallo"], DE, "fra_Latn")
    with pytest.raises(ConfigError, match="'fra_Latn'"):
        nllb.translate(["Bonjour"], "fra_Latn", EN)
    with pytest.raises(InputNotFoundError, match=f"{tmp_path / 'absent'} does not exist"):
        load_back_translator(f"hf:{tmp_path / 'absent'}")
    with pytest.raises(ConfigError, match="vocab='x' is for 'mtforge:'"):
        load_back_translator(f"hf:{tiny_nllb}", vocab="x")


def test_spec_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown back-translator 'nllb'.*mtforge:<train stage output dir>.*hf:"):
        load_back_translator("nllb")
    with pytest.raises(ConfigError, match="needs vocab=<spm stage output dir>"):
        load_back_translator(f"mtforge:{tmp_path}")
    with pytest.raises(InputNotFoundError, match=f"no checkpoint directory {tmp_path / 'checkpoint'}"):
        load_back_translator(f"mtforge:{tmp_path}", vocab=str(tmp_path))


def test_mtforge_backend_translates_with_the_projects_checkpoint(toy_model, tmp_path: Path) -> None:
    train_dir = toy_model.ckpt.parent  # the toy model's train dir is also its spm dir (spm.model)
    translator = load_back_translator(f"mtforge:{train_dir}", vocab=str(train_dir))
    assert translator.name == f"mtforge:{train_dir.name}"
    sentences = toy_model.sentences[:24]
    assert translator.translate(sentences, EN, DE, beam_size=3, batch_size=5) == list(map(toy_model.translation, sentences))
    with pytest.raises(ConfigError, match="language 'swh_Latn'"):
        translator.translate(sentences, EN, SW)
    with pytest.raises(InputNotFoundError, match=f"no SentencePiece model {tmp_path / 'spm.model'}"):
        load_back_translator(f"mtforge:{train_dir}", vocab=str(tmp_path))
