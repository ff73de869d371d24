"""``mine-index`` and ``mine``: the FAISS index over one language's embedding shards, and
margin-based mining of two languages into a scored bitext corpus (stopes §5.2).

``mine-index`` writes ``index.faiss`` (trained on a sample, populated per shard, merged) and
``index.json`` (factory, dimension, encoder and the shards it holds, in row order).

``mine`` writes a bitext corpus (``score`` = the margin score, ``origin`` =
``<source origin>|<target origin>``), ``exclusions.parquet`` (pairs dropped as duplicates of
a better-scoring pair with the same texts) and ``mining.json`` (counts, score quantiles and
the settings). Its output is a corpus like any other: curation and training read it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import Field

from mtforge.corpus import Corpus, CorpusWriter, ExclusionWriter
from mtforge.embed.store import EmbeddingShard, open_shards
from mtforge.errors import ConfigError, CorpusFormatError, InputNotFoundError
from mtforge.mine import index as faiss_index
from mtforge.mine.build import build_index, mine_indexed
from mtforge.mine.margin import DEFAULT_THRESHOLDS, MinedPairs
from mtforge.stage import Resources, StageConfig, stage

INDEX_FILE = "index.faiss"
INDEX_META = "index.json"
REPORT_FILE = "mining.json"


class IndexConfig(StageConfig):
    """The FAISS index of one side."""

    factory: str = Field("Flat", description="FAISS factory string: Flat, IVF4096,Flat, IVF4096,PQ32, OPQ32,IVF4096,PQ32")
    sample_size: int = Field(100_000, ge=1, description="vectors the index is trained on (a seeded sample)")
    seed: int = Field(0, description="seed of the training sample")


class MineConfig(StageConfig):
    """kNN search and margin scoring."""

    k: int = Field(4, ge=1, description="neighbours per sentence in each direction")
    margin: Literal["ratio", "distance", "absolute"] = Field("ratio", description="margin function")
    mode: Literal["forward", "backward", "union", "intersection"] = Field("union", description="how the two "
                                                                          "directions' best pairs combine")
    threshold: float | None = Field(None, description="least margin score kept (None: the margin function's "
                                                      f"default, {DEFAULT_THRESHOLDS})")
    nprobe: int = Field(16, ge=1, description="IVF lists visited per query (ignored by Flat)")
    dedup: bool = Field(True, description="keep one pair per (source text, target text), the best-scoring")


def _shards_and_vectors(roots: list[str]) -> tuple[list[EmbeddingShard], list[np.ndarray]]:
    shards = open_shards(roots)
    return shards, [shard.vectors() for shard in shards]


def _one(values: set, what: str, roots: list[str]) -> str:
    if len(values) != 1:
        raise CorpusFormatError(f"embedding shards under {', '.join(roots)} mix {what}s: {sorted(values)}")
    return values.pop()


@stage("mine-index", version="1", config=IndexConfig, resources=Resources(cpu="2", memory="8Gi"))
def mine_index(*, embeddings: list[str], out_dir: str, config: IndexConfig) -> dict[str, float]:
    """Index the embedding shards under ``embeddings`` into ``out_dir/index.faiss``."""
    shards, vectors = _shards_and_vectors(embeddings)
    encoder = _one({s.meta.encoder for s in shards}, "encoder", embeddings)
    lang = _one({s.meta.lang for s in shards}, "language", embeddings)
    index = build_index(vectors, config.factory, sample_size=config.sample_size, seed=config.seed,
                        names=[str(s.path) for s in shards])
    out = Path(out_dir)
    faiss_index.save(index, out / INDEX_FILE)
    meta = {"factory": config.factory, "dim": index.d, "ntotal": index.ntotal, "encoder": encoder, "lang": lang,
            "shards": [[s.meta.shard, s.meta.fingerprint, s.meta.rows] for s in shards]}
    (out / INDEX_META).write_text(json.dumps(meta, indent=2))
    return {"vectors": float(index.ntotal), "shards": float(len(shards)), "dim": float(index.d)}


def _load_index(root: str, shards: list[EmbeddingShard]) -> tuple[object, dict]:
    """The index under ``root``, checked to hold exactly ``shards`` in the same order."""
    index = faiss_index.load(Path(root) / INDEX_FILE)
    meta_path = Path(root) / INDEX_META
    if not meta_path.is_file():
        raise InputNotFoundError(f"{meta_path} not found: {root} is not a mine-index output (rebuild it)")
    try:
        meta = json.loads(meta_path.read_text())
    except ValueError as exc:
        raise CorpusFormatError(f"{meta_path}: not a mine-index description ({exc}); rebuild it with mine-index") \
            from None
    if not isinstance(meta, dict) or not {"shards", "lang", "factory"} <= meta.keys():
        raise CorpusFormatError(f"{meta_path}: not a mine-index description (it needs shards, lang and factory); "
                                "rebuild it with mine-index")
    held = [[s.meta.shard, s.meta.fingerprint, s.meta.rows] for s in shards]
    if meta["shards"] != held:
        raise CorpusFormatError(f"{root}: the index was built from other embedding shards than the ones given "
                                f"({len(meta['shards'])} indexed, {len(held)} given); rebuild it with mine-index")
    return index, meta


def _texts(shards: list[EmbeddingShard]) -> tuple[list[str], list[str]]:
    texts: list[str] = []
    origins: list[str] = []
    for shard in shards:
        t, o = shard.sentences()
        texts += t
        origins += o
    return texts, origins


def _dedup(pairs: MinedPairs, src: list[str], tgt: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (kept, duplicate) over ``pairs``: the first (best) pair of each text pair is kept."""
    seen: set[tuple[str, str]] = set()
    keep = np.zeros(len(pairs), dtype=bool)
    for i, (s, t) in enumerate(zip(pairs.src_ids.tolist(), pairs.tgt_ids.tolist())):
        key = (" ".join(src[s].split()).casefold(), " ".join(tgt[t].split()).casefold())
        if key not in seen:
            seen.add(key)
            keep[i] = True
    return keep, ~keep


