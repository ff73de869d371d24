"""The merge step of both curation pipelines: join the shards, deduplicate, decontaminate.

Shards are filtered independently (and cached independently); what needs all the data at
once happens here: exact duplicates across shards, near duplicates (MinHash LSH) keeping the
best-scored row, and overlap with evaluation sets. A mono corpus is handled as pairs whose
two sides are its text, so the same code serves both kinds.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import Field

from mtforge.corpus import EXCLUSIONS_NAME, Corpus, CorpusWriter, ExclusionWriter
from mtforge.curate.decontam import Decontaminator
from mtforge.curate.dedup import exact_duplicates, near_duplicates
from mtforge.curate.evalsets import collect_eval_sets
from mtforge.curate.report import curation_stats, exclusion_counts, markdown_report
from mtforge.stage import StageConfig, read_stage_record

REPORT_FILE = "report.md"
DECONTAMINATION_FILE = "decontamination.json"
#: Benchmarks in the shared-data layout that the merge decontaminates against by default.
DEFAULT_BENCHMARKS = ["flores200-dev", "flores200-devtest", "ntrex128", "tico19", "multi30k-test_2016_flickr"]


class MergeConfig(StageConfig):
    """Cross-shard deduplication and decontamination."""

    dedup_keys: list[Literal["pair", "src", "tgt"]] = Field(
        default_factory=lambda: ["pair"],
        description="exact (normalised) duplicates to drop: the pair, the source or the target in a direction")
    near_dedup: bool = Field(True, description="drop near-duplicate targets (MinHash LSH), keeping the best-scored")
    near_threshold: float = Field(0.8, gt=0, le=1, description="estimated Jaccard similarity of near duplicates")
    eval_data: str = Field("", description="root of evaluation sets in the shared-data layout ('' = none)")
    benchmarks: list[str] = Field(default_factory=lambda: list(DEFAULT_BENCHMARKS),
                                  description="benchmarks under eval_data to decontaminate against")
    eval_files: list[str] = Field(default_factory=list,
                                  description="more evaluation sets: <name>.<lang> files or directories of them")
    diff_threshold: float = Field(0.5, ge=0, le=1, description="difflib ratio that confirms a 10-gram overlap")


def _as_pairs(table: pa.Table, kind: str) -> pa.Table:
    """A mono table viewed as pairs whose two sides are its text (bitext tables unchanged)."""
    if kind == "bitext":
        return table
    return pa.table({"src": table["text"], "tgt": table["text"], "src_lang": table["lang"],
                     "tgt_lang": table["lang"], "score": table["score"], "origin": table["origin"]})


def _eval_sets(config: MergeConfig) -> dict[str, list[tuple[str, str]]]:
    """The evaluation sets to decontaminate against: benchmarks under ``eval_data`` and ``eval_files``."""
    return collect_eval_sets(config.eval_data, config.benchmarks, config.eval_files)


def _drop_reasons(pairs: pa.Table, config: MergeConfig, decontaminator: Decontaminator | None,
                  kind: str) -> tuple[pa.Array, pa.Array, list[dict]]:
    """Per row: reason (null = keep), that check's score, and the decontamination matches."""
    reasons = exact_duplicates(pairs, keys=config.dedup_keys, score_column="score")
    scores = pa.nulls(len(pairs), pa.float64())
    if config.near_dedup:
        near = near_duplicates(pairs, column="tgt", threshold=config.near_threshold, score_column="score")
        reasons = pc.coalesce(reasons, near)
    matches: list[dict] = []
    if decontaminator is not None:
        sides = ["src", "tgt"] if kind == "bitext" else ["tgt"]
        contaminated = [None] * len(pairs)
        ratio = [None] * len(pairs)
        for side in sides:
            found = decontaminator.match(pairs[side].to_pylist(), pairs[f"{side}_lang"].to_pylist())
            for index, match in enumerate(found):
                if match is not None and contaminated[index] is None:
                    contaminated[index], ratio[index] = "contaminated", match.ratio
                    matches.append({"origin": pairs["origin"][index].as_py(), "side": side,
                                    "text": pairs[side][index].as_py(), **asdict(match)})
        reasons = pc.coalesce(reasons, pa.array(contaminated, pa.string()))
        scores = pc.if_else(pc.equal(reasons, "contaminated"), pa.array(ratio, pa.float64()), scores)
    return reasons, scores, matches


