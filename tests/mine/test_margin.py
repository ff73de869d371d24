"""Margin scoring and the ways two directions' best pairs combine, on tiny inputs whose expected
scores are worked out by hand from the definition (module docstring of mtforge.mine.margin):

    a = cos(x, y)      b = (mean_k cos(x, NN_k(x)) + mean_k cos(y, NN_k(y))) / 2
    ratio: a / b       distance: a - b       absolute: a

(the agreement with an independent exact miner on larger inputs is tests/mine/test_margin_exact.py)."""

from __future__ import annotations

import numpy as np
import pytest

from mtforge.errors import ConfigError
from mtforge.mine.index import Neighbours
from mtforge.mine.margin import MARGINS, MODES, MinedPairs, margin, mine_pairs, neighbourhood_mean


def nn(sims: list[list[float]], ids: list[list[int]]) -> Neighbours:
    return Neighbours(np.array(sims, np.float32), np.array(ids, np.int64))


def knn(cos: np.ndarray, k: int) -> Neighbours:
    """The ``k`` most similar columns of each row of a cosine matrix (what a Flat index returns)."""
    ids = np.argsort(-cos, axis=1, kind="stable")[:, :k]
    return Neighbours(np.take_along_axis(cos, ids, axis=1).astype(np.float32), ids.astype(np.int64))


def both_ways(cos: list[list[float]], k: int) -> tuple[Neighbours, Neighbours]:
    matrix = np.array(cos, np.float32)
    return knn(matrix, k), knn(matrix.T, k)


def pairs(mined: MinedPairs) -> list[tuple[int, int]]:
    """The pairs in the order mined (best first)."""
    return list(zip(mined.src_ids.tolist(), mined.tgt_ids.tolist()))


# A 3 x 3 cosine matrix, k = 2:
#          t0    t1    t2          source means (top 2 of a row):    s0 .85  s1 .65  s2 .40
#   s0    .9    .8    .1           target means (top 2 of a column): t0 .80  t1 .70  t2 .35
#   s1    .7    .6    .2
#   s2    .3    .2    .5
COS = [[0.9, 0.8, 0.1], [0.7, 0.6, 0.2], [0.3, 0.2, 0.5]]
MEAN_S = [(0.9 + 0.8) / 2, (0.7 + 0.6) / 2, (0.5 + 0.3) / 2]
MEAN_T = [(0.9 + 0.7) / 2, (0.8 + 0.6) / 2, (0.5 + 0.2) / 2]


def test_neighbourhood_means_follow_the_definition() -> None:
    forward, backward = both_ways(COS, 2)
    np.testing.assert_allclose(neighbourhood_mean(forward), MEAN_S, rtol=1e-6)
    np.testing.assert_allclose(neighbourhood_mean(backward), MEAN_T, rtol=1e-6)


def test_margin_function_values() -> None:
    cos, mean_x, mean_y = np.array([0.9, 0.5], np.float32), np.array([0.6, 0.4]), np.array([0.8, 0.2])
    np.testing.assert_allclose(margin(cos, mean_x, mean_y, "absolute"), [0.9, 0.5], rtol=1e-6)
    np.testing.assert_allclose(margin(cos, mean_x, mean_y, "ratio"), [0.9 / 0.7, 0.5 / 0.3], rtol=1e-6)
    np.testing.assert_allclose(margin(cos, mean_x, mean_y, "distance"), [0.9 - 0.7, 0.5 - 0.3], atol=1e-6)


@pytest.mark.parametrize(("function", "expected"), [
    # forward: each source's best-scoring neighbour, best first
    ("ratio", [(2, 2, 0.5 / ((0.40 + 0.35) / 2)), (0, 0, 0.9 / ((0.85 + 0.80) / 2)), (1, 0, 0.7 / ((0.65 + 0.80) / 2))]),
    ("distance", [(2, 2, 0.5 - (0.40 + 0.35) / 2), (0, 0, 0.9 - (0.85 + 0.80) / 2), (1, 0, 0.7 - (0.65 + 0.80) / 2)]),
    ("absolute", [(0, 0, 0.9), (1, 0, 0.7), (2, 2, 0.5)]),
])
def test_forward_scores_by_hand(function: str, expected: list[tuple[int, int, float]]) -> None:
    forward, backward = both_ways(COS, 2)
    mined = mine_pairs(forward, backward, function=function, mode="forward")  # type: ignore[arg-type]
    assert pairs(mined) == [(s, t) for s, t, _ in expected]
    np.testing.assert_allclose(mined.scores, [v for _, _, v in expected], rtol=1e-5, atol=1e-6)
    assert mined.src_ids.dtype == np.int64 and mined.tgt_ids.dtype == np.int64


