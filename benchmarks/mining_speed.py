"""``mining_speed``: margin mining with mtforge's FAISS indexes versus a straightforward exact
numpy implementation (:mod:`benchmarks.exact_margin`), on the same vectors, in one run.

**Vectors** (:func:`planted`, seeded; all L2-normalised, ``dim`` wide, e5-small's 384 by
default). Real sentence embeddings are clustered (topics), which is what IVF exploits, and
unevenly dense (some topics crowded: "hubs"), which is what the margin corrects for. So:

* ``n / cluster_size`` centres ``c ~ N(0, I/dim)``, each with its own spread
  ``s = spread · U(1 - vary, 1 + vary)``; a *sentence* is ``c + s · N(0, I/dim)`` for a random
  centre — two sentences of one cluster have cosine ≈ ``1 / (1 + s²)`` (0.83 in the tightest
  clusters, 0.13 in the loosest at the defaults ``spread = 1.5``, ``vary = 0.7``), of
  different clusters ≈ 0;
* ``n`` sources are sentences;
* ``n`` targets: a share ``pair_share`` of them, at random positions, are *translations*
  of distinct random sources, ``y = normalise(x + noise · |x| · N(0, I/dim))``, cosine ≈
  ``1 / sqrt(1 + noise²)`` (0.55 at ``noise = 1.5``) to their source; the other targets are
  unrelated sentences of the same clusters. So most sources have no translation, and a
  translation in a tight cluster competes with same-topic distractors that are closer to its
  source than it is: the ratio margin finds most planted pairs, the plain cosine far fewer.

**Methods**, each mining both directions with the ratio margin (``k`` neighbours, union mode,
no threshold), measured one after the other in this process:

* ``numpy exact`` — the reference: the full cosine matrix in row blocks, top-k by
  ``argpartition`` both ways, margin and union in numpy/Python;
* ``mtforge Flat`` — :func:`mtforge.mine.build.build_index` (per-shard population and merge)
  with ``Flat``, :func:`~mtforge.mine.build.search_shards` both ways,
  :func:`mtforge.mine.margin.mine_pairs` — exact, so it must agree with the reference;
* ``mtforge <factory> nprobe <n>`` — the same with each approximate factory string
  (``IVF<nlist>,Flat`` by default), trained on ``sample_size`` vectors drawn across shards,
  built once and searched visiting each of ``nprobes`` lists per query (its time counts the
  one build).

**Reported**: wall seconds of each (index training and population, kNN search, margin and
pair selection; the total) and its speed-up over the reference; kNN recall against the
exact neighbours (share of the true ``k`` nearest found, both directions, every query); the
mined pairs' agreement with the reference's (precision: share of a method's pairs the
reference also mined; recall: share of the reference's pairs the method mined); and accuracy
on the planted pairs (recall: share of planted pairs mined; precision@P: share of planted
pairs among the P best-scoring mined pairs, P = number of planted pairs).

Time and memory: the reference and Flat both cost ``2 · n² · dim`` multiply-adds. On the
project's 2 cores ``FULL`` (``n = 200,000``) took 38 min on an otherwise idle machine:
15 min for the reference, 6 min for Flat, 7 min for IVF1024 and 4.5 min for IVF4096 (whose
k-means is 66 s of it). Peak memory: the vectors twice
(numpy + FAISS, ~1.2 GB at 200k × 384) plus one ``512 × n`` score block and its
``argpartition`` (~1.2 GB at 200k).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from benchmarks.common import Benchmark, Result, log, machine_info, stopwatch
from benchmarks.exact_margin import ExactKnn, exact_knn, mine_from_knn
from mtforge.mine.build import build_index, search_shards
from mtforge.mine.index import Neighbours
from mtforge.mine.margin import mine_pairs

NAME = "mining_speed"
DESCRIPTION = "margin mining: mtforge (FAISS Flat and IVF) vs an exact numpy implementation, same planted vectors"
REFERENCE = "numpy exact"


@dataclass(frozen=True)
class Settings:
    """Vectors per side, their shape, the approximate indexes and the margin's ``k``."""

    n: int
    dim: int = 384
    factories: tuple[str, ...] = ("IVF1024,Flat",)
    nprobes: tuple[int, ...] = (16, 64, 128)  # IVF lists visited per query, one measurement each
    sample_size: int = 40_960          # training vectors per index (FAISS wants >= 39 per IVF list)
    k: int = 4
    shards: int = 4
    cluster_size: int = 100
    spread: float = 1.5
    vary: float = 0.7
    noise: float = 1.5
    pair_share: float = 0.25
    seed: int = 0
    threads: int | None = None         # BLAS + OpenMP threads for every method (None: the libraries' default)