def merge_shards(shard_dirs: list[str], out: Path, config: MergeConfig, *, kind: str) -> dict[str, float]:
    """Merge the curation shards in ``shard_dirs`` into ``out`` (see the module docstring).

    Returns :func:`~mtforge.curate.report.curation_stats` over the raw lines of every shard,
    plus ``shards`` and ``contaminated.<benchmark>``.
    """
    opened = sorted(((Corpus.open(d, verify=True), d) for d in shard_dirs),
                    key=lambda item: item[0].manifest.meta.get("shard", item[1]))
    corpora, shard_dirs = [c for c, _ in opened], [d for _, d in opened]
    schema = corpora[0].schema if corpora else None
    table = pa.concat_tables([c.to_table() for c in corpora]) if corpora else None
    eval_sets = _eval_sets(config)
    decontaminator = Decontaminator(eval_sets, diff_threshold=config.diff_threshold) if eval_sets else None
    rows_in, matches = 0, []
    meta = {"stage": f"curate-{kind}-merge", "shards": [c.content_hash for c in corpora]}
    with CorpusWriter(out / "corpus", meta=meta, kind=kind) as writer, ExclusionWriter(out, kind=kind) as excluded:
        for shard_dir in shard_dirs:
            rows_in += int(read_stage_record(shard_dir)["stats"]["rows_in"])
            previous = pq.read_table(Path(shard_dir) / EXCLUSIONS_NAME)
            if previous.num_rows:
                excluded.add(previous.select(schema.names), previous["reason"], previous["reason_score"])
        if table is not None and table.num_rows:
            reasons, scores, matches = _drop_reasons(_as_pairs(table, kind), config, decontaminator, kind)
            dropped = pc.is_valid(reasons)
            excluded.add(table.filter(dropped), reasons.filter(dropped), scores.filter(dropped))
            writer.write(table.filter(pc.invert(dropped)))
    counts = exclusion_counts(out, kind)
    stats = curation_stats(rows_in, writer.corpus.rows, counts)
    stats["shards"] = float(len(shard_dirs))
    by_benchmark = Counter(m["benchmark"] for m in matches)
    stats.update({f"contaminated.{name}": float(n) for name, n in sorted(by_benchmark.items())})
    (out / DECONTAMINATION_FILE).write_text(json.dumps(matches, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    sections = {"Decontamination": _decontamination_section(by_benchmark, matches, sorted(eval_sets))}
    (out / REPORT_FILE).write_text(markdown_report(f"curate-{kind}", stats, counts, sections), encoding="utf-8")
    return stats


def _cell(text: str, limit: int = 80) -> str:
    """``text`` shortened and made safe for a Markdown table cell."""
    return text[:limit].replace("|", "\\|")


def _decontamination_section(by_benchmark: Counter[str], matches: list[dict], benchmarks: list[str]) -> str:
    if not benchmarks:
        return "No evaluation sets given: nothing checked."
    lines = [f"Checked against: {', '.join(benchmarks)}.", ""]
    if not matches:
        return "\n".join(lines + ["No overlap found."])
    lines += ["| benchmark | rows dropped |", "|---|---|"]
    lines += [f"| {name} | {n} |" for name, n in sorted(by_benchmark.items())]
    lines += ["", "| origin | method | ratio | text | evaluation sentence |", "|---|---|---|---|---|"]
    lines += [f"| {m['origin']} | {m['method']} | {m['ratio']:.2f} | {_cell(m['text'])} | {_cell(m['eval_text'])} |"
              for m in matches[:20]]
    return "\n".join(lines)
