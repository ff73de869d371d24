"""Margin scoring and the ways two directions' best pairs combine; checked by hand and against
an independent exact numpy miner (benchmarks/exact_margin.py)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.exact_margin import exact_mine
from mtforge.errors import ConfigError
from mtforge.mine.build import mine_vectors
from mtforge.mine.index import Neighbours
from mtforge.mine.margin import DEFAULT_THRESHOLDS, margin, mine_pairs


def nn(sims: list[list[float]], ids: list[list[int]]) -> Neighbours:
    return Neighbours(np.array(sims, np.float32), np.array(ids, np.int64))


def test_margin_functions_follow_the_definition() -> None:
    cos, mean_x, mean_y = np.float32(0.9), np.float32(0.6), np.float32(0.8)
    assert margin(cos, mean_x, mean_y, "absolute") == pytest.approx(0.9)
    assert margin(cos, mean_x, mean_y, "ratio") == pytest.approx(0.9 / 0.7)
    assert margin(cos, mean_x, mean_y, "distance") == pytest.approx(0.2)
    with pytest.raises(ConfigError, match="ratio, distance, absolute"):
        margin(cos, mean_x, mean_y, "cosine")  # type: ignore[arg-type]


def test_a_hub_target_loses_under_the_ratio_margin_but_wins_by_cosine() -> None:
    # Target 0 is a hub: close to both sources and to everything else. Source 0's true partner is
    # target 1, slightly less similar in absolute terms but far more than its neighbourhood.
    forward = nn([[0.80, 0.78], [0.79, 0.30]], [[0, 1], [0, 1]])
    backward = nn([[0.80, 0.79], [0.78, 0.20], [0.1, 0.05]], [[0, 1], [0, 1], [1, 0]])
    assert mine_pairs(forward, backward, function="absolute", mode="forward").as_set() == {(0, 0), (1, 0)}
    assert (0, 1) in mine_pairs(forward, backward, function="ratio", mode="forward").as_set()


def test_modes_thresholds_and_missing_neighbours() -> None:
    forward = nn([[0.9, 0.5], [0.8, 0.7], [0.6, -1.0]], [[0, 1], [0, 1], [2, -1]])
    backward = nn([[0.9, 0.8], [0.7, 0.5], [0.6, -1.0]], [[0, 1], [1, 0], [2, -1]])
    fwd = mine_pairs(forward, backward, function="absolute", mode="forward")
    assert sorted(fwd.as_set()) == [(0, 0), (1, 0), (2, 2)]          # one pair per source
    assert list(fwd.scores) == sorted(fwd.scores, reverse=True)       # best first
    bwd = mine_pairs(forward, backward, function="absolute", mode="backward")
    assert sorted(bwd.as_set()) == [(0, 0), (1, 1), (2, 2)]          # one pair per target
    both = mine_pairs(forward, backward, function="absolute", mode="intersection")
    assert sorted(both.as_set()) == [(0, 0), (2, 2)]                 # mutual best only
    union = mine_pairs(forward, backward, function="absolute", mode="union")
    assert sorted(union.as_set()) == [(0, 0), (1, 1), (2, 2)]        # one-to-one
    assert len(set(union.src_ids)) == len(union) == len(set(union.tgt_ids))
    high = mine_pairs(forward, backward, function="absolute", mode="union", threshold=0.75)
    assert sorted(high.as_set()) == [(0, 0)]
    with pytest.raises(ConfigError, match="forward, backward, union, intersection"):
        mine_pairs(forward, backward, mode="max")  # type: ignore[arg-type]


def test_empty_inputs_mine_nothing() -> None:
    empty = Neighbours(np.zeros((0, 4), np.float32), np.zeros((0, 4), np.int64))
    assert len(mine_pairs(empty, empty)) == 0


def planted(n_src: int, n_tgt: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sources and targets of which the first min(n) are noisy copies of each other."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_src, dim)).astype(np.float32)
    y = rng.normal(size=(n_tgt, dim)).astype(np.float32)
    shared = min(n_src, n_tgt) // 2
    y[:shared] = x[:shared] + rng.normal(scale=0.6, size=(shared, dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    return x, y


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("function", ["ratio", "distance", "absolute"])
@pytest.mark.parametrize("mode", ["forward", "backward", "union", "intersection"])
def test_flat_index_mining_equals_the_exact_numpy_reference(seed: int, function: str, mode: str) -> None:
    x, y = planted(300, 400, 32, seed)
    threshold = DEFAULT_THRESHOLDS[function] if seed else float("-inf")
    ours = mine_vectors([x[:120], x[120:]], [y[:200], y[200:]], k=4, function=function, mode=mode,
                        threshold=threshold)
    reference = exact_mine(x, y, k=4, function=function, mode=mode, threshold=threshold)
    assert len(ours) > 0
    assert list(zip(ours.src_ids.tolist(), ours.tgt_ids.tolist())) == [(s, t) for s, t, _ in reference]
    np.testing.assert_allclose(ours.scores, [v for _, _, v in reference], rtol=1e-5, atol=1e-6)
