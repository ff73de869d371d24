"""mtforge's mining pipeline (Flat FAISS indexes from :mod:`mtforge.mine.index`, populated per
shard and merged, kNN both ways, :func:`mtforge.mine.margin.mine_pairs`) gives exactly the
pairs and scores of the independent numpy miner in ``benchmarks/exact_margin.py`` for every
margin function and mode, with and without a threshold; and that reference itself follows the
definition, checked by plain loops on a tiny input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from benchmarks.exact_margin import exact_knn, exact_mine, mine_from_knn
from mtforge.mine import index as faiss_index
from mtforge.mine.build import build_index
from mtforge.mine.margin import MARGINS, MODES, MinedPairs, mine_pairs

K = 4


def planted(n_src: int, n_tgt: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray, set[tuple[int, int]]]:
    """Unit sources and targets, of which ``min(n)/2`` are planted pairs (``y = x + noise``) at
    random target positions; the rest are unrelated. Returns the planted ``(src, tgt)`` set too."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_src, dim))
    y = rng.normal(size=(n_tgt, dim))
    shared = min(n_src, n_tgt) // 2
    sources = rng.permutation(n_src)[:shared]
    targets = rng.permutation(n_tgt)[:shared]
    y[targets] = x[sources] + rng.normal(scale=0.6, size=(shared, dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    return x.astype(np.float32), y.astype(np.float32), set(zip(sources.tolist(), targets.tolist()))


def mtforge_mine(x: np.ndarray, y: np.ndarray, function: str, mode: str, threshold: float | None) -> MinedPairs:
    """mtforge's pipeline on in-memory vectors: both indexes in 2-3 shards, kNN both ways, margin."""
    src_index = build_index(np.array_split(x, 2), "Flat", progress=False)
    tgt_index = build_index(np.array_split(y, 3), "Flat", progress=False)
    forward = faiss_index.search(tgt_index, x, K)
    backward = faiss_index.search(src_index, y, K)
    return mine_pairs(forward, backward, function=function, mode=mode, threshold=threshold)  # type: ignore[arg-type]


def cutting_threshold(scores: list[float]) -> float:
    """A threshold that drops about half of ``scores``, placed mid-way in a clear gap between two of
    them (so float rounding cannot decide which side a pair falls on)."""
    ordered = sorted(scores, reverse=True)
    middle = len(ordered) // 2
    i = max(range(middle - 10, middle + 10), key=lambda j: ordered[j] - ordered[j + 1])
    assert ordered[i] - ordered[i + 1] > 1e-5
    return (ordered[i] + ordered[i + 1]) / 2


def assert_same(ours: MinedPairs, reference: list[tuple[int, int, float]]) -> None:
    """The same pairs with the same scores, in the same order up to near-ties: two pairs whose
    scores differ by float32 rounding (< 1e-6) may come in either order."""
    expected = {(s, t): v for s, t, v in reference}
    pairs = list(zip(ours.src_ids.tolist(), ours.tgt_ids.tolist()))
    assert len(pairs) == len(set(pairs)) == len(reference)
    assert set(pairs) == set(expected)
    np.testing.assert_allclose(ours.scores, [expected[p] for p in pairs], rtol=1e-5, atol=1e-6)
    reference_order = np.array([expected[p] for p in pairs])
    assert (np.diff(reference_order) <= 1e-6).all()          # ours lists them best first by the reference too
    assert (np.diff(ours.scores) <= 0).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("function", MARGINS)
@pytest.mark.parametrize("mode", MODES)
def test_flat_pipeline_equals_the_exact_reference(seed: int, function: str, mode: str) -> None:
    x, y, truth = planted(300, 400, 32, seed)
    reference = exact_mine(x, y, k=K, function=function, mode=mode)
    ours = mtforge_mine(x, y, function, mode, threshold=None)
    assert len(reference) > 100
    assert_same(ours, reference)
    # The answer is meaningful, not just shared: the ratio margin finds nearly all planted pairs.
    if function == "ratio" and mode in ("union", "intersection"):
        assert len(ours.as_set() & truth) >= 0.95 * len(truth)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("function", MARGINS)
@pytest.mark.parametrize("mode", MODES)
def test_flat_pipeline_equals_the_exact_reference_with_a_threshold(seed: int, function: str, mode: str) -> None:
    x, y, _ = planted(300, 400, 32, seed)
    threshold = cutting_threshold([v for _, _, v in exact_mine(x, y, k=K, function=function, mode=mode)])
    reference = exact_mine(x, y, k=K, function=function, mode=mode, threshold=threshold)
    ours = mtforge_mine(x, y, function, mode, threshold=threshold)
    assert 0 < len(reference) < len(exact_mine(x, y, k=K, function=function, mode=mode))
    assert min(ours.scores) >= threshold
    assert_same(ours, reference)


@pytest.mark.parametrize("k", [1, 8])
def test_other_neighbourhood_sizes_agree_too(k: int) -> None:
    x, y, _ = planted(200, 150, 16, seed=3)
    for function, mode in itertools.product(MARGINS, MODES):
        forward = faiss_index.search(build_index([y], "Flat", progress=False), x, k)
        backward = faiss_index.search(build_index([x], "Flat", progress=False), y, k)
        ours = mine_pairs(forward, backward, function=function, mode=mode)  # type: ignore[arg-type]
        assert_same(ours, exact_mine(x, y, k=k, function=function, mode=mode))


def test_the_reference_follows_the_definition() -> None:
    """Plain loops over every pair of a tiny input, straight from Artetxe & Schwenk (2019)."""
    x, y, _ = planted(9, 11, 6, seed=5)
    cos = [[float(np.dot(a, b)) for b in y] for a in x]
    mean_x = [np.mean(sorted(row, reverse=True)[:K]) for row in cos]
    mean_y = [np.mean(sorted((cos[i][j] for i in range(len(x))), reverse=True)[:K]) for j in range(len(y))]
    neighbours_x = [sorted(range(len(y)), key=lambda j: -cos[i][j])[:K] for i in range(len(x))]
    neighbours_y = [sorted(range(len(x)), key=lambda i: -cos[i][j])[:K] for j in range(len(y))]
    knn = exact_knn(x, y, K)
    assert [sorted(r) for r in knn.xy_ids.tolist()] == [sorted(r) for r in neighbours_x]
    assert [sorted(r) for r in knn.yx_ids.tolist()] == [sorted(r) for r in neighbours_y]
    for function in MARGINS:
        def score(i: int, j: int) -> float:
            a, b = cos[i][j], (mean_x[i] + mean_y[j]) / 2
            return {"ratio": a / b, "distance": a - b, "absolute": a}[function]

        fwd = [(i, max(neighbours_x[i], key=lambda j: score(i, j))) for i in range(len(x))]
        bwd = [(max(neighbours_y[j], key=lambda i: score(i, j)), j) for j in range(len(y))]
        expected = {
            "forward": set(fwd),
            "backward": set(bwd),
            "intersection": set(fwd) & set(bwd),
        }
        chosen, used_x, used_y = set(), set(), set()
        for i, j in sorted(set(fwd) | set(bwd), key=lambda p: -score(*p)):
            if i not in used_x and j not in used_y:
                chosen.add((i, j))
                used_x.add(i)
                used_y.add(j)
        expected["union"] = chosen
        for mode in MODES:
            mined = mine_from_knn(knn, function=function, mode=mode)
            assert {(s, t) for s, t, _ in mined} == expected[mode], (function, mode)
            for s, t, v in mined:
                assert v == pytest.approx(score(s, t), rel=1e-6)
            assert [v for _, _, v in mined] == sorted((v for _, _, v in mined), reverse=True)
