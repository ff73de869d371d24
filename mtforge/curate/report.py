"""Curation accounting: what went in, what was kept, what each filter dropped, per language.

The invariant every curation stage keeps, and the report shows: input lines = kept rows +
excluded rows. The per-reason, per-language counts come from the exclusions file itself,
so the report cannot disagree with what was recorded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from mtforge.corpus import EXCLUSIONS_NAME
from mtforge.corpus.format import group_keys


def exclusion_counts(out_dir: str | Path, kind: str) -> Counter[tuple[str, str]]:
    """``(reason, direction or language) → rows`` in ``out_dir``'s exclusions file."""
    counts: Counter[tuple[str, str]] = Counter()
    parquet = pq.ParquetFile(Path(out_dir) / EXCLUSIONS_NAME)
    for batch in parquet.iter_batches(columns=["reason", *(["lang"] if kind == "mono" else ["src_lang", "tgt_lang"])]):
        keys = pc.binary_join_element_wise(batch["reason"], group_keys(batch, kind), "\x00")
        for item in pc.value_counts(keys).to_pylist():
            reason, _, group = item["values"].partition("\x00")
            counts[(reason, group)] += item["counts"]
    return counts


def curation_stats(rows_in: int, rows_out: int, counts: Mapping[tuple[str, str], int]) -> dict[str, float]:
    """Flat stats: ``rows_in``, ``rows_out``, ``excluded``, ``excluded.<reason>`` and
    ``excluded.<reason>.<direction or language>``. Raises :class:`ValueError` when the
    counts do not add up (a bug, never bad input)."""
    excluded = sum(counts.values())
    if rows_in != rows_out + excluded:
        raise ValueError(f"accounting error: {rows_in} in != {rows_out} kept + {excluded} excluded")
    by_reason: Counter[str] = Counter()
    for (reason, _), n in counts.items():
        by_reason[reason] += n
    stats = {"rows_in": float(rows_in), "rows_out": float(rows_out), "excluded": float(excluded)}
    stats.update({f"excluded.{reason}": float(n) for reason, n in sorted(by_reason.items())})
    stats.update({f"excluded.{reason}.{group}": float(n) for (reason, group), n in sorted(counts.items())})
    return stats


def _table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> list[str]:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def markdown_report(title: str, stats: Mapping[str, float], counts: Mapping[tuple[str, str], int],
                    sections: Mapping[str, str] | None = None) -> str:
    """The curation report: totals, a reason × direction/language table, then ``sections``
    (heading → Markdown body, e.g. the decontamination report)."""
    rows_in, rows_out = int(stats["rows_in"]), int(stats["rows_out"])
    kept = f"{rows_out / rows_in:.1%}" if rows_in else "n/a"
    lines = [f"# {title}", "", f"**{rows_in:,}** lines in, **{rows_out:,}** kept ({kept}), "
             f"**{rows_in - rows_out:,}** excluded (every one in `{EXCLUSIONS_NAME}` with its reason).", ""]
    groups = sorted({group for _, group in counts})
    reasons = sorted({reason for reason, _ in counts}, key=lambda r: -sum(n for (x, _), n in counts.items() if x == r))
    if reasons:
        lines += _table(["reason", "total", *groups],
                        ([reason, sum(counts.get((reason, g), 0) for g in groups),
                          *(counts.get((reason, g), 0) for g in groups)] for reason in reasons))
    for heading, body in (sections or {}).items():
        lines += ["", f"## {heading}", "", body.strip()]
    return "\n".join(lines) + "\n"