#: IVF1024 is under-sized for 200k vectors (FAISS suggests 4-16·sqrt(n) lists); IVF4096 is in
#: that range and needs 39 training vectors per list.
FULL = Settings(n=200_000, factories=("IVF1024,Flat", "IVF4096,Flat"), nprobes=(16, 64), sample_size=163_840)
QUICK = Settings(n=20_000, factories=("IVF256,Flat",), nprobes=(8, 32), sample_size=10_240, shards=2)


def planted(s: Settings) -> tuple[np.ndarray, np.ndarray, set[tuple[int, int]]]:
    """Sources, targets and the planted ``(source id, target id)`` pairs (see the module docstring)."""
    rng = np.random.default_rng(s.seed)
    clusters = max(1, s.n // s.cluster_size)
    centres = rng.normal(scale=1 / np.sqrt(s.dim), size=(clusters, s.dim)).astype(np.float32)
    spreads = (s.spread * rng.uniform(1 - s.vary, 1 + s.vary, size=clusters)).astype(np.float32)

    def sentences(m: int) -> np.ndarray:
        cluster = rng.integers(0, clusters, m)
        noise = rng.normal(scale=1 / np.sqrt(s.dim), size=(m, s.dim)).astype(np.float32)
        return centres[cluster] + spreads[cluster, None] * noise

    x = sentences(s.n)
    y = sentences(s.n)
    pairs = int(s.n * s.pair_share)
    sources = rng.choice(s.n, size=pairs, replace=False)
    targets = rng.choice(s.n, size=pairs, replace=False)
    scale = s.noise * np.linalg.norm(x[sources], axis=1, keepdims=True) / np.sqrt(s.dim)
    y[targets] = x[sources] + scale * rng.normal(size=(pairs, s.dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    return x, y, set(zip(sources.tolist(), targets.tolist()))


@contextlib.contextmanager
def thread_limit(threads: int | None) -> Iterator[None]:
    """BLAS (numpy's and FAISS's) and OpenMP (FAISS's) on ``threads`` threads; ``None``: unchanged."""
    if threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads):
        yield


def knn_recall(found: np.ndarray, exact: np.ndarray) -> float:
    """Share of the exact neighbour ids (``-1``-free) found among ``found``, over all queries."""
    hits = sum(len(set(f) & set(e)) for f, e in zip(found.tolist(), exact.tolist()))
    return hits / exact.size if exact.size else 1.0


@dataclass
class Mined:
    """One method's pairs best first, its neighbours and its time split."""

    pairs: list[tuple[int, int]]
    forward_ids: np.ndarray
    backward_ids: np.ndarray
    seconds: dict[str, float]


def run_reference(x: np.ndarray, y: np.ndarray, s: Settings) -> tuple[Mined, ExactKnn]:
    with stopwatch() as searching:
        knn = exact_knn(x, y, s.k)
    with stopwatch() as mining:
        triples = mine_from_knn(knn, function="ratio", mode="union")
    seconds = {"index": 0.0, "search": searching[0], "mine": mining[0]}
    return Mined([(a, b) for a, b, _ in triples], knn.xy_ids, knn.yx_ids, seconds), knn


def run_mtforge(x: np.ndarray, y: np.ndarray, factory: str, s: Settings) -> dict[str, Mined]:
    """``factory`` indexes of both sides, built once, then mined at each of ``s.nprobes``
    (``{"mtforge IVF… nprobe 16": …}``; one ``"mtforge Flat"`` entry for an index without lists).
    Each entry's ``index`` seconds are the one build."""
    xs, ys = np.array_split(x, s.shards), np.array_split(y, s.shards)
    with stopwatch() as indexing:
        src_index = build_index(xs, factory, sample_size=s.sample_size, seed=s.seed, progress=False)
        tgt_index = build_index(ys, factory, sample_size=s.sample_size, seed=s.seed + 1, progress=False)
    runs = {f"mtforge {factory} nprobe {n}": n for n in s.nprobes} if "IVF" in factory else {f"mtforge {factory}": None}
    mined = {}
    for name, nprobe in runs.items():
        if len(runs) > 1:
            log(f"{NAME}: {name} …")
        with stopwatch() as searching:
            forward: Neighbours = search_shards(tgt_index, xs, s.k, nprobe=nprobe)
            backward: Neighbours = search_shards(src_index, ys, s.k, nprobe=nprobe)
        with stopwatch() as mining:
            pairs = mine_pairs(forward, backward, function="ratio", mode="union", threshold=float("-inf"))
        seconds = {"index": indexing[0], "search": searching[0], "mine": mining[0]}
        mined[name] = Mined(list(zip(pairs.src_ids.tolist(), pairs.tgt_ids.tolist())), forward.ids, backward.ids,
                            seconds)
    return mined


def run(settings: Settings, mode: str = "custom") -> Result:
    """Measure (see the module docstring)."""
    s = settings
    machine = machine_info()
    with stopwatch() as generating:
        x, y, truth = planted(s)
    results: dict[str, Mined] = {}
    with thread_limit(s.threads):
        log(f"{NAME}: {REFERENCE} on {s.n:,} × {s.n:,} (dim {s.dim}) …")
        results[REFERENCE], knn = run_reference(x, y, s)
        for factory in ("Flat", *s.factories):
            log(f"{NAME}: mtforge {factory} …")
            results.update(run_mtforge(x, y, factory, s))
    reference = results[REFERENCE]
    exact_pairs = set(reference.pairs)
    total = {name: sum(m.seconds.values()) for name, m in results.items()}

    def precision_at_planted(pairs: list[tuple[int, int]]) -> float:
        return len(set(pairs[:len(truth)]) & truth) / len(truth)

    metrics: dict[str, Any] = {
        "seconds": {name: m.seconds | {"total": total[name]} for name, m in results.items()},
        "speedup_over_reference": {name: total[REFERENCE] / t for name, t in total.items()},
        "search_queries_per_s": {name: 2 * s.n / m.seconds["search"] for name, m in results.items()},
        "knn_recall_vs_exact": {name: (knn_recall(m.forward_ids, knn.xy_ids) + knn_recall(m.backward_ids, knn.yx_ids))
                                / 2 for name, m in results.items()},
        "pairs_identical_to_reference": {name: m.pairs == reference.pairs for name, m in results.items()},
        "pair_precision_vs_reference": {name: len(set(m.pairs) & exact_pairs) / max(1, len(m.pairs))
                                        for name, m in results.items()},
        "pair_recall_vs_reference": {name: len(set(m.pairs) & exact_pairs) / max(1, len(exact_pairs))
                                     for name, m in results.items()},
        "planted_recall": {name: len(set(m.pairs) & truth) / len(truth) for name, m in results.items()},
        "planted_precision_at_p": {name: precision_at_planted(m.pairs) for name, m in results.items()},
    }
    table: list[tuple[str, str]] = []
    for name, m in results.items():
        split = ", ".join(f"{part} {sec:.1f}" for part, sec in m.seconds.items())
        table.append((f"{name}: wall seconds", f"{total[name]:.1f} s ({split}); "
                                               f"{metrics['speedup_over_reference'][name]:.2f}× {REFERENCE}"))
    for name in results:
        if name == REFERENCE:
            continue
        table.append((f"{name}: kNN recall vs exact (k={s.k})",
                      f"{metrics['knn_recall_vs_exact'][name]:.4f}"))
        table.append((f"{name}: mined pairs vs {REFERENCE} (precision / recall)",
                      f"{metrics['pair_precision_vs_reference'][name]:.4f} / "
                      f"{metrics['pair_recall_vs_reference'][name]:.4f}"
                      + (" (identical list)" if metrics["pairs_identical_to_reference"][name] else "")))
    for name in results:
        table.append((f"{name}: planted pairs (recall / precision@P)",
                      f"{metrics['planted_recall'][name]:.4f} / {metrics['planted_precision_at_p'][name]:.4f}"))
    details = {"mined": {name: len(m.pairs) for name, m in results.items()}, "planted": len(truth),
               "generate_seconds": generating[0], "threads_limit": s.threads}
    return Result(NAME, DESCRIPTION, mode, asdict(s), metrics, table, machine, details)


BENCHMARK = Benchmark(NAME, run, FULL, QUICK)
