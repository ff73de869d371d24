"""Translator: loads only one direction's modules from a real checkpoint; errors; output order."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from mtforge.errors import ConfigError, InputNotFoundError
from mtforge.train import checkpoint
from mtforge.model.transformer import ModelConfig, ModularTransformer
from mtforge.train.plan import Plan, load_meta_config, preset, resolve_plan
from mtforge.train.planning import module_inventory
from mtforge.translate import Translator, ZeroShotWarning
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
    (EN, DE, ["decoder/0/deu_Latn", "embeddings/shared", "encoder/0/eng_Latn"]),
    (DE, EN, ["decoder/0/eng_Latn", "embeddings/shared", "encoder/0/deu_Latn"]),
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
    for module in ("encoder/0/deu_Latn", "decoder/0/eng_Latn"):
        checkpoint.module_file(copy, module).unlink()
    translator = Translator(copy, vocab, EN, DE)
    assert len(translator.translate(["A dog runs.", "Two men."], beam_size=2)) == 2
    with pytest.raises(InputNotFoundError, match="decoder/0/eng_Latn"):
        Translator(copy, vocab, DE, EN)


def test_a_language_outside_the_plan_is_named(ckpt: Path, vocab: Vocab) -> None:
    with pytest.raises(ConfigError, match=FR):
        Translator(ckpt, vocab, EN, FR)


@pytest.fixture(scope="module")
def three_language_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Plan, Vocab]:
    """An (untrained) independent-preset checkpoint of eng→deu and deu→fra, saved module by
    module, with a word vocabulary that has the three language tags."""
    from mtforge.vocab import train_vocab

    root = tmp_path_factory.mktemp("three")
    words = ["A dog runs.", "Ein Hund rennt.", "Un chien court."] * 30
    vocab = Vocab(train_vocab(iter(words), root / "spm", vocab_size=18, languages=[EN, DE, FR], model_type="word"))
    meta = load_meta_config({**preset("independent", encoder_layers=2, decoder_layers=1),
                             "directions": [f"{EN}-{DE}", f"{DE}-{FR}"]})
    plan = resolve_plan(meta, sizes={(EN, DE): 10, (DE, FR): 10})
    cfg = ModelConfig(vocab_size=len(vocab), d_model=32, n_heads=2, ffn_dim=64)
    model = ModularTransformer(cfg, plan.module_layers(), seed=0)
    ckpt = root / "checkpoint"
    for module, unit in model.named_units().items():
        checkpoint.save_module(ckpt, 0, module, unit, None)
    checkpoint.write_frame(ckpt, {"step": 0, "model": cfg.model_dump(), "plan": plan.model_dump(mode="json"),
                                  "plan_fingerprint": plan.fingerprint()})
    return ckpt, plan, vocab


def test_loaded_parameters_are_exactly_the_directions_modules(three_language_checkpoint) -> None:
    ckpt, plan, vocab = three_language_checkpoint
    cfg = ModelConfig(vocab_size=len(vocab), d_model=32, n_heads=2, ffn_dim=64)
    inventory = module_inventory(plan, cfg)
    translator = Translator(ckpt, vocab, EN, DE)
    expected = {"embeddings/shared", "encoder/0/eng_Latn", "decoder/0/deu_Latn"}
    assert set(translator.loaded_modules) == expected
    assert translator.parameters == sum(inventory[m]["parameters"] for m in expected)
    assert translator.parameters < sum(v["parameters"] for v in inventory.values())


def test_an_untrained_direction_is_translated_zero_shot_with_a_warning(three_language_checkpoint) -> None:
    ckpt, _, vocab = three_language_checkpoint
    with pytest.warns(ZeroShotWarning, match=f"{EN}-{FR} was not trained"):
        translator = Translator(ckpt, vocab, EN, FR)
    assert translator.zero_shot
    assert translator.loaded_modules == ["decoder/0/fra_Latn", "embeddings/shared", "encoder/0/eng_Latn"]
    assert len(translator.translate(["A dog runs."], beam_size=2, max_tokens=16)) == 1


def test_zero_shot_needs_both_sides_trained(three_language_checkpoint) -> None:
    """fra has a decoder but no encoder: fra→deu cannot be composed."""
    ckpt, _, vocab = three_language_checkpoint
    with pytest.raises(ConfigError, match="encoder/0/fra_Latn"):
        Translator(ckpt, vocab, FR, DE)


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
    assert translator.loaded_modules == ["decoder/0/deu_Latn", "embeddings/shared", "encoder/0/eng_Latn"]
    done: list[int] = []
    out = translator.translate(sentences, beam_size=3, batch_sentences=3, progress=done.append)
    assert out == [toy_model.translation(s) for s in sentences]
    assert done == [3, 3, 3, 2]  # four batches, progress reported per batch


def test_empty_input_and_empty_sentences(toy_model) -> None:
    translator = Translator(toy_model.ckpt, toy_model.vocab, EN, DE)
    assert translator.translate([]) == []
    out = translator.translate(["", "cat"], beam_size=2)
    assert len(out) == 2 and out[1] == "Katze"
