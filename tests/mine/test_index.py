"""FAISS indexes from factory strings (:mod:`mtforge.mine.index`), with real faiss on seeded,
clustered, L2-normalised vectors: every index kind trains, populates and searches; Flat is the
exact cosine ranking; per-shard population + merge equals one index; ``nprobe`` trades recall;
save/load round-trips; and a bad file, a wrong dimension, a bad factory string or too small a
training sample is an error that names what is wrong."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

from mtforge.errors import ConfigError, CorpusFormatError, InputNotFoundError
from mtforge.mine import index as faiss_index
from mtforge.mine.index import IndexDimensionError

FACTORIES = ["Flat", "IVF16,Flat", "IVF16,PQ8", "OPQ8,IVF16,PQ8"]
NLIST = 16


def unit(n: int, dim: int = 32, seed: int = 0, centres: int = 16) -> np.ndarray:
    """``n`` L2-normalised float32 vectors around ``centres`` seeded cluster centres (the same
    centres for every ``seed`` of a ``dim``), so IVF lists and PQ codebooks have structure."""
    centre = np.random.default_rng(dim).normal(size=(centres, dim))
    rng = np.random.default_rng(seed)
    v = centre[rng.integers(0, centres, n)] + 0.6 * rng.normal(size=(n, dim))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(autouse=True, scope="module")
def one_faiss_thread():
    """FAISS on one OpenMP thread while these tests run. Results do not depend on it; on a busy
    shared 2-core machine FAISS's two spinning threads made training 10-20x slower."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


_TRAINED: dict[tuple[str, int], faiss.Index] = {}


def trained(factory: str, dim: int = 32) -> faiss.Index:
    """An empty index of ``factory`` trained through :func:`faiss_index.train` on the first 1,500
    vectors of ``unit(…, dim)``; trained once per (factory, dim), a fresh clone per call (PQ
    training is the slow part of these tests)."""
    if (factory, dim) not in _TRAINED:
        index = faiss_index.new_index(factory, dim)
        faiss_index.train(index, unit(1500, dim))
        _TRAINED[factory, dim] = index
    return faiss.clone_index(_TRAINED[factory, dim])


def per_shard(empty_trained: faiss.Index, shards: list[np.ndarray]) -> faiss.Index:
    """Populate a clone of the trained empty index per shard, then merge the parts in order."""
    parts = []
    for shard in shards:
        part = faiss.clone_index(empty_trained)
        faiss_index.add(part, shard)
        parts.append(part)
    return faiss_index.merge(parts)


def exact_top(queries: np.ndarray, data: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-(queries @ data.T), axis=1, kind="stable")[:, :k]


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(e)) / len(e) for f, e in zip(found.tolist(), exact.tolist())]))


@pytest.mark.parametrize("dim", [32, 64])
@pytest.mark.parametrize("factory", FACTORIES)
def test_every_index_kind_trains_populates_and_searches(factory: str, dim: int) -> None:
    data = unit(3000, dim)
    index = faiss_index.new_index(factory, dim)
    assert index.d == dim and index.metric_type == faiss.METRIC_INNER_PRODUCT
    assert index.is_trained == (factory == "Flat")
    index = trained(factory, dim)                               # new_index + train on a 1,500-vector sample
    assert index.is_trained and index.ntotal == 0
    faiss_index.add(index, data)
    assert index.ntotal == 3000
    found = faiss_index.search(index, data[:200], 5, nprobe=NLIST)
    assert found.ids.shape == found.sims.shape == (200, 5)
    assert found.ids.dtype == np.int64 and found.sims.dtype == np.float32
    assert ((found.ids >= 0) & (found.ids < 3000)).all()
    assert (np.diff(found.sims, axis=1) <= 1e-6).all()           # best first
    self_found = (found.ids == np.arange(200)[:, None]).any(axis=1).mean()
    if "PQ" in factory:      # lossy codes: the query itself is still among its 5 neighbours almost always
        assert self_found >= 0.95
        assert recall(found.ids, exact_top(data[:200], data, 5)) >= 0.25       # random: 0.002
    else:                    # exact (IVF with every list probed)
        np.testing.assert_array_equal(found.ids[:, 0], np.arange(200))
        assert recall(found.ids, exact_top(data[:200], data, 5)) == 1.0


