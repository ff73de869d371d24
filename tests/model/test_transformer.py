"""The modular transformer's named units and its decoding entry points."""

from __future__ import annotations

import torch

from mtforge.model.transformer import ModelConfig, ModularTransformer


def model() -> ModularTransformer:
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=50, d_model=32, n_heads=2, ffn_dim=64, encoder_layers=1, decoder_layers=2)
    return ModularTransformer(cfg, ["eng_Latn"], ["deu_Latn", "fra_Latn"]).eval()


def test_units_are_addressed_by_module_id() -> None:
    assert sorted(model().named_units()) == ["decoder/deu_Latn", "decoder/fra_Latn", "embeddings", "encoder/eng_Latn"]


@torch.no_grad()
def test_last_only_equals_the_last_position_of_the_full_logits() -> None:
    m = model()
    src = torch.tensor([[5, 6, 7, 8], [9, 10, 0, 0]])
    prefix = torch.tensor([[4, 11, 12], [4, 13, 14]])
    memory, pad = m.encode("eng_Latn", src)
    full = m.decode("deu_Latn", prefix, memory, pad)
    last = m.decode("deu_Latn", prefix, memory, pad, last_only=True)
    assert full.shape == (2, 3, 50) and last.shape == (2, 50)
    torch.testing.assert_close(last, full[:, -1])
