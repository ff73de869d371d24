"""``mining_speed``: margin mining with mtforge's FAISS indexes versus a straightforward exact
numpy implementation (:mod:`benchmarks.exact_margin`), on the same vectors, in one run.

The vectors are synthetic, with a known answer: ``n`` source vectors drawn around 2,000
cluster centres (real sentence embeddings are clustered too, which is what IVF exploits),
and ``n`` targets of which a quarter are noisy copies of a source (the "translations") and
the rest are new vectors from the same clusters. All are L2-normalised, ``dim`` wide.

Side by side, each mining both directions with the ratio margin (k = 4, union mode):

* ``numpy exact`` — the reference: full similarity blocks, ``argpartition`` top-k;
* ``mtforge Flat`` — exact FAISS inner-product search (must give the reference's pairs);
* ``mtforge IVF`` — ``IVF<nlist>,Flat`` trained on a sample, ``nprobe`` lists per query.

Reported: wall seconds and speed-up over the reference (index building included), search
queries/s, the recall of IVF's k nearest neighbours against the exact ones, how many of the
reference's mined pairs IVF reproduces (and how many it adds), and every method's accuracy
on the planted pairs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from benchmarks.common import Benchmark, Result, log, machine_info, stopwatch
from benchmarks.exact_margin import exact_mine, top_k
from mtforge.mine.build import build_index, search_shards
from mtforge.mine.margin import mine_pairs

NAME = "mining_speed"
DESCRIPTION = "margin mining: mtforge (FAISS Flat and IVF) vs an exact numpy implementation, same vectors"


@dataclass(frozen=True)
class Settings:
    """Corpus size per side, width, IVF shape and the margin's k."""

    n: int
    dim: int
    nlist: int
    nprobe: int
    k: int
    shards: int
    seed: int


FULL = Settings(n=200_000, dim=384, nlist=4096, nprobe=16, k=4, shards=4, seed=0)
QUICK = Settings(n=20_000, dim=128, nlist=256, nprobe=8, k=4, shards=2, seed=0)


def planted(n: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray, dict[int, int]]:
    """Sources, targets and the planted pairs ``{source id: target id}`` (see the module docstring)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(2000, dim)).astype(np.float32)

    def clustered(m: int) -> np.ndarray:
        return centres[rng.integers(0, len(centres), m)] + rng.normal(scale=0.7, size=(m, dim)).astype(np.float32)

    x = clustered(n)
    y = clustered(n)
    pairs = n // 4
    targets = rng.permutation(n)[:pairs]
    y[targets] = x[:pairs] + rng.normal(scale=0.35, size=(pairs, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    return x, y, dict(zip(range(pairs), targets.tolist()))


def run(settings: Settings, mode: str = "custom") -> Result:
    """Measure (see the module docstring)."""
    machine = machine_info()
    x, y, truth = planted(settings.n, settings.dim, settings.seed)
    xs, ys = np.array_split(x, settings.shards), np.array_split(y, settings.shards)
    k = settings.k
    found: dict[str, set[tuple[int, int]]] = {}
    seconds: dict[str, float] = {}
    search_seconds: dict[str, float] = {}

    log(f"{NAME}: numpy exact on {settings.n:,} × {settings.n:,} …")
    with stopwatch() as elapsed:
        reference = exact_mine(x, y, k=k, function="ratio", mode="union")
    seconds["numpy exact"] = elapsed[0]
    found["numpy exact"] = {(s, t) for s, t, _ in reference}
    exact_ids = top_k(x[:2000], y, k)[1]

    neighbours = {}
    for name, factory in (("mtforge Flat", "Flat"), ("mtforge IVF", f"IVF{settings.nlist},Flat")):
        log(f"{NAME}: {name} ({factory}) …")
        with stopwatch() as elapsed:
            src_index = build_index(xs, factory, sample_size=min(settings.n, 50 * settings.nlist), progress=False)
            tgt_index = build_index(ys, factory, sample_size=min(settings.n, 50 * settings.nlist), progress=False)
            with stopwatch() as searching:
                forward = search_shards(tgt_index, xs, k, nprobe=settings.nprobe)
                backward = search_shards(src_index, ys, k, nprobe=settings.nprobe)
            pairs = mine_pairs(forward, backward, function="ratio", mode="union", threshold=float("-inf"))
        seconds[name], search_seconds[name] = elapsed[0], searching[0]
        found[name] = pairs.as_set()
        neighbours[name] = forward.ids[:2000]

    def knn_recall(ids: np.ndarray) -> float:
        return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(ids, exact_ids)]))

    planted_pairs = set(truth.items())
    exact = found["numpy exact"]
    metrics: dict[str, Any] = {
        "seconds": seconds,
        "speedup_over_numpy": {name: seconds["numpy exact"] / s for name, s in seconds.items()},
        "search_queries_per_s": {name: 2 * settings.n / s for name, s in search_seconds.items()},
        "knn_recall_vs_exact": {name: knn_recall(ids) for name, ids in neighbours.items()},
        "pairs_equal_to_numpy": {name: pairs == exact for name, pairs in found.items()},
        "share_of_numpy_pairs_found": {name: len(pairs & exact) / len(exact) for name, pairs in found.items()},
        "pairs_not_in_numpy": {name: len(pairs - exact) for name, pairs in found.items()},
        "planted_pairs_found": {name: len(pairs & planted_pairs) / len(planted_pairs) for name, pairs in found.items()},
    }
    table = [(f"{name}: wall seconds", f"{s:.1f} s ({seconds['numpy exact'] / s:.2f}× numpy exact)")
             for name, s in seconds.items()]
    table += [(f"{name}: search", f"{q:,.0f} queries/s") for name, q in metrics["search_queries_per_s"].items()]
    table += [("mtforge Flat pairs identical to numpy exact", str(metrics["pairs_equal_to_numpy"]["mtforge Flat"])),
              (f"IVF{settings.nlist} nprobe {settings.nprobe}: kNN recall vs exact",
               f"{metrics['knn_recall_vs_exact']['mtforge IVF']:.4f}"),
              ("IVF: share of numpy's mined pairs found",
               f"{metrics['share_of_numpy_pairs_found']['mtforge IVF']:.4f} (+{metrics['pairs_not_in_numpy']['mtforge IVF']} others)")]
    table += [(f"{name}: planted pairs found", f"{v:.4f}") for name, v in metrics["planted_pairs_found"].items()]
    details = {"mined": {name: len(p) for name, p in found.items()}, "planted": len(planted_pairs)}
    return Result(NAME, DESCRIPTION, mode, asdict(settings), metrics, table, machine, details)


BENCHMARK = Benchmark(NAME, run, FULL, QUICK)