def test_flat_search_is_the_exact_cosine_ranking() -> None:
    data, queries = unit(700), unit(60, seed=1)
    index = trained("Flat")
    faiss_index.add(index, data)
    found = faiss_index.search(index, queries, 7)
    cos = queries.astype(np.float64) @ data.T.astype(np.float64)
    expected = np.argsort(-cos, axis=1, kind="stable")[:, :7]
    np.testing.assert_array_equal(found.ids, expected)
    np.testing.assert_allclose(found.sims, np.take_along_axis(cos, expected, axis=1), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("factory", ["Flat", "IVF16,Flat", "IVF16,PQ8", "OPQ8,IVF16,PQ8"])
def test_per_shard_population_then_merge_equals_one_index(factory: str) -> None:
    data, queries = unit(2400), unit(150, seed=2)
    empty = trained(factory)
    shards = [data[:500], data[500:1400], data[1400:1401], data[1401:]]   # uneven, one of a single row
    merged = per_shard(empty, shards)
    whole = faiss.clone_index(empty)
    faiss_index.add(whole, data)
    assert merged.ntotal == whole.ntotal == 2400
    for nprobe in (2, NLIST):
        a = faiss_index.search(merged, queries, 6, nprobe=nprobe)
        b = faiss_index.search(whole, queries, 6, nprobe=nprobe)
        np.testing.assert_array_equal(a.ids, b.ids)
        np.testing.assert_allclose(a.sims, b.sims, rtol=1e-6, atol=1e-6)
    # ids continue across shards: every row is found under its position in the concatenation
    if "PQ" not in factory:
        rows = np.array([0, 499, 500, 1399, 1400, 1401, 2399])
        np.testing.assert_array_equal(faiss_index.search(merged, data[rows], 1, nprobe=NLIST).ids[:, 0], rows)


def test_merge_of_one_part_and_of_none() -> None:
    data = unit(300)
    single = per_shard(trained("IVF16,Flat"), [data])
    assert single.ntotal == 300
    with pytest.raises(ConfigError, match="no index parts"):
        faiss_index.merge([])
    with pytest.raises(IndexDimensionError, match=r"\[16, 32\]"):
        faiss_index.merge([faiss_index.new_index("Flat", 32), faiss_index.new_index("Flat", 16)])


def test_all_lists_make_ivf_flat_exact_and_nprobe_trades_recall() -> None:
    data, queries = unit(4000, centres=64), unit(300, seed=3, centres=64)
    index = trained("IVF32,Flat")
    faiss_index.add(index, data)
    flat = trained("Flat")
    faiss_index.add(flat, data)
    exact = exact_top(queries, data, 10)

    def at(nprobe: int) -> float:
        return recall(faiss_index.search(index, queries, 10, nprobe=nprobe).ids, exact)

    np.testing.assert_array_equal(faiss_index.search(index, queries, 10, nprobe=32).ids,
                                  faiss_index.search(flat, queries, 10).ids)
    recalls = [at(n) for n in (1, 4, 16, 32)]
    assert recalls[-1] == 1.0
    assert recalls[0] < 1.0                                   # nprobe really is applied
    assert recalls == sorted(recalls)                         # more lists, no fewer true neighbours
    assert at(1) == recalls[0]                                # nprobe is set per call, not sticky


def test_nprobe_reaches_the_ivf_layer_behind_opq() -> None:
    data, queries = unit(3000, centres=64), unit(200, seed=4, centres=64)
    index = trained("OPQ8,IVF16,PQ8")
    faiss_index.add(index, data)
    one, every = (faiss_index.search(index, queries, 10, nprobe=n).ids for n in (1, NLIST))
    exact = exact_top(queries, data, 10)
    assert recall(one, exact) < recall(every, exact)
    assert faiss.extract_index_ivf(index).nprobe == NLIST


def test_nprobe_reaches_every_replica() -> None:
    """How a multi-GPU index looks (``index_cpu_to_all_gpus`` gives replicas), built from CPU copies."""
    data = unit(2000)
    replicas = faiss.IndexReplicas(32)
    parts = [trained("IVF16,Flat"), trained("IVF16,Flat")]
    for part in parts:
        faiss_index.add(part, data)
        replicas.addIndex(part)
    faiss_index.search(replicas, data[:5], 3, nprobe=7)
    assert [faiss.extract_index_ivf(part).nprobe for part in parts] == [7, 7]


@pytest.mark.parametrize("factory", ["PQ8", "IVF16,PQ8", "OPQ8,IVF16,PQ8"])
def test_pq_codebooks_skip_polysemous_training(factory: str) -> None:
    """Searches use asymmetric PQ distances, so FAISS's default polysemous training (most of a
    PQ index's training time) is switched off, behind OPQ too."""
    index = faiss_index.new_index(factory, 32)
    coded = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexPreTransform) else index
    assert coded.do_polysemous_training is False


