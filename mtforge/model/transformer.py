"""A transformer encoder-decoder assembled from named modules (MAMMOTH style).

The model is a bag of modules addressed by id; a translation *route* (a task of the plan,
see :mod:`mtforge.train.plan`) names the ones it runs through, in order:

* ``embeddings/<name>`` — a token embedding table (shared by every language, or one per
  language), tied with the output projection of the decoder that uses it;
* ``encoder/<i>/<name>`` — the i-th encoder stack: ``n`` pre-norm layers and a layer norm;
* ``decoder/<i>/<name>`` — the i-th decoder stack, attending to the encoder's output.

Language-specific, group-shared and fully shared stacks are only different names, so any
layer-wise sharing scheme is a set of routes over the same kind of units. A model object
holds only the modules it is built with: a rank builds the modules of its tasks, inference
the modules of one direction.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import Protocol

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from mtforge.errors import ConfigError

PAD_ID = 0


class ModelConfig(BaseModel):
    """Hyper-parameters shared by every module of one model (stack depths come from the plan)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    vocab_size: int = Field(description="SentencePiece vocabulary size (incl. language tags)")
    d_model: int = Field(256, description="model width")
    n_heads: int = Field(4, description="attention heads")
    ffn_dim: int = Field(1024, description="feed-forward inner width")
    dropout: float = Field(0.1, description="dropout probability")
    max_positions: int = Field(512, description="longest sequence the positional table covers")


class Route(Protocol):
    """The modules one translation direction runs through (a plan's ``TaskPlan`` is one)."""

    src_embeddings: str
    encoder: Sequence[str]
    decoder: Sequence[str]
    tgt_embeddings: str


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
    """``layers`` pre-norm transformer encoder layers with a final layer norm."""

    def __init__(self, cfg: ModelConfig, layers: int) -> None:
        super().__init__()
        layer = nn.TransformerEncoderLayer(
            cfg.d_model, cfg.n_heads, cfg.ffn_dim, cfg.dropout, batch_first=True, norm_first=True
        )
        self.layers = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(cfg.d_model),
                                            enable_nested_tensor=False)

    def forward(self, x: Tensor, pad_mask: Tensor) -> Tensor:
        return self.layers(x, src_key_padding_mask=pad_mask)


class DecoderStack(nn.Module):
    """``layers`` pre-norm transformer decoder layers with a final layer norm."""

    def __init__(self, cfg: ModelConfig, layers: int) -> None:
        super().__init__()
        layer = nn.TransformerDecoderLayer(
            cfg.d_model, cfg.n_heads, cfg.ffn_dim, cfg.dropout, batch_first=True, norm_first=True
        )
        self.layers = nn.TransformerDecoder(layer, layers, norm=nn.LayerNorm(cfg.d_model))

    def forward(self, y: Tensor, memory: Tensor, memory_pad_mask: Tensor, tgt_pad_mask: Tensor | None) -> Tensor:
        causal = torch.ones(y.size(1), y.size(1), dtype=torch.bool, device=y.device).triu(1)  # True = masked
        return self.layers(
            y, memory, tgt_mask=causal, tgt_is_causal=True,
            tgt_key_padding_mask=tgt_pad_mask, memory_key_padding_mask=memory_pad_mask,
        )


def build_unit(cfg: ModelConfig, module: str, layers: int) -> nn.Module:
    """The unit for a module id: its kind is the id's first path segment."""
    kind = module.split("/", 1)[0]
    if kind == "embeddings":
        return Embeddings(cfg)
    if kind == "encoder":
        return EncoderStack(cfg, layers)
    if kind == "decoder":
        return DecoderStack(cfg, layers)
    raise ConfigError(f"module id {module!r} is not embeddings/…, encoder/… or decoder/…")


def _key(module: str) -> str:
    return module.replace("/", "__")  # nn.ModuleDict keys cannot contain '.'; keep state-dict keys plain


def module_seed(seed: int, module: str) -> int:
    """A stable per-module seed: a module starts from the same weights whatever else is built."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{module}".encode()).digest()[:8], "big")


class ModularTransformer(nn.Module):
    """The units of ``modules`` (module id → stack depth; 0 for embeddings), run along routes.

    With ``seed``, each unit is initialised from :func:`module_seed` (the global RNG is left
    as it was), so two processes building different module sets agree on shared modules.
    """

    def __init__(self, cfg: ModelConfig, modules: Mapping[str, int], seed: int | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        units = {}
        for module, layers in sorted(modules.items()):
            if seed is None:
                units[_key(module)] = build_unit(cfg, module, layers)
                continue
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(module_seed(seed, module))
                units[_key(module)] = build_unit(cfg, module, layers)
        self.units = nn.ModuleDict(units)
        self._ids = sorted(modules)

    @classmethod
    def from_units(cls, cfg: ModelConfig, units: Mapping[str, nn.Module]) -> "ModularTransformer":
        """A model over already-built (e.g. loaded and cached) units, which are shared, not
        copied: a server assembles each direction from the units it keeps loaded."""
        model = cls.__new__(cls)
        nn.Module.__init__(model)
        model.cfg = cfg
        model.units = nn.ModuleDict({_key(m): units[m] for m in sorted(units)})
        model._ids = sorted(units)
        return model

    def named_units(self) -> dict[str, nn.Module]:
        """Every checkpointable unit by module id."""
        return {m: self.units[_key(m)] for m in self._ids}

    def unit(self, module: str) -> nn.Module:
        key = _key(module)
        if key not in self.units:
            raise ConfigError(f"module {module!r} is not part of this model (it has {', '.join(self._ids)})")
        return self.units[key]

    def encode(self, route: Route, src: Tensor) -> tuple[Tensor, Tensor]:
        """Source ids (B×S) → memory (B×S×D) after every encoder stack, and its padding mask."""
        pad = src.eq(PAD_ID)
        x = self.unit(route.src_embeddings)(src)
        for module in route.encoder:
            x = self.unit(module)(x, pad)
        return x, pad

    def decode(self, route: Route, prefix: Tensor, memory: Tensor, memory_pad: Tensor, *,
               last_only: bool = False) -> Tensor:
        """Decoder input ids (B×T) → next-token logits (B×T×V), or only the last position's
        (B×V) with ``last_only`` — all that step-by-step decoding needs."""
        tgt_pad = prefix.eq(PAD_ID)
        tgt_pad_mask = tgt_pad if bool(tgt_pad.any()) else None
        embeddings = self.unit(route.tgt_embeddings)
        y = embeddings(prefix)
        for module in route.decoder:
            y = self.unit(module)(y, memory, memory_pad, tgt_pad_mask)
        return self.logits(route, y[:, -1] if last_only else y)

    def logits(self, route: Route, hidden: Tensor) -> Tensor:
        """Decoder output (… × D) → vocabulary logits, through the route's tied embeddings."""
        return self.unit(route.tgt_embeddings).logits(hidden)

    def forward(self, route: Route, src: Tensor, prefix: Tensor) -> Tensor:
        memory, pad = self.encode(route, src)
        return self.decode(route, prefix, memory, pad)
