"""A straightforward exact margin miner in numpy: the reference ``mtforge.mine`` is checked and
timed against (tests/mine/test_margin_exact.py, benchmarks/mining_speed.py).

Written from the definition (Artetxe & Schwenk 2019), sharing no code with ``mtforge.mine``:
the full cosine matrix (in row blocks), top-k by ``argpartition``, neighbourhood means, and
the best candidate per sentence in each direction, combined as forward / backward /
intersection / union (greedy one-to-one, best first).
"""

from __future__ import annotations

import numpy as np


def top_k(queries: np.ndarray, keys: np.ndarray, k: int, block: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` cosines and ids of every query among ``keys`` (rows sorted, best first)."""
    k = min(k, len(keys))
    sims = np.empty((len(queries), k), np.float32)
    ids = np.empty((len(queries), k), np.int64)
    for start in range(0, len(queries), block):
        scores = queries[start:start + block] @ keys.T
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        part_scores = np.take_along_axis(scores, part, axis=1)
        order = np.argsort(-part_scores, axis=1, kind="stable")
        ids[start:start + block] = np.take_along_axis(part, order, axis=1)
        sims[start:start + block] = np.take_along_axis(part_scores, order, axis=1)
    return sims, ids


def exact_mine(x: np.ndarray, y: np.ndarray, *, k: int = 4, function: str = "ratio", mode: str = "union",
               threshold: float = float("-inf")) -> list[tuple[int, int, float]]:
    """Mined ``(x id, y id, score)`` triples, best first (ties: lower x id, then lower y id)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    y = np.ascontiguousarray(y, dtype=np.float32)
    xy_sims, xy_ids = top_k(x, y, k)
    yx_sims, yx_ids = top_k(y, x, k)
    mean_x, mean_y = xy_sims.mean(axis=1), yx_sims.mean(axis=1)

    def score(cos: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if function == "absolute":
            return cos
        denominator = (a + b) / 2
        return cos / denominator if function == "ratio" else cos - denominator

    fwd_scores = score(xy_sims, mean_x[:, None], mean_y[xy_ids])
    bwd_scores = score(yx_sims, mean_y[:, None], mean_x[yx_ids])
    fwd = [(i, int(xy_ids[i, j]), float(fwd_scores[i, j])) for i, j in enumerate(fwd_scores.argmax(axis=1))]
    bwd = [(int(yx_ids[i, j]), i, float(bwd_scores[i, j])) for i, j in enumerate(bwd_scores.argmax(axis=1))]
    if mode == "forward":
        pairs = fwd
    elif mode == "backward":
        pairs = bwd
    elif mode == "intersection":
        best_back = {t: s for s, t, _ in bwd}
        pairs = [(s, t, v) for s, t, v in fwd if best_back.get(t) == s]
    else:
        pairs, used_x, used_y = [], set(), set()
        for s, t, v in sorted(fwd + bwd, key=lambda p: (-p[2], p[0], p[1])):
            if s not in used_x and t not in used_y:
                used_x.add(s)
                used_y.add(t)
                pairs.append((s, t, v))
    return sorted(((s, t, v) for s, t, v in pairs if v >= threshold), key=lambda p: (-p[2], p[0], p[1]))