@pytest.mark.parametrize("factory", FACTORIES)
def test_save_load_round_trip(tmp_path: Path, factory: str) -> None:
    data = unit(1500)
    index = trained(factory)
    faiss_index.add(index, data)
    path = tmp_path / "index.faiss"
    faiss_index.save(index, path)
    assert path.is_file() and not list(tmp_path.glob("*.tmp"))
    loaded = faiss_index.load(path)
    assert (loaded.ntotal, loaded.d, loaded.metric_type) == (1500, 32, faiss.METRIC_INNER_PRODUCT)
    a = faiss_index.search(loaded, data[:50], 4, nprobe=4)
    b = faiss_index.search(index, data[:50], 4, nprobe=4)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.sims, b.sims)
    faiss_index.save(loaded, path)                            # overwriting an existing file works
    assert faiss_index.load(path).ntotal == 1500


def test_bad_index_files_are_named(tmp_path: Path) -> None:
    data = unit(600)
    index = trained("IVF16,Flat")
    faiss_index.add(index, data)
    good = tmp_path / "good.faiss"
    faiss_index.save(index, good)
    missing = tmp_path / "missing.faiss"
    with pytest.raises(InputNotFoundError, match="missing.faiss"):
        faiss_index.load(missing)
    garbage = tmp_path / "garbage.faiss"
    garbage.write_bytes(b"not an index at all\x00\xff" * 10)
    with pytest.raises(CorpusFormatError) as bad:
        faiss_index.load(garbage)
    assert str(garbage) in str(bad.value)
    for cut in (3, good.stat().st_size // 2, good.stat().st_size - 8):
        truncated = tmp_path / f"truncated-{cut}.faiss"
        truncated.write_bytes(good.read_bytes()[:cut])
        with pytest.raises(CorpusFormatError) as bad:
            faiss_index.load(truncated)
        assert str(truncated) in str(bad.value)
    empty = tmp_path / "empty.faiss"
    empty.write_bytes(b"")
    with pytest.raises(CorpusFormatError, match="empty.faiss"):
        faiss_index.load(empty)


def test_wrong_dimensions_name_both_shapes() -> None:
    index = trained("Flat")
    faiss_index.add(index, unit(100))
    with pytest.raises(IndexDimensionError, match=r"\(5, 16\).*32-dimensional"):
        faiss_index.search(index, np.zeros((5, 16), np.float32), 2)
    with pytest.raises(IndexDimensionError, match=r"\(32,\).*32-dimensional"):
        faiss_index.search(index, np.zeros(32, np.float32), 2)      # a single vector, not a matrix
    with pytest.raises(IndexDimensionError, match=r"\(7, 64\).*32-dimensional"):
        faiss_index.add(index, unit(7, dim=64))
    with pytest.raises(IndexDimensionError, match=r"\(300, 64\).*32-dimensional"):
        faiss_index.train(faiss_index.new_index("IVF16,Flat", 32), unit(300, dim=64))
    assert index.ntotal == 100                                        # nothing was added


@pytest.mark.parametrize("factory", ["IVFx,Flat", "NoSuchIndex", "IVF16,PQ7"])   # PQ7: 32 is not a multiple of 7
def test_invalid_factory_string_is_a_config_error_naming_it(factory: str) -> None:
    with pytest.raises(ConfigError) as bad:
        faiss_index.new_index(factory, 32)
    assert repr(factory) in str(bad.value)


def test_too_small_a_training_sample_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="at least 64 training vectors.*got 50"):
        faiss_index.train(faiss_index.new_index("IVF64,Flat", 32), unit(50))
    with pytest.raises(ConfigError, match="got 0"):
        faiss_index.train(faiss_index.new_index("IVF16,Flat", 32), np.zeros((0, 32), np.float32))


