"""FAISS indexes for mining: built from a factory string, trained on a sample, populated
shard by shard, merged, saved, loaded and searched.

Vectors are L2-normalised, so every index uses the inner-product metric and a search
returns cosine similarities. The index type is a FAISS *factory string*: ``Flat`` (exact),
``IVF<nlist>,Flat``, ``IVF<nlist>,PQ<m>`` or ``OPQ<m>,IVF<nlist>,PQ<m>`` (and anything else
``faiss.index_factory`` accepts). Indexes run on the GPUs when FAISS was built with GPU
support and sees one (the CUDA image's faiss-gpu), on the CPU otherwise; files on disk are
always CPU indexes, so the two are interchangeable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from mtforge.errors import ConfigError, CorpusFormatError, InputNotFoundError, MtforgeError


class IndexDimensionError(MtforgeError, ValueError):
    """Vectors and an index (or two indexes) disagree on the embedding dimension."""


def gpu_count() -> int:
    """GPUs FAISS can use (0 with faiss-cpu or without a GPU)."""
    return faiss.get_num_gpus() if hasattr(faiss, "StandardGpuResources") else 0


def new_index(factory: str, dim: int) -> faiss.Index:
    """An empty CPU index of type ``factory`` over ``dim``-dimensional vectors (inner product)."""
    try:
        index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[-1]
        raise ConfigError(f"invalid FAISS index factory string {factory!r} for dim {dim}: {first}") from None
    # PQ codes are searched by asymmetric distances here, never by Hamming distance, so the
    # polysemous re-ordering of the codebook that FAISS trains by default is wasted time.
    coded = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexPreTransform) else index
    if hasattr(coded, "do_polysemous_training"):
        coded.do_polysemous_training = False
    return index


def _as_matrix(vectors: np.ndarray, dim: int, what: str) -> np.ndarray:
    """``vectors`` as a C-contiguous float32 matrix; a wrong dimension is a clear error."""
    vectors = np.asarray(vectors)
    if vectors.ndim != 2 or vectors.shape[1] != dim:
        raise IndexDimensionError(f"{what} have shape {vectors.shape}, but the index holds {dim}-dimensional vectors")
    return np.ascontiguousarray(vectors, dtype=np.float32)


def train(index: faiss.Index, sample: np.ndarray) -> None:
    """Train ``index`` (a no-op for ``Flat``) on ``sample``; too small a sample is a clear error."""
    if index.is_trained:
        return
    sample = _as_matrix(sample, index.d, "training vectors")
    ivf = _ivf(index)
    needed = ivf.nlist if ivf is not None else 1
    if len(sample) < needed:
        raise ConfigError(f"the index needs at least {needed} training vectors (one per IVF list), got {len(sample)}; "
                          f"use a smaller nlist or a larger sample")
    try:
        index.train(sample)
    except RuntimeError as exc:  # e.g. PQ codebooks need 256 vectors per sub-quantiser
        reason = str(exc).strip().splitlines()[-1]
        raise ConfigError(f"cannot train the index on {len(sample)} training vectors: {reason}; use a larger "
                          f"sample or a smaller index") from None


def add(index: faiss.Index, vectors: np.ndarray) -> None:
    """Append ``vectors`` to a trained index; their ids continue from ``index.ntotal``."""
    if not index.is_trained:
        raise ConfigError("the index is not trained: train it on a sample (mtforge.mine.index.train) before adding")
    if len(vectors):
        index.add(_as_matrix(vectors, index.d, "vectors to add"))


def _ivf_anywhere(index: faiss.Index) -> bool:
    """Whether ``index`` (CPU or GPU, possibly wrapped) has IVF lists that ``nprobe`` applies to."""
    if _ivf(index) is not None:
        return True
    inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexPreTransform) else index
    if hasattr(inner, "nprobe"):  # a GPU IVF index
        return True
    members = inner.count() if hasattr(inner, "count") else 0  # IndexReplicas / IndexShards
    return any(_ivf_anywhere(faiss.downcast_index(inner.at(i))) for i in range(members))


def _ivf(index: faiss.Index) -> faiss.IndexIVF | None:
    """The IVF layer of ``index``, or ``None`` for an index without one."""
    try:
        return faiss.extract_index_ivf(index)
    except RuntimeError:
        return None


def merge(parts: list[faiss.Index]) -> faiss.Index:
    """One index holding the vectors of ``parts`` in order (ids of part *i* follow part *i-1*).

    IVF parts must be copies of one trained index (the same quantiser), as
    :func:`mtforge.mine.build.build_index` makes them; their inverted lists are moved into the
    result without re-encoding, which leaves those parts empty. Flat parts are concatenated.
    """
    if not parts:
        raise ConfigError("nothing to merge: no index parts")
    dims = {p.d for p in parts}
    if len(dims) > 1:
        raise IndexDimensionError(f"index parts have different dimensions: {sorted(dims)}")
    merged = faiss.clone_index(parts[0])
    for part in parts[1:]:
        if _ivf(merged) is not None:
            faiss.merge_into(merged, part, True)
        else:
            merged.add(part.reconstruct_n(0, part.ntotal))
    return merged


def save(index: faiss.Index, path: str | os.PathLike[str]) -> None:
    """Write ``index`` (a GPU index is copied to the CPU first) to ``path`` atomically."""
    if gpu_count():  # copies a GPU index to the CPU; clones a CPU one
        index = faiss.index_gpu_to_cpu(index)
    tmp = f"{path}.tmp"
    faiss.write_index(index, tmp)
    os.replace(tmp, path)


def load(path: str | os.PathLike[str]) -> faiss.Index:
    """Read an index file; a missing or unreadable file is an error naming it."""
    if not Path(path).is_file():
        raise InputNotFoundError(f"FAISS index file not found: {path}")
    try:
        return faiss.read_index(str(path))
    except RuntimeError as exc:
        reason = str(exc).strip().splitlines()[-1]
        raise CorpusFormatError(f"{path}: not a readable FAISS index (corrupted or truncated?): {reason}") from None


def on_device(index: faiss.Index) -> faiss.Index:
    """``index`` on all GPUs when FAISS has any, else ``index`` itself."""
    if gpu_count() == 0:
        return index
    return faiss.index_cpu_to_all_gpus(index)


@dataclass(frozen=True)
class Neighbours:
    """``k`` nearest neighbours per query: cosine ``sims`` and ``ids`` (``-1`` where none found)."""

    sims: np.ndarray
    ids: np.ndarray


def search(index: faiss.Index, queries: np.ndarray, k: int, *, nprobe: int | None = None) -> Neighbours:
    """The ``k`` nearest indexed vectors of each query (``nprobe`` IVF lists visited)."""
    if k < 1:
        raise ConfigError(f"k must be at least 1, got {k}")
    queries = _as_matrix(queries, index.d, "query vectors")
    if nprobe is not None and _ivf_anywhere(index):
        # ParameterSpace reaches the IVF layer behind OPQ and inside replicas; GPU indexes need
        # the GPU flavour (only faiss-gpu builds have it).
        space = faiss.GpuParameterSpace() if gpu_count() else faiss.ParameterSpace()
        space.set_index_parameter(index, "nprobe", nprobe)
    if len(queries) == 0 or index.ntotal == 0:
        return Neighbours(np.full((len(queries), k), -np.inf, np.float32), np.full((len(queries), k), -1, np.int64))
    sims, ids = index.search(queries, k)
    return Neighbours(sims, ids)