def test_modes_on_the_hand_example() -> None:
    forward, backward = both_ways(COS, 2)
    r = {  # ratio scores of the candidates, by hand
        (0, 0): 0.9 / ((0.85 + 0.80) / 2), (0, 1): 0.8 / ((0.85 + 0.70) / 2), (1, 0): 0.7 / ((0.65 + 0.80) / 2),
        (2, 2): 0.5 / ((0.40 + 0.35) / 2),
    }
    assert r[(0, 1)] > r[(1, 0)]   # so t1 keeps s0 (its best backward) ahead of s1's forward choice
    mine = {mode: mine_pairs(forward, backward, function="ratio", mode=mode) for mode in MODES}
    # forward: one pair per source; backward: one per target (t1's best source is s0, by .8/.775)
    assert pairs(mine["forward"]) == [(2, 2), (0, 0), (1, 0)]
    assert pairs(mine["backward"]) == [(2, 2), (0, 0), (0, 1)]
    np.testing.assert_allclose(mine["backward"].scores, [r[(2, 2)], r[(0, 0)], r[(0, 1)]], rtol=1e-5)
    # intersection: only pairs each side picks as its best ((1, 0) is not: t0 prefers s0)
    assert pairs(mine["intersection"]) == [(2, 2), (0, 0)]
    # union: greedy one-to-one, best first: (0, 1) and (1, 0) lose to the already aligned s0 / t0
    assert pairs(mine["union"]) == [(2, 2), (0, 0)]
    np.testing.assert_allclose(mine["union"].scores, [r[(2, 2)], r[(0, 0)]], rtol=1e-5)


def test_union_is_one_to_one_best_first_and_uses_both_directions() -> None:
    # By cosine, every source's best is t0; t1's best source is s1 and t2's is s2. The union keeps
    # (0, 0), drops (1, 0) and (2, 0) (t0 is taken) and recovers (1, 1) and (2, 2) from the
    # backward lists. (The margins already pick t1 for s1 and t2 for s2 forward.)
    cos = [[0.90, 0.10, 0.20],
           [0.70, 0.65, 0.10],
           [0.60, 0.10, 0.40]]
    forward, backward = both_ways(cos, 2)
    for function in MARGINS:
        union = mine_pairs(forward, backward, function=function, mode="union")  # type: ignore[arg-type]
        assert sorted(pairs(union)) == [(0, 0), (1, 1), (2, 2)], function
        assert list(union.scores) == sorted(union.scores, reverse=True)
        fwd = mine_pairs(forward, backward, function=function, mode="forward")  # type: ignore[arg-type]
        if function == "absolute":
            assert {t for _, t in pairs(fwd)} == {0}  # forward alone finds only t0
        # the union's scores are the candidates' own (from whichever side found them)
        bwd = mine_pairs(forward, backward, function=function, mode="backward")  # type: ignore[arg-type]
        candidates = {**dict(zip(pairs(fwd), fwd.scores.tolist())), **dict(zip(pairs(bwd), bwd.scores.tolist()))}
        for pair, score in zip(pairs(union), union.scores.tolist()):
            assert score == pytest.approx(candidates[pair], rel=1e-6)
    union = mine_pairs(forward, backward, function="absolute", mode="union")
    assert pairs(union) == [(0, 0), (1, 1), (2, 2)]
    np.testing.assert_allclose(union.scores, [0.90, 0.65, 0.40], rtol=1e-6)