def test_non_positive_k_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="k must be at least 1, got 0"):
        faiss_index.search(faiss_index.new_index("Flat", 32), unit(2), 0)


@pytest.mark.parametrize("factory", ["Flat", "IVF16,Flat"])
def test_an_empty_index_finds_nothing(factory: str) -> None:
    empty = trained(factory)
    found = faiss_index.search(empty, unit(3), 2)
    assert found.ids.shape == (3, 2) and (found.ids == -1).all()
    none = faiss_index.search(empty, np.zeros((0, 32), np.float32), 2)
    assert none.ids.shape == (0, 2)


@pytest.mark.parametrize("factory", ["Flat", "IVF16,Flat"])
def test_k_beyond_the_index_gives_minus_one_where_missing(factory: str) -> None:
    index = trained(factory)
    faiss_index.add(index, unit(3, seed=7))
    found = faiss_index.search(index, unit(4, seed=8), 5, nprobe=NLIST)
    assert (found.ids[:, 3:] == -1).all()
    assert (np.sort(found.ids[:, :3], axis=1) == [0, 1, 2]).all()     # every real vector, each once


@pytest.mark.skipif(faiss_index.gpu_count() == 0,
                    reason="FAISS sees no GPU (faiss-cpu build or no device): GPU-vs-CPU comparison not run")
@pytest.mark.parametrize("factory", ["Flat", "IVF16,Flat"])
def test_gpu_and_cpu_give_the_same_neighbours(factory: str, tmp_path: Path) -> None:
    data, queries = unit(5000), unit(300, seed=4)
    cpu = trained(factory)
    faiss_index.add(cpu, data)
    gpu = faiss_index.on_device(faiss.clone_index(cpu))
    a = faiss_index.search(cpu, queries, 8, nprobe=4)
    b = faiss_index.search(gpu, queries, 8, nprobe=4)
    assert (a.ids == b.ids).mean() >= 0.99                       # float rounding may swap near-ties
    np.testing.assert_allclose(a.sims, b.sims, atol=1e-4)
    faiss_index.save(gpu, tmp_path / "gpu.faiss")                 # a GPU index is written as a CPU one
    np.testing.assert_array_equal(faiss_index.search(faiss_index.load(tmp_path / "gpu.faiss"), queries, 8,
                                                     nprobe=4).ids, a.ids)


@pytest.mark.parametrize("factory", ["IVF16,PQ8", "OPQ8,IVF16,PQ8"])
def test_too_small_a_sample_for_pq_is_a_config_error(factory: str) -> None:
    with pytest.raises(ConfigError, match="100 training vectors"):
        faiss_index.train(faiss_index.new_index(factory, 32), unit(100))


def test_adding_to_an_untrained_index_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not trained"):
        faiss_index.add(faiss_index.new_index("IVF16,Flat", 32), unit(10))
