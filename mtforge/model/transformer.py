"""A transformer encoder-decoder assembled from named modules.

The model is a bag of modules addressed by id, in the MAMMOTH style:

* ``embeddings`` — the joint token embedding table (tied with the output projection);
* ``encoder/<name>`` — an encoder layer stack;
* ``decoder/<name>`` — a decoder layer stack.

A translation *task* picks one encoder and one decoder by name (see
:mod:`mtforge.train.tasks`), so language-specific and shared stacks are just different
names. Every module is saved to and loaded from its own checkpoint file, which lets
inference load only the modules of the requested direction.
"""

from __future__ import annotations

import math

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

PAD_ID = 0


class ModelConfig(BaseModel):
    """Hyper-parameters shared by every module of one model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    vocab_size: int = Field(description="SentencePiece vocabulary size (incl. language tags)")
    d_model: int = Field(256, description="model width")
    n_heads: int = Field(4, description="attention heads")
    ffn_dim: int = Field(1024, description="feed-forward inner width")
    encoder_layers: int = Field(3, description="layers per encoder stack")
    decoder_layers: int = Field(3, description="layers per decoder stack")
    dropout: float = Field(0.1, description="dropout probability")
    max_positions: int = Field(512, description="longest sequence the positional table covers")


def sinusoidal_table(positions: int, dim: int) -> Tensor:
    """The fixed sine/cosine position table of Vaswani et al. (positions × dim)."""
    pos = torch.arange(positions, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(positions, dim)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)
    return table


class Embeddings(nn.Module):
    """Token embedding scaled by sqrt(d_model) plus sinusoidal positions."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.tokens = nn.Embedding(cfg.vocab_size, cfg.d_model, padding_idx=PAD_ID)
        nn.init.normal_(self.tokens.weight, std=cfg.d_model**-0.5)
        self.register_buffer("positions", sinusoidal_table(cfg.max_positions, cfg.d_model), persistent=False)
        self.scale = math.sqrt(cfg.d_model)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, ids: Tensor) -> Tensor:
        return self.dropout(self.tokens(ids) * self.scale + self.positions[: ids.size(1)])

    def logits(self, hidden: Tensor) -> Tensor:
        """Output projection tied to the embedding table."""
        return hidden @ self.tokens.weight.t()


class EncoderStack(nn.Module):
    """Pre-norm transformer encoder layers with a final layer norm."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        layer = nn.TransformerEncoderLayer(
            cfg.d_model, cfg.n_heads, cfg.ffn_dim, cfg.dropout, batch_first=True, norm_first=True
        )
        self.layers = nn.TransformerEncoder(layer, cfg.encoder_layers, norm=nn.LayerNorm(cfg.d_model),
                                            enable_nested_tensor=False)

    def forward(self, x: Tensor, pad_mask: Tensor) -> Tensor:
        return self.layers(x, src_key_padding_mask=pad_mask)


class DecoderStack(nn.Module):
    """Pre-norm transformer decoder layers with a final layer norm."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        layer = nn.TransformerDecoderLayer(
            cfg.d_model, cfg.n_heads, cfg.ffn_dim, cfg.dropout, batch_first=True, norm_first=True
        )
        self.layers = nn.TransformerDecoder(layer, cfg.decoder_layers, norm=nn.LayerNorm(cfg.d_model))

    def forward(self, y: Tensor, memory: Tensor, memory_pad_mask: Tensor, tgt_pad_mask: Tensor | None) -> Tensor:
        causal = torch.ones(y.size(1), y.size(1), dtype=torch.bool, device=y.device).triu(1)  # True = masked
        return self.layers(
            y, memory, tgt_mask=causal, tgt_is_causal=True,
            tgt_key_padding_mask=tgt_pad_mask, memory_key_padding_mask=memory_pad_mask,
        )


class ModularTransformer(nn.Module):
    """Embeddings plus any number of named encoder and decoder stacks."""

    def __init__(self, cfg: ModelConfig, encoders: list[str], decoders: list[str]) -> None:
        super().__init__()
        self.cfg = cfg
        self.embeddings = Embeddings(cfg)
        self.encoders = nn.ModuleDict({name: EncoderStack(cfg) for name in encoders})
        self.decoders = nn.ModuleDict({name: DecoderStack(cfg) for name in decoders})

    def named_units(self) -> dict[str, nn.Module]:
        """Every checkpointable unit by module id (``embeddings``, ``encoder/x``, ``decoder/y``)."""
        units: dict[str, nn.Module] = {"embeddings": self.embeddings}
        units.update({f"encoder/{k}": v for k, v in self.encoders.items()})
        units.update({f"decoder/{k}": v for k, v in self.decoders.items()})
        return units

    def encode(self, encoder: str, src: Tensor) -> tuple[Tensor, Tensor]:
        """Source ids (B×S) → memory (B×S×D) and its padding mask."""
        pad = src.eq(PAD_ID)
        return self.encoders[encoder](self.embeddings(src), pad), pad

    def decode(self, decoder: str, prefix: Tensor, memory: Tensor, memory_pad: Tensor, *,
               last_only: bool = False) -> Tensor:
        """Decoder input ids (B×T) → next-token logits (B×T×V), or only the last position's
        (B×V) with ``last_only`` — all that step-by-step decoding needs."""
        tgt_pad = prefix.eq(PAD_ID)
        hidden = self.decoders[decoder](self.embeddings(prefix), memory, memory_pad,
                                        tgt_pad if bool(tgt_pad.any()) else None)
        return self.embeddings.logits(hidden[:, -1] if last_only else hidden)

    def forward(self, encoder: str, decoder: str, src: Tensor, prefix: Tensor) -> Tensor:
        memory, pad = self.encode(encoder, src)
        return self.decode(decoder, prefix, memory, pad)
