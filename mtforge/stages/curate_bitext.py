"""Bitext curation: ``curate-bitext-shard`` per raw shard, then ``curate-bitext-merge``.

``curate-bitext-shard`` reads one raw shard (see :mod:`mtforge.curate.shards`), normalises
both sides and runs the filter chain; ``curate-bitext-merge`` joins the shards' results,
removes exact and near duplicates across all of them (keeping the best-scored pair) and
pairs that overlap an evaluation set. Every dropped line lands in an exclusions file with
the filter (or check) that dropped it and that filter's score, so for each stage
``rows_in == rows_out + excluded``; the merge's exclusions file gathers the shards' too.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from mtforge.corpus import CorpusWriter, ExclusionWriter
from mtforge.curate.chain import DEFAULT_FILTERS, FilterChain
from mtforge.curate.normalise import NormaliseConfig, Normaliser
from mtforge.curate.report import curation_stats, exclusion_counts
from mtforge.curate.shards import ShardLine, ShardRef, read_shard
from mtforge.stage import Resources, StageConfig, stage
from mtforge.stages.curate_merge import MergeConfig, merge_shards

def default_filters() -> list[dict[str, Any] | str]:
    """The default filter chain as configuration (see :func:`mtforge.curate.chain.default_chain`)."""
    return copy.deepcopy(DEFAULT_FILTERS)


class CurateShardConfig(StageConfig):
    """How one raw bitext shard is read, normalised and filtered."""

    normalise: NormaliseConfig = Field(default_factory=NormaliseConfig, description="text normalisation")
    filters: list[dict[str, Any] | str] = Field(
        default_factory=default_filters,
        description="filter chain: a list of {filter name: {parameter: value}} or bare filter names")
    invalid_utf8: Literal["repair", "reject"] = Field(
        "repair", description="repair: drop invalid byte sequences and keep the line; reject: exclude the line")
    max_line_bytes: int = Field(1_000_000, ge=1, description="lines longer than this are excluded (line_too_long)")
    batch_rows: int = Field(10_000, ge=1, description="pairs filtered per batch")


def _batches(lines: Iterator[ShardLine], ref: ShardRef, size: int) -> Iterator[tuple[list[ShardLine], pa.Table]]:
    """Lines in groups of ``size``, each with its rows as a corpus table (unreadable sides empty)."""
    src_lang, tgt_lang = ref.langs
    while group := list(islice(lines, size)):
        table = pa.table({"src": [line.texts[0] for line in group], "tgt": [line.texts[1] for line in group],
                          "src_lang": [src_lang] * len(group), "tgt_lang": [tgt_lang] * len(group),
                          "origin": [line.origin for line in group]})
        yield group, table


@stage("curate-bitext-shard", version="1", config=CurateShardConfig, resources=Resources(cpu="1", memory="2Gi"))
def curate_bitext_shard(*, shard: str, out_dir: str, config: CurateShardConfig) -> dict[str, float]:
    """Read, normalise and filter one raw bitext shard.

    ``shard`` is a :class:`ShardRef` JSON string. Writes the kept pairs to the corpus
    ``out_dir/corpus/`` and every other line to ``out_dir/exclusions.parquet`` with its
    reason (an unreadable-line reason such as ``invalid_utf8``, or the name of the first
    filter that rejected the pair) and that filter's score. Returns the
    :func:`~mtforge.curate.report.curation_stats` plus ``seconds.<filter>``.
    """
    ref = ShardRef.from_json(shard)
    chain = FilterChain.from_config(config.filters)
    normalise = Normaliser(config.normalise)
    out = Path(out_dir)
    rows_in = 0
    meta = {"stage": "curate-bitext-shard", "shard": ref.name, "fingerprint": ref.fingerprint}
    with CorpusWriter(out / "corpus", meta=meta) as writer, ExclusionWriter(out) as excluded:
        lines = read_shard(ref, max_line_bytes=config.max_line_bytes, invalid_utf8=config.invalid_utf8)
        for group, table in _batches(lines, ref, config.batch_rows):
            rows_in += len(group)
            unreadable = pa.array([line.reason for line in group], pa.string())
            if unreadable.null_count < len(group):
                bad = pc.is_valid(unreadable)
                excluded.add(table.filter(bad), unreadable.filter(bad))
                table = table.filter(pc.invert(bad))
            for index, side in enumerate(("src", "tgt")):
                texts = normalise.normalise_batch(table[side].to_pylist(), table[f"{side}_lang"].to_pylist())
                table = table.set_column(index, side, pa.array(texts, pa.string()))
            result = chain.apply(table)
            dropped = pc.is_valid(result.reasons)
            excluded.add(table.filter(dropped), result.reasons.filter(dropped), result.scores.filter(dropped))
            writer.write(table.filter(pc.invert(dropped)))
    counts = exclusion_counts(out, "bitext")
    stats = curation_stats(rows_in, writer.corpus.rows, counts)
    stats.update({f"seconds.{name}": float(s.seconds) for name, s in chain.stats().items()})
    return stats


@stage("curate-bitext-merge", version="1", config=MergeConfig, resources=Resources(cpu="1", memory="4Gi"))
def curate_bitext_merge(*, shards: list[str], out_dir: str, config: MergeConfig) -> dict[str, float]:
    """Merge shard outputs (``curate-bitext-shard`` output directories), then deduplicate and
    decontaminate across all of them. Writes the corpus ``out_dir/corpus/``, every excluded
    line of every shard and of the merge to ``out_dir/exclusions.parquet``, the decontamination
    matches to ``out_dir/decontamination.json`` and the report to ``out_dir/report.md``.
    ``rows_in`` counts the raw shard lines, so ``rows_in == rows_out + excluded`` end to end."""
    return merge_shards(shards, Path(out_dir), config, kind="bitext")

