"""Index building and mining over sharded vectors: the steps the ``mine-index`` and ``mine``
stages run on files, and the mining benchmark runs in memory.

* :func:`build_index`: train an index of a factory type on a seeded sample drawn across all
  shards, populate a copy of the trained index per shard, and merge the copies in shard order
  (row ``i`` of the merged index is row ``i`` of the concatenated shards).
* :func:`mine_vectors`: both indexes, kNN both ways, margin scoring (:mod:`.margin`).
"""

from __future__ import annotations

from collections.abc import Sequence

import faiss
import numpy as np
from tqdm import tqdm

from mtforge.errors import ConfigError
from mtforge.mine import index as faiss_index
from mtforge.mine.index import IndexDimensionError, Neighbours
from mtforge.mine.margin import DEFAULT_THRESHOLDS, MarginFunction, MinedPairs, MineMode, mine_pairs


def _dimension(shards: Sequence[np.ndarray], names: Sequence[str] | None = None) -> int:
    """The common dimension of ``shards``; shards that disagree are an error naming them."""
    dims = {int(np.shape(s)[1]) for s in shards if np.ndim(s) == 2}
    if len(dims) != 1:
        listed = ", ".join(f"{name}: {np.shape(s)}" for name, s in zip(names or range(len(shards)), shards))
        raise IndexDimensionError(f"embedding shards have different dimensions: {listed}")
    return dims.pop()


def sample(shards: Sequence[np.ndarray], size: int, seed: int = 0) -> np.ndarray:
    """``size`` rows drawn uniformly without replacement across ``shards`` (all rows if fewer)."""
    total = sum(len(s) for s in shards)
    picked = np.sort(np.random.default_rng(seed).choice(total, size=min(size, total), replace=False))
    offsets = np.cumsum([0] + [len(s) for s in shards])
    rows = []
    for i, shard in enumerate(shards):
        local = picked[(picked >= offsets[i]) & (picked < offsets[i + 1])] - offsets[i]
        if len(local):
            rows.append(np.asarray(shard[local], dtype=np.float32))
    return np.concatenate(rows) if rows else np.zeros((0, _dimension(shards)), np.float32)


def build_index(shards: Sequence[np.ndarray], factory: str = "Flat", *, sample_size: int = 100_000, seed: int = 0,
                names: Sequence[str] | None = None, progress: bool = True) -> faiss.Index:
    """A trained, populated CPU index over the concatenation of ``shards`` (see the module docstring)."""
    if not shards:
        raise ConfigError("no embedding shards to index")
    dim = _dimension(shards, names)
    trained = faiss_index.new_index(factory, dim)
    faiss_index.train(trained, sample(shards, sample_size, seed))
    parts = []
    for shard in tqdm(shards, desc=f"populate {factory}", unit="shard", disable=not progress, leave=False):
        part = faiss.clone_index(trained)
        faiss_index.add(part, np.asarray(shard, dtype=np.float32))
        parts.append(part)
    return faiss_index.merge(parts)


def search_shards(index: faiss.Index, queries: Sequence[np.ndarray], k: int, *, nprobe: int | None = None) -> Neighbours:
    """kNN of every row of every query shard (in order), searched one shard at a time."""
    found = [faiss_index.search(index, np.asarray(q, dtype=np.float32), k, nprobe=nprobe) for q in queries]
    if not found:
        return Neighbours(np.zeros((0, k), np.float32), np.zeros((0, k), np.int64))
    return Neighbours(np.concatenate([n.sims for n in found]), np.concatenate([n.ids for n in found]))


def mine_indexed(src_index: faiss.Index, tgt_index: faiss.Index, src: Sequence[np.ndarray], tgt: Sequence[np.ndarray],
                 *, k: int = 4, function: MarginFunction = "ratio", mode: MineMode = "union",
                 threshold: float | None = None, nprobe: int | None = None) -> MinedPairs:
    """Mine ``src`` against ``tgt`` with their indexes (``threshold=None``: the function's default)."""
    if src_index.d != tgt_index.d:
        raise IndexDimensionError(f"source index holds {src_index.d}-dimensional vectors, target index {tgt_index.d}")
    src_index, tgt_index = faiss_index.on_device(src_index), faiss_index.on_device(tgt_index)
    forward = search_shards(tgt_index, src, k, nprobe=nprobe)
    backward = search_shards(src_index, tgt, k, nprobe=nprobe)
    return mine_pairs(forward, backward, function=function, mode=mode,
                      threshold=DEFAULT_THRESHOLDS[function] if threshold is None else threshold)


def mine_vectors(src: Sequence[np.ndarray], tgt: Sequence[np.ndarray], *, factory: str = "Flat",
                 sample_size: int = 100_000, seed: int = 0, **options: object) -> MinedPairs:
    """Build both indexes in memory and mine (``options`` as :func:`mine_indexed`)."""
    return mine_indexed(build_index(src, factory, sample_size=sample_size, seed=seed, progress=False),
                        build_index(tgt, factory, sample_size=sample_size, seed=seed, progress=False),
                        src, tgt, **options)  # type: ignore[arg-type]
