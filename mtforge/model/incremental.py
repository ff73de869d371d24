"""Incremental decoding: one new target position per step, with cached keys and values.

:meth:`ModularTransformer.decode` runs the decoder over the whole prefix, so producing T
tokens costs O(T²) position-passes. For inference, :class:`DecoderState` keeps, per decoder
layer, the self-attention keys and values of the positions decoded so far and the
cross-attention keys and values of the encoder output (computed once); :meth:`step` then
runs only the newest position through each layer — the same arithmetic as PyTorch's
pre-norm ``nn.TransformerDecoderLayer`` in eval mode (attention via
``scaled_dot_product_attention`` with the layers' own projection weights), so the logits
equal :meth:`~mtforge.model.transformer.ModularTransformer.decode`'s last position up to
floating-point rounding (tested). Beam search reorders the state with :meth:`select`.
:class:`FullPrefixState` is the same interface over full-prefix decoding: the reference that
tests and the ``decode_speed`` benchmark compare with.

Dropout is not applied: this is for models in eval mode.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mtforge.model.transformer import ModularTransformer, Route


@dataclass
class _LayerCache:
    layer: nn.TransformerDecoderLayer
    self_k: Tensor | None  # B × H × t × d_head
    self_v: Tensor | None
    cross_k: Tensor  # B × H × S × d_head
    cross_v: Tensor


def _heads(x: Tensor, n_heads: int) -> Tensor:
    """B × L × D → B × H × L × D/H."""
    b, length, d = x.shape
    return x.view(b, length, n_heads, d // n_heads).transpose(1, 2)


def _merge(x: Tensor) -> Tensor:
    """B × H × L × d → B × L × H·d."""
    b, h, length, d = x.shape
    return x.transpose(1, 2).reshape(b, length, h * d)


def _project(attn: nn.MultiheadAttention, x: Tensor, part: slice) -> Tensor:
    d = attn.embed_dim
    weight = attn.in_proj_weight[part.start * d:part.stop * d]
    bias = attn.in_proj_bias[part.start * d:part.stop * d] if attn.in_proj_bias is not None else None
    return F.linear(x, weight, bias)


class DecoderState:
    """The decoder caches of a batch of hypotheses for one route (see the module docstring).

    ``memory`` (B × S × D) and ``memory_pad`` (B × S, True = padding) are the encoder's output;
    the state starts at position 0.
    """

    def __init__(self, model: ModularTransformer, route: Route, memory: Tensor, memory_pad: Tensor) -> None:
        self.model, self.route = model, route
        self.embeddings = model.unit(route.tgt_embeddings)
        self.stacks = [model.unit(module).layers for module in route.decoder]
        self.position = 0
        # SDPA's boolean mask: True = attend; B × 1 × 1 × S, broadcast over heads and the query.
        self.memory_mask = (~memory_pad)[:, None, None, :]
        self.caches: list[_LayerCache] = []
        for stack in self.stacks:
            for layer in stack.layers:
                attn = layer.multihead_attn
                k, v = _project(attn, memory, slice(1, 2)), _project(attn, memory, slice(2, 3))
                self.caches.append(_LayerCache(layer, None, None, _heads(k, attn.num_heads), _heads(v, attn.num_heads)))

    def step(self, tokens: Tensor) -> Tensor:
        """Feed one token per row (B) at the current position; the next-token logits (B × V)."""
        emb = self.embeddings
        x = (emb.tokens(tokens) * emb.scale + emb.positions[self.position]).unsqueeze(1)  # B × 1 × D
        caches = iter(self.caches)
        for stack in self.stacks:
            for layer in stack.layers:
                x = self._layer(next(caches), x)
            x = stack.norm(x)
        self.position += 1
        return self.model.logits(self.route, x[:, 0])

    def _layer(self, cache: _LayerCache, x: Tensor) -> Tensor:
        layer = cache.layer
        sa, heads = layer.self_attn, layer.self_attn.num_heads
        h = layer.norm1(x)
        q, k, v = (_heads(_project(sa, h, slice(i, i + 1)), heads) for i in range(3))
        cache.self_k = k if cache.self_k is None else torch.cat([cache.self_k, k], dim=2)
        cache.self_v = v if cache.self_v is None else torch.cat([cache.self_v, v], dim=2)
        x = x + sa.out_proj(_merge(F.scaled_dot_product_attention(q, cache.self_k, cache.self_v)))
        ca = layer.multihead_attn
        q = _heads(_project(ca, layer.norm2(x), slice(0, 1)), ca.num_heads)
        x = x + ca.out_proj(_merge(F.scaled_dot_product_attention(q, cache.cross_k, cache.cross_v,
                                                                  attn_mask=self.memory_mask)))
        return x + layer.linear2(layer.activation(layer.linear1(layer.norm3(x))))

    def select(self, rows: Tensor) -> None:
        """Keep the hypotheses ``rows`` (indices into the current batch, repeats allowed)."""
        self.memory_mask = self.memory_mask[rows]
        for cache in self.caches:
            cache.cross_k, cache.cross_v = cache.cross_k[rows], cache.cross_v[rows]
            if cache.self_k is not None:
                cache.self_k, cache.self_v = cache.self_k[rows], cache.self_v[rows]


class FullPrefixState:
    """:class:`DecoderState`'s interface over :meth:`ModularTransformer.decode` of the whole
    prefix at every step (O(T²)): the reference incremental decoding is checked against."""

    def __init__(self, model: ModularTransformer, route: Route, memory: Tensor, memory_pad: Tensor) -> None:
        self.model, self.route, self.memory, self.memory_pad = model, route, memory, memory_pad
        self.prefix: Tensor | None = None

    def step(self, tokens: Tensor) -> Tensor:
        new = tokens.unsqueeze(1)
        self.prefix = new if self.prefix is None else torch.cat([self.prefix, new], dim=1)
        return self.model.decode(self.route, self.prefix, self.memory, self.memory_pad, last_only=True)

    def select(self, rows: Tensor) -> None:
        self.memory, self.memory_pad = self.memory[rows], self.memory_pad[rows]
        if self.prefix is not None:
            self.prefix = self.prefix[rows]
