"""FAISS indexes from factory strings: train, populate per shard, merge, save/load, search, and
the errors a user gets for a bad file, a wrong dimension or a bad factory string."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

from mtforge.errors import ConfigError, CorpusFormatError, InputNotFoundError
from mtforge.mine import index as faiss_index
from mtforge.mine.build import build_index
from mtforge.mine.index import IndexDimensionError


def unit(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    """``n`` L2-normalised vectors drawn around 20 centres (so IVF lists mean something)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, dim))
    v = (centres[rng.integers(0, 20, n)] + 0.5 * rng.normal(size=(n, dim))).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.mark.parametrize("factory", ["Flat", "IVF16,Flat", "IVF16,PQ8", "OPQ8,IVF16,PQ8"])
def test_every_index_kind_trains_populates_and_finds_itself(factory: str) -> None:
    data = unit(2000)
    index = build_index([data[:700], data[700:1500], data[1500:]], factory, sample_size=1000)
    assert index.ntotal == 2000
    found = faiss_index.search(index, data[:200], 1, nprobe=16)
    assert (found.ids[:, 0] == np.arange(200)).mean() >= 0.9   # PQ is lossy; Flat/IVF-Flat exact here


def test_flat_search_is_the_exact_cosine_ranking() -> None:
    data, queries = unit(500), unit(50, seed=1)
    found = faiss_index.search(build_index([data], "Flat"), queries, 5)
    expected = np.argsort(-(queries @ data.T), axis=1, kind="stable")[:, :5]
    np.testing.assert_array_equal(found.ids, expected)
    np.testing.assert_allclose(found.sims, np.take_along_axis(queries @ data.T, expected, axis=1), rtol=1e-5)


def test_per_shard_population_then_merge_equals_one_index() -> None:
    data, queries = unit(1500), unit(100, seed=2)
    sharded = build_index([data[:400], data[400:1000], data[1000:]], "IVF16,Flat", sample_size=1500)
    whole = build_index([data], "IVF16,Flat", sample_size=1500)
    a = faiss_index.search(sharded, queries, 4, nprobe=4)
    b = faiss_index.search(whole, queries, 4, nprobe=4)
    np.testing.assert_array_equal(a.ids, b.ids)


def test_nprobe_trades_recall_and_all_lists_is_exact() -> None:
    data, queries = unit(3000), unit(300, seed=3)
    index = build_index([data], "IVF32,Flat", sample_size=3000)
    exact = np.argsort(-(queries @ data.T), axis=1)[:, :10]

    def recall(nprobe: int) -> float:
        found = faiss_index.search(index, queries, 10, nprobe=nprobe).ids
        return np.mean([len(set(f) & set(e)) / 10 for f, e in zip(found, exact)])

    assert recall(32) == 1.0
    assert recall(1) < recall(8) <= recall(32)


def test_save_load_round_trip_and_bad_files(tmp_path: Path) -> None:
    data = unit(600)
    index = build_index([data], "IVF8,Flat", sample_size=600)
    path = tmp_path / "index.faiss"
    faiss_index.save(index, path)
    loaded = faiss_index.load(path)
    np.testing.assert_array_equal(faiss_index.search(loaded, data[:20], 3, nprobe=8).ids,
                                  faiss_index.search(index, data[:20], 3, nprobe=8).ids)
    with pytest.raises(InputNotFoundError, match="missing.faiss"):
        faiss_index.load(tmp_path / "missing.faiss")
    garbage = tmp_path / "garbage.faiss"
    garbage.write_bytes(b"not an index at all" * 10)
    with pytest.raises(CorpusFormatError, match="garbage.faiss"):
        faiss_index.load(garbage)
    truncated = tmp_path / "truncated.faiss"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CorpusFormatError, match="truncated.faiss"):
        faiss_index.load(truncated)


def test_user_errors_are_named() -> None:
    index = build_index([unit(100)], "Flat")
    with pytest.raises(IndexDimensionError, match=r"\(5, 16\).*32-dimensional"):
        faiss_index.search(index, np.zeros((5, 16), np.float32), 2)
    with pytest.raises(ConfigError, match="IVFx"):
        faiss_index.new_index("IVFx,Flat", 32)
    with pytest.raises(ConfigError, match="at least 64 training vectors"):
        build_index([unit(50)], "IVF64,Flat")
    with pytest.raises(IndexDimensionError, match="different dimensions"):
        build_index([unit(10), unit(10, dim=16)], "Flat")


def test_missing_neighbours_are_minus_one() -> None:
    empty = faiss_index.new_index("Flat", 32)
    found = faiss_index.search(empty, unit(3), 2)
    assert (found.ids == -1).all()
    few = faiss_index.search(build_index([unit(2)], "Flat"), unit(3), 4)
    assert (few.ids[:, 2:] == -1).all() and (few.ids[:, :2] >= 0).all()


@pytest.mark.skipif(faiss_index.gpu_count() == 0, reason="FAISS sees no GPU (faiss-cpu or no device)")
def test_gpu_and_cpu_give_the_same_neighbours() -> None:
    data, queries = unit(2000), unit(100, seed=4)
    for factory in ("Flat", "IVF16,Flat"):
        cpu = build_index([data], factory, sample_size=2000)
        gpu = faiss_index.on_device(faiss.clone_index(cpu))
        a = faiss_index.search(cpu, queries, 4, nprobe=16)
        b = faiss_index.search(gpu, queries, 4, nprobe=16)
        assert (a.ids == b.ids).mean() > 0.99