@stage("mine", version="1", config=MineConfig, resources=Resources(cpu="2", memory="8Gi"))
def mine(*, src_embeddings: list[str], tgt_embeddings: list[str], src_index: str, tgt_index: str, out_dir: str,
         config: MineConfig) -> dict[str, float]:
    """Mine the source shards against the target shards into a scored bitext corpus."""
    src_shards, src_vectors = _shards_and_vectors(src_embeddings)
    tgt_shards, tgt_vectors = _shards_and_vectors(tgt_embeddings)
    spaces = {s.meta.vector_space for s in src_shards + tgt_shards}
    if len(spaces) != 1:
        encoders = sorted({s.meta.encoder for s in src_shards + tgt_shards})
        raise ConfigError(f"source and target were embedded into different vector spaces ({sorted(spaces)}, by "
                          f"{encoders}); their vectors are not comparable (a student encoder shares only its "
                          "teacher's space)")
    encoders = {side: _one({s.meta.encoder for s in shards}, "encoder", roots)
                for side, shards, roots in (("src", src_shards, src_embeddings), ("tgt", tgt_shards, tgt_embeddings))}
    src_idx, src_meta = _load_index(src_index, src_shards)
    tgt_idx, tgt_meta = _load_index(tgt_index, tgt_shards)
    pairs = mine_indexed(src_idx, tgt_idx, src_vectors, tgt_vectors, k=config.k, function=config.margin,
                         mode=config.mode, threshold=config.threshold, nprobe=config.nprobe)
    src_texts, src_origins = _texts(src_shards)
    tgt_texts, tgt_origins = _texts(tgt_shards)
    keep, duplicate = _dedup(pairs, src_texts, tgt_texts) if config.dedup else (np.ones(len(pairs), bool),
                                                                               np.zeros(len(pairs), bool))

    def rows(mask: np.ndarray) -> dict[str, list]:
        s, t = pairs.src_ids[mask].tolist(), pairs.tgt_ids[mask].tolist()
        return {"src": [src_texts[i] for i in s], "tgt": [tgt_texts[j] for j in t],
                "src_lang": [src_meta["lang"]] * len(s), "tgt_lang": [tgt_meta["lang"]] * len(s),
                "score": pairs.scores[mask].tolist(),
                "origin": [f"{src_origins[i]}|{tgt_origins[j]}" for i, j in zip(s, t)]}

    out = Path(out_dir)
    with CorpusWriter(out / Corpus.STAGE_SUBDIR) as writer:
        writer.write(pa.table(rows(keep)))
    with ExclusionWriter(out) as excluded:
        if duplicate.any():
            excluded.add(pa.table(rows(duplicate)), "duplicate_pair", pa.array(pairs.scores[duplicate], pa.float64()))
    kept = pairs.scores[keep]
    threshold = DEFAULT_THRESHOLDS[config.margin] if config.threshold is None else config.threshold
    report = {
        "config": config.model_dump(mode="json"), "threshold": threshold,
        "src": {"lang": src_meta["lang"], "sentences": len(src_texts), "index": src_meta["factory"]},
        "tgt": {"lang": tgt_meta["lang"], "sentences": len(tgt_texts), "index": tgt_meta["factory"]},
        "encoder": encoders["src"] if encoders["src"] == encoders["tgt"] else encoders, "mined": int(keep.sum()), "duplicates": int(duplicate.sum()),
        "score_quantiles": {str(q): float(np.quantile(kept, q)) for q in (0.0, 0.1, 0.5, 0.9, 1.0)} if len(kept) else {},
    }
    (out / REPORT_FILE).write_text(json.dumps(report, indent=2))
    return {"src_sentences": float(len(src_texts)), "tgt_sentences": float(len(tgt_texts)),
            "mined": float(keep.sum()), "duplicates": float(duplicate.sum()),
            "mean_score": float(kept.mean()) if len(kept) else 0.0}
