"""The modular transformer: units by module id, stacked modules along a route, per-module
initialisation, and its decoding entry points."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from mtforge.errors import ConfigError
from mtforge.model.transformer import ModelConfig, ModularTransformer

CFG = ModelConfig(vocab_size=50, d_model=32, n_heads=2, ffn_dim=64, dropout=0.0)
#: partially shared: a language-specific encoder stack, then a shared one; one decoder per target
MODULES = {"embeddings/shared": 0, "encoder/0/eng_Latn": 1, "encoder/1/full": 2, "decoder/0/deu_Latn": 2,
           "decoder/0/fra_Latn": 1}
EN_DE = SimpleNamespace(src_embeddings="embeddings/shared", encoder=["encoder/0/eng_Latn", "encoder/1/full"],
                        decoder=["decoder/0/deu_Latn"], tgt_embeddings="embeddings/shared")


def model(modules: dict[str, int] = MODULES, seed: int | None = 0) -> ModularTransformer:
    return ModularTransformer(CFG, modules, seed=seed).eval()


def test_units_are_addressed_by_module_id_with_their_depth() -> None:
    units = model().named_units()
    assert sorted(units) == sorted(MODULES)
    assert len(units["encoder/1/full"].layers.layers) == 2 and len(units["decoder/0/fra_Latn"].layers.layers) == 1


def test_a_module_starts_from_the_same_weights_whatever_else_is_built() -> None:
    """Two ranks holding different module sets agree on the modules they share."""
    alone = model({"encoder/1/full": 2}).named_units()["encoder/1/full"]
    among = model().named_units()["encoder/1/full"]
    for a, b in zip(alone.state_dict().values(), among.state_dict().values()):
        assert torch.equal(a, b)
    other_seed = model({"encoder/1/full": 2}, seed=1).named_units()["encoder/1/full"]
    assert not torch.equal(next(other_seed.parameters()), next(alone.parameters()))


def test_without_a_seed_same_kind_modules_still_start_different() -> None:
    units = model(seed=None).named_units()
    assert not torch.equal(units["decoder/0/deu_Latn"].layers.layers[0].linear1.weight,
                           units["decoder/0/fra_Latn"].layers.layers[0].linear1.weight)


@torch.no_grad()
def test_the_route_runs_through_every_encoder_stack_in_order() -> None:
    m = model()
    src = torch.tensor([[5, 6, 7, 8], [9, 10, 0, 0]])
    memory, pad = m.encode(EN_DE, src)
    units = m.named_units()
    x = units["embeddings/shared"](src)
    expected = units["encoder/1/full"](units["encoder/0/eng_Latn"](x, pad), pad)
    torch.testing.assert_close(memory, expected)
    assert pad.tolist() == [[False] * 4, [False, False, True, True]]


@torch.no_grad()
def test_last_only_equals_the_last_position_of_the_full_logits() -> None:
    m = model()
    src = torch.tensor([[5, 6, 7, 8], [9, 10, 0, 0]])
    prefix = torch.tensor([[4, 11, 12], [4, 13, 14]])
    memory, pad = m.encode(EN_DE, src)
    full = m.decode(EN_DE, prefix, memory, pad)
    last = m.decode(EN_DE, prefix, memory, pad, last_only=True)
    assert full.shape == (2, 3, 50) and last.shape == (2, 50)
    torch.testing.assert_close(last, full[:, -1])


def test_a_route_through_a_module_the_model_lacks_names_it() -> None:
    m = model({"embeddings/shared": 0, "encoder/0/eng_Latn": 1})
    with pytest.raises(ConfigError, match="encoder/1/full"):
        m.encode(EN_DE, torch.tensor([[5, 6]]))


def test_an_unknown_module_kind_is_refused() -> None:
    with pytest.raises(ConfigError, match="adapter/x"):
        model({"adapter/x": 1})
