"""A straightforward exact margin miner in numpy: the reference ``mtforge.mine`` is checked and
timed against (tests/mine/test_margin_exact.py, tests/mine/test_margin.py,
benchmarks/mining_speed.py).

Written from the definition (Artetxe & Schwenk 2019, "Margin-based parallel corpus mining
with multilingual sentence embeddings"), sharing no code with ``mtforge.mine``. For unit
vectors ``x`` (sources) and ``y`` (targets)::

    a(x, y) = cos(x, y)
    b(x, y) = ( mean_{z in NN_k(x) among y} cos(x, z) + mean_{z in NN_k(y) among x} cos(y, z) ) / 2
    ratio = a / b        distance = a - b        absolute = a

Steps: the full cosine matrix, computed in row blocks (never held whole); each row's ``k``
largest by ``argpartition`` (both directions: ``x`` against ``y`` and ``y`` against ``x``);
the neighbourhood means; every source's best target among its ``k`` neighbours by margin
(*forward*), every target's best source (*backward*), combined as

* ``forward`` / ``backward``: one direction's best pairs;
* ``intersection``: forward pairs that are also the backward best of their target;
* ``union``: forward and backward pairs together, best first (ties: lower source id, then
  lower target id), kept greedily when neither sentence is used yet (one-to-one).

Pairs scoring below ``threshold`` are dropped. Scores are computed in float64 from the
float32 cosines.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FUNCTIONS = ("ratio", "distance", "absolute")
MODES = ("forward", "backward", "union", "intersection")


def top_k(queries: np.ndarray, keys: np.ndarray, k: int, block: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` cosines and ids of every query among ``keys`` (rows sorted, best first).

    ``k`` is capped at ``len(keys)``. Memory: one ``block × len(keys)`` float32 score block and
    its ``argpartition`` (int64) at a time.
    """
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    keys = np.ascontiguousarray(keys, dtype=np.float32)
    k = min(k, len(keys))
    sims = np.empty((len(queries), k), np.float32)
    ids = np.empty((len(queries), k), np.int64)
    if k == 0:
        return sims, ids
    for start in range(0, len(queries), block):
        scores = queries[start:start + block] @ keys.T
        part = np.argpartition(scores, len(keys) - k, axis=1)[:, len(keys) - k:]  # the k largest, unordered
        part_scores = np.take_along_axis(scores, part, axis=1)
        order = np.argsort(-part_scores, axis=1, kind="stable")
        ids[start:start + block] = np.take_along_axis(part, order, axis=1)
        sims[start:start + block] = np.take_along_axis(part_scores, order, axis=1)
    return sims, ids


@dataclass(frozen=True)
class ExactKnn:
    """Both directions' exact neighbours: ``x`` among ``y`` (``xy_*``) and ``y`` among ``x`` (``yx_*``)."""

    xy_sims: np.ndarray
    xy_ids: np.ndarray
    yx_sims: np.ndarray
    yx_ids: np.ndarray


def exact_knn(x: np.ndarray, y: np.ndarray, k: int, block: int = 512) -> ExactKnn:
    """Exact ``k`` nearest neighbours both ways (two passes over the cosine matrix, in blocks)."""
    xy_sims, xy_ids = top_k(x, y, k, block)
    yx_sims, yx_ids = top_k(y, x, k, block)
    return ExactKnn(xy_sims, xy_ids, yx_sims, yx_ids)


def margin_scores(cos: np.ndarray, mean_a: np.ndarray, mean_b: np.ndarray, function: str) -> np.ndarray:
    """The margin of pairs with cosine ``cos`` whose sentences' neighbourhood means are ``mean_a``, ``mean_b``."""
    cos = np.asarray(cos, np.float64)
    if function == "absolute":
        return cos
    b = (np.asarray(mean_a, np.float64) + np.asarray(mean_b, np.float64)) / 2
    if function == "ratio":
        return cos / b
    if function == "distance":
        return cos - b
    raise ValueError(f"unknown margin function {function!r}; one of {FUNCTIONS}")


def mine_from_knn(knn: ExactKnn, *, function: str = "ratio", mode: str = "union",
                  threshold: float = float("-inf")) -> list[tuple[int, int, float]]:
    """Mined ``(x id, y id, score)`` triples from exact neighbours, best first (see the module docstring)."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; one of {MODES}")
    if knn.xy_ids.shape[1] == 0 or knn.yx_ids.shape[1] == 0:
        return []
    mean_x = knn.xy_sims.astype(np.float64).mean(axis=1)   # each source's neighbourhood among the targets
    mean_y = knn.yx_sims.astype(np.float64).mean(axis=1)   # each target's neighbourhood among the sources
    fwd_scores = margin_scores(knn.xy_sims, mean_x[:, None], mean_y[knn.xy_ids], function)
    bwd_scores = margin_scores(knn.yx_sims, mean_y[:, None], mean_x[knn.yx_ids], function)
    fwd_col = fwd_scores.argmax(axis=1)
    bwd_col = bwd_scores.argmax(axis=1)
    rows_x, rows_y = np.arange(len(fwd_col)), np.arange(len(bwd_col))
    fwd = list(zip(rows_x.tolist(), knn.xy_ids[rows_x, fwd_col].tolist(), fwd_scores[rows_x, fwd_col].tolist()))
    bwd = list(zip(knn.yx_ids[rows_y, bwd_col].tolist(), rows_y.tolist(), bwd_scores[rows_y, bwd_col].tolist()))

    def best_first(pairs: list[tuple[int, int, float]]) -> list[tuple[int, int, float]]:
        return sorted(pairs, key=lambda p: (-p[2], p[0], p[1]))

    if mode == "forward":
        pairs = fwd
    elif mode == "backward":
        pairs = bwd
    elif mode == "intersection":
        best_source_of = {t: s for s, t, _ in bwd}
        pairs = [(s, t, v) for s, t, v in fwd if best_source_of[t] == s]
    else:
        pairs, used_x, used_y = [], set(), set()
        for s, t, v in best_first(fwd + bwd):
            if s not in used_x and t not in used_y:
                used_x.add(s)
                used_y.add(t)
                pairs.append((s, t, v))
    return best_first([p for p in pairs if p[2] >= threshold])


def exact_mine(x: np.ndarray, y: np.ndarray, *, k: int = 4, function: str = "ratio", mode: str = "union",
               threshold: float = float("-inf"), block: int = 512) -> list[tuple[int, int, float]]:
    """Mined ``(x id, y id, score)`` triples, best first (ties: lower x id, then lower y id)."""
    if function not in FUNCTIONS:
        raise ValueError(f"unknown margin function {function!r}; one of {FUNCTIONS}")
    return mine_from_knn(exact_knn(x, y, k, block), function=function, mode=mode, threshold=threshold)
