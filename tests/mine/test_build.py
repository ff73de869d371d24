"""Index building over sharded vectors: the training sample, per-shard population + merge
(which must equal one index over all vectors), kNN over query shards, and mining."""

from __future__ import annotations

import numpy as np
import pytest

from mtforge.embed.encoders import l2_normalise
from mtforge.errors import ConfigError
from mtforge.mine import index as faiss_index
from mtforge.mine.build import build_index, mine_vectors, sample, search_shards
from mtforge.mine.index import IndexDimensionError

DIM = 16


def numbered(sizes: list[int]) -> list[np.ndarray]:
    """Shards whose rows are ``[global row number] * 4``, so a sampled row says where it came from."""
    starts = np.cumsum([0, *sizes])
    return [np.repeat(np.arange(a, b, dtype=np.float32)[:, None], 4, axis=1) for a, b in zip(starts, starts[1:])]


def unit_vectors(n: int, seed: int) -> np.ndarray:
    return l2_normalise(np.random.default_rng(seed).standard_normal((n, DIM)))


def test_sample_is_without_replacement_deterministic_and_spread_over_shards() -> None:
    shards = numbered([100, 300, 600])
    picked = sample(shards, 500, seed=1)
    assert picked.shape == (500, 4) and picked.dtype == np.float32
    rows = picked[:, 0].astype(int)
    assert len(set(rows.tolist())) == 500 and rows.min() >= 0 and rows.max() < 1000       # no row twice
    assert np.array_equal(picked, sample(shards, 500, seed=1))
    assert not np.array_equal(picked, sample(shards, 500, seed=2))
    # Uniform over rows: each shard contributes about its share (100:300:600 of 500 = 50:150:300).
    per_shard = np.histogram(rows, bins=[0, 100, 400, 1000])[0]
    assert np.all(np.abs(per_shard - np.array([50, 150, 300])) < [20, 35, 35])
    # Over many seeds every row is drawn about equally often (500 of 1000: p = 0.5 each).
    counts = np.zeros(1000)
    for seed in range(200):
        counts[sample(shards, 500, seed=seed)[:, 0].astype(int)] += 1
    assert counts.min() > 60 and counts.max() < 140 and abs(counts.mean() - 100) < 1e-9
    # Asking for more rows than there are gives every row once.
    assert sorted(sample(shards, 5000)[:, 0].astype(int).tolist()) == list(range(1000))


def test_sample_reads_float16_shards_as_float32() -> None:
    shards = [unit_vectors(50, 0).astype(np.float16), unit_vectors(30, 1).astype(np.float16)]
    picked = sample(shards, 80)
    assert picked.dtype == np.float32
    np.testing.assert_array_equal(picked, np.concatenate(shards).astype(np.float32))


@pytest.mark.parametrize("factory", ["Flat", "IVF8,Flat"])
def test_an_index_built_per_shard_equals_one_over_all_vectors(factory: str) -> None:
    shards = [unit_vectors(n, seed) for seed, n in enumerate((150, 250, 200))]
    merged = build_index(shards, factory, sample_size=400, seed=3, progress=False)
    whole = build_index([np.concatenate(shards)], factory, sample_size=400, seed=3, progress=False)
    assert merged.ntotal == whole.ntotal == 600 and merged.d == DIM
    queries = unit_vectors(40, 99)
    for nprobe in (1, 8):
        a = faiss_index.search(merged, queries, 5, nprobe=nprobe)
        b = faiss_index.search(whole, queries, 5, nprobe=nprobe)
        assert np.array_equal(a.ids, b.ids)
        np.testing.assert_allclose(a.sims, b.sims, rtol=1e-5, atol=1e-6)
    # Row i of the merged index is row i of the concatenated shards: every vector finds itself.
    every = np.concatenate(shards)
    found = faiss_index.search(merged, every, 1, nprobe=8)
    assert np.array_equal(found.ids[:, 0], np.arange(600))
    np.testing.assert_allclose(found.sims[:, 0], 1.0, atol=1e-5)


def test_an_exhaustive_ivf_search_is_exact() -> None:
    shards = [unit_vectors(n, seed) for seed, n in enumerate((120, 180))]
    exact = build_index(shards, "Flat", progress=False)
    ivf = build_index(shards, "IVF4,Flat", progress=False)
    queries = unit_vectors(30, 7)
    a = faiss_index.search(exact, queries, 4)
    b = faiss_index.search(ivf, queries, 4, nprobe=4)
    assert np.array_equal(a.ids, b.ids)


def test_shards_of_different_dimensions_are_named() -> None:
    shards = [unit_vectors(10, 0), np.zeros((10, DIM * 2), np.float32)]
    with pytest.raises(IndexDimensionError, match=r"part-b: \(10, 32\)") as error:
        build_index(shards, names=["part-a", "part-b"], progress=False)
    assert "part-a: (10, 16)" in str(error.value)
    with pytest.raises(ConfigError, match="no embedding shards"):
        build_index([], progress=False)
    with pytest.raises(ConfigError, match="IVF"):         # more IVF lists than training vectors
        build_index([unit_vectors(10, 0)], "IVF64,Flat", progress=False)


def test_an_empty_shard_among_others_changes_nothing() -> None:
    shards = [unit_vectors(50, 0), np.zeros((0, DIM), np.float32), unit_vectors(40, 1)]
    merged = build_index(shards, progress=False)
    assert merged.ntotal == 90
    found = faiss_index.search(merged, shards[2], 1)
    assert np.array_equal(found.ids[:, 0], np.arange(50, 90))


def test_searching_query_shards_equals_searching_their_concatenation() -> None:
    index = build_index([unit_vectors(200, 0)], progress=False)
    queries = [unit_vectors(30, 1), np.zeros((0, DIM), np.float32), unit_vectors(20, 2)]
    a = search_shards(index, queries, 3)
    b = faiss_index.search(index, np.concatenate(queries), 3)
    assert a.ids.shape == (50, 3) and np.array_equal(a.ids, b.ids)
    np.testing.assert_allclose(a.sims, b.sims)
    assert search_shards(index, [], 3).ids.shape == (0, 3)


def test_mining_sharded_vectors_recovers_a_hidden_permutation() -> None:
    rng = np.random.default_rng(5)
    src = unit_vectors(300, 10)
    order = rng.permutation(300)                  # tgt row j is a noisy copy of src row order[j]
    tgt = l2_normalise(src[order] + 0.2 * rng.standard_normal((300, DIM)) / np.sqrt(DIM))
    pairs = mine_vectors([src[:120], src[120:]], [tgt[:100], tgt[100:200], tgt[200:]], k=4, threshold=1.0)
    found = dict(zip(pairs.tgt_ids.tolist(), pairs.src_ids.tolist()))
    assert len(pairs) >= 290
    assert sum(found[j] == order[j] for j in found) >= 0.98 * len(found)
    assert np.all(np.diff(pairs.scores) <= 0)                                  # best first
    # The same result from IVF indexes searched exhaustively.
    ivf = mine_vectors([src[:120], src[120:]], [tgt[:100], tgt[100:200], tgt[200:]], factory="IVF4,Flat",
                       k=4, threshold=1.0, nprobe=4)
    assert set(zip(ivf.src_ids.tolist(), ivf.tgt_ids.tolist())) == set(zip(pairs.src_ids.tolist(),
                                                                          pairs.tgt_ids.tolist()))
    with pytest.raises(IndexDimensionError):
        mine_vectors([src], [np.zeros((5, DIM * 2), np.float32)])