def test_a_hub_target_wins_by_cosine_but_loses_under_the_ratio_margin() -> None:
    # t0 is a hub: .83-.85 to every source. s0's translation is t1, s1's is t2; s2 has none.
    #          t0    t1    t2        source means: s0 .825  s1 .81  s2 .575
    #   s0    .85   .80   .30        target means: t0 .845  t1 .575 t2 .55
    #   s1    .84   .35   .78
    #   s2    .83   .30   .32
    cos = [[0.85, 0.80, 0.30], [0.84, 0.35, 0.78], [0.83, 0.30, 0.32]]
    forward, backward = both_ways(cos, 2)
    assert pairs(mine_pairs(forward, backward, function="absolute", mode="forward")) == [(0, 0), (1, 0), (2, 0)]
    ratio = mine_pairs(forward, backward, function="ratio", mode="forward")
    assert dict(pairs(ratio))[0] == 1 and dict(pairs(ratio))[1] == 2
    # by hand: s0 -> t1 .80 / ((.825 + .575) / 2) = 1.1429 beats s0 -> t0 .85 / ((.825 + .845) / 2) = 1.0180
    np.testing.assert_allclose(ratio.scores[pairs(ratio).index((0, 1))], 0.80 / ((0.825 + 0.575) / 2), rtol=1e-5)
    assert sorted(pairs(mine_pairs(forward, backward, function="ratio", mode="union")))[:2] == [(0, 1), (1, 2)]
    assert sorted(pairs(mine_pairs(forward, backward, function="distance", mode="intersection"))) == [(0, 1), (1, 2)]


def test_threshold_drops_pairs_below_it() -> None:
    forward, backward = both_ways(COS, 2)
    every = mine_pairs(forward, backward, function="absolute", mode="forward")
    assert pairs(mine_pairs(forward, backward, function="absolute", mode="forward", threshold=0.6)) == [(0, 0), (1, 0)]
    assert pairs(mine_pairs(forward, backward, function="absolute", mode="forward", threshold=0.95)) == []
    assert pairs(mine_pairs(forward, backward, function="absolute", mode="forward", threshold=-1.0)) == pairs(every)
    ratio = mine_pairs(forward, backward, function="ratio", mode="union", threshold=1.2)  # 1.333 and 1.091
    assert pairs(ratio) == [(2, 2)]


def test_missing_neighbours_are_ignored_and_never_paired() -> None:
    # -1 ids (FAISS: fewer than k found) carry garbage similarities that must not count.
    forward = nn([[0.8, 99.0], [-7.0, 99.0], [0.6, 0.2]], [[0, -1], [-1, -1], [1, 0]])
    backward = nn([[0.8, 0.4], [0.6, 99.0]], [[0, 2], [2, -1]])
    np.testing.assert_allclose(neighbourhood_mean(forward), [0.8, 0.0, 0.4], rtol=1e-6)
    np.testing.assert_allclose(neighbourhood_mean(backward), [0.6, 0.6], rtol=1e-6)
    for mode in MODES:
        for function in MARGINS:
            mined = mine_pairs(forward, backward, function=function, mode=mode)  # type: ignore[arg-type]
            assert 1 not in mined.src_ids.tolist(), (mode, function)   # s1 found nothing
            assert (mined.src_ids >= 0).all() and (mined.tgt_ids >= 0).all()
            assert np.isfinite(mined.scores).all()
    # s0 -> t0 by ratio: .8 / ((.8 + .6) / 2), with s0's mean over its one found neighbour only
    fwd = mine_pairs(forward, backward, function="ratio", mode="forward")
    assert pairs(fwd) == [(2, 1), (0, 0)]
    np.testing.assert_allclose(fwd.scores, [0.6 / ((0.4 + 0.6) / 2), 0.8 / ((0.8 + 0.6) / 2)], rtol=1e-5)


def test_invalid_mode_or_function_is_a_config_error_listing_the_choices() -> None:
    forward, backward = both_ways(COS, 2)
    with pytest.raises(ConfigError, match="'max'.*forward, backward, union, intersection"):
        mine_pairs(forward, backward, mode="max")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="'cosine'.*ratio, distance, absolute"):
        mine_pairs(forward, backward, function="cosine")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="'cosine'.*ratio, distance, absolute"):
        margin(np.ones(1), np.ones(1), np.ones(1), "cosine")  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("function", MARGINS)
def test_empty_inputs_mine_nothing(mode: str, function: str) -> None:
    empty = Neighbours(np.zeros((0, 4), np.float32), np.zeros((0, 4), np.int64))
    # no sources: every target's neighbour list is empty (-1)
    targets_only = nn([[0.0, 0.0]] * 3, [[-1, -1]] * 3)
    for forward, backward in ((empty, empty), (empty, targets_only), (targets_only, empty)):
        mined = mine_pairs(forward, backward, function=function, mode=mode)  # type: ignore[arg-type]
        assert isinstance(mined, MinedPairs) and len(mined) == 0
        assert mined.src_ids.shape == mined.tgt_ids.shape == mined.scores.shape == (0,)
