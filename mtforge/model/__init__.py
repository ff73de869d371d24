"""Encoder-decoder translation models built from named, separately checkpointed modules."""

from mtforge.model.transformer import ModelConfig, ModularTransformer

__all__ = ["ModelConfig", "ModularTransformer"]
