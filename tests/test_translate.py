"""Translator: loads only one direction's modules from a real checkpoint; errors; output order."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from mtforge.errors import ConfigError, InputNotFoundError
from mtforge.train import checkpoint
from mtforge.translate import Translator
from mtforge.vocab import Vocab

pytestmark = pytest.mark.usefixtures("torch_one_thread")

EN, DE, FR = "eng_Latn", "deu_Latn", "fra_Latn"


@pytest.fixture(scope="module")
def vocab(tiny_pipeline: dict[str, str]) -> Vocab:
    return Vocab(Path(tiny_pipeline["spm"]) / "spm.model")


@pytest.fixture(scope="module")
def ckpt(tiny_pipeline: dict[str, str]) -> Path:
    """The 2-rank language-sharing checkpoint (eng→deu and deu→eng) of the tiny pipeline."""
    return Path(tiny_pipeline["train"]) / "checkpoint"


@pytest.mark.parametrize("src,tgt,modules", [
    (EN, DE, ["decoder/deu_Latn", "embeddings", "encoder/eng_Latn"]),
    (DE, EN, ["decoder/eng_Latn", "embeddings", "encoder/deu_Latn"]),
])
def test_loads_only_the_modules_of_the_direction(ckpt: Path, vocab: Vocab, src: str, tgt: str,
                                                 modules: list[str]) -> None:
    translator = Translator(ckpt, vocab, src, tgt)
    assert translator.loaded_modules == modules
    # …and the weights are the checkpoint's, not a fresh initialisation
    for module, unit in translator.model.named_units().items():
        state = torch.load(checkpoint.module_file(ckpt, module), weights_only=True)["state"]
        for name, tensor in unit.state_dict().items():
            assert torch.equal(tensor, state[name]), f"{module}.{name}"


def test_the_other_directions_module_files_are_not_needed(ckpt: Path, vocab: Vocab, tmp_path: Path) -> None:
    copy = tmp_path / "checkpoint"
    shutil.copytree(ckpt, copy)
    for module in ("encoder/deu_Latn", "decoder/eng_Latn"):
        checkpoint.module_file(copy, module).unlink()
    translator = Translator(copy, vocab, EN, DE)
    assert len(translator.translate(["A dog runs.", "Two men."], beam_size=2)) == 2
    with pytest.raises(InputNotFoundError, match="encoder/deu_Latn"):
        Translator(copy, vocab, DE, EN)


def test_unknown_direction_lists_the_available_ones(ckpt: Path, vocab: Vocab) -> None:
    with pytest.raises(ConfigError) as err:
        Translator(ckpt, vocab, EN, FR)
    message = str(err.value)
    assert f"{EN}-{FR}" in message and str(ckpt) in message
    assert f"{EN}-{DE}" in message and f"{DE}-{EN}" in message


def test_missing_checkpoint_names_the_path(vocab: Vocab, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "checkpoint"
    with pytest.raises(InputNotFoundError) as err:
        Translator(missing, vocab, EN, DE)
    assert str(missing) in str(err.value) and checkpoint.FRAME in str(err.value)


def test_a_target_language_missing_from_the_vocabulary_is_named(toy_model, tmp_path: Path) -> None:
    """A checkpoint whose direction exists but whose vocabulary has no tag for the target."""
    from mtforge.vocab import train_vocab

    other = Vocab(train_vocab(iter(["cat dog", "Katze Hund"] * 50), tmp_path / "spm", vocab_size=10,
                              languages=[EN], model_type="word"))
    with pytest.raises(KeyError, match=DE):
        Translator(toy_model.ckpt, other, EN, DE)


def test_output_order_matches_input_order_across_length_sorted_batches(toy_model) -> None:
    by_length = {n: [s for s in toy_model.sentences if len(s.split()) == n] for n in (1, 2, 3, 4)}
    # lengths deliberately unsorted, so length-sorting reorders them inside the translator
    sentences = [by_length[n].pop() for n in (4, 1, 3, 4, 2, 3, 1, 2, 4, 2, 1)]
    translator = Translator(toy_model.ckpt, toy_model.vocab, EN, DE)
    assert translator.loaded_modules == ["decoder/deu_Latn", "embeddings", "encoder/eng_Latn"]
    done: list[int] = []
    out = translator.translate(sentences, beam_size=3, batch_sentences=3, progress=done.append)
    assert out == [toy_model.translation(s) for s in sentences]
    assert done == [3, 3, 3, 2]  # four batches, progress reported per batch


def test_empty_input_and_empty_sentences(toy_model) -> None:
    translator = Translator(toy_model.ckpt, toy_model.vocab, EN, DE)
    assert translator.translate([]) == []
    out = translator.translate(["", "cat"], beam_size=2)
    assert len(out) == 2 and out[1] == "Katze"
