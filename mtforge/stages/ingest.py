"""``ingest``: import a corpus from a path/URI into mtforge's Parquet corpus format."""

from __future__ import annotations

import os

from pydantic import Field

from mtforge.corpus import import_corpus
from mtforge.langcodes import parse_directions
from mtforge.stage import Resources, StageConfig, stage


class IngestConfig(StageConfig):
    """Where the data is and which directions of it to import."""

    source: str = Field(description="local path, s3://bucket/prefix or hf://dataset-id")
    directions: str = Field(description="comma-separated src-tgt directions, e.g. 'en-de,de-en'")
    split: str | None = Field(None, description="split name for multi-way directories (train, val, …)")
    fmt: str = Field("auto", description="input format: auto, text (multi-way directory or file pair), tsv, jsonl, hf, corpus")


@stage("ingest", version="1", config=IngestConfig, resources=Resources(cpu="1", memory="2Gi", retries=2))
def ingest(*, out_dir: str, config: IngestConfig) -> dict[str, float]:
    """Import ``config.source`` into the corpus ``out_dir/corpus``."""
    corpus = import_corpus(config.source, os.path.join(out_dir, "corpus"), directions=parse_directions(config.directions),
                           split=config.split, fmt=config.fmt)
    return {"rows": float(corpus.rows)}
