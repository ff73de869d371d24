"""Record every row a step drops, with the reason, next to the step's output.

Modelled on datatrove's exclusion writers: a filter does not silently discard data; what it
drops is written out so it can be audited (and counted per reason).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mtforge.corpus.format import as_table, schema_for

#: Columns an exclusions file adds to the corpus columns: the drop ``reason`` (the filter or
#: check that dropped the row) and ``reason_score``, that filter's score (null when it has none).
REASON_FIELDS = [pa.field("reason", pa.string()), pa.field("reason_score", pa.float64())]
EXCLUSIONS_NAME = "exclusions.parquet"


def exclusion_schema(kind: str = "bitext") -> pa.Schema:
    """Schema of the exclusions file of a ``kind`` corpus: its columns plus :data:`REASON_FIELDS`."""
    schema = schema_for(kind)
    for field in REASON_FIELDS:
        schema = schema.append(field)
    return schema


#: Schema of a bitext corpus's exclusions file.
EXCLUSION_SCHEMA = exclusion_schema("bitext")


class ExclusionWriter:
    """Write dropped rows, their reasons and scores to ``out_dir/exclusions.parquet``.

    ::

        with ExclusionWriter(out_dir) as excluded:
            excluded.add(rows, "too_long")                  # one reason for all rows
            excluded.add(table, reasons, scores)            # or one reason (and score) per row
        excluded.counts()                                   # {"too_long": 12, ...}

    ``kind`` is the kind of corpus the rows come from (``bitext`` or ``mono``).

    The file is written under a temporary name and renamed on :meth:`close`, so it exists
    (possibly with zero rows) exactly when the step finished. Rows are buffered and written in
    row groups of up to ``flush_rows`` rows.
    """

    def __init__(self, out_dir: str | os.PathLike[str], *, flush_rows: int = 50_000, kind: str = "bitext") -> None:
        self.kind = kind
        self.schema = exclusion_schema(kind)
        self.path = Path(out_dir) / EXCLUSIONS_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(self.path.name + ".tmp")
        self._flush_rows = flush_rows
        self._buffer: list[pa.Table] = []
        self._buffered = 0
        self._counts: Counter[str] = Counter()
        self._writer = pq.ParquetWriter(self._tmp, self.schema, compression="zstd")
        self._closed = False

    def __enter__(self) -> ExclusionWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if self._closed:
            return
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def add(
        self,
        rows: pa.Table | pa.RecordBatch | Iterable[Mapping[str, Any]],
        reason: str | pa.Array | pa.ChunkedArray,
        scores: pa.Array | pa.ChunkedArray | None = None,
    ) -> None:
        """Record ``rows`` as dropped for ``reason`` (one string, or one non-null string per
        row), with the dropping filter's ``scores`` (one float or null per row; all null when
        omitted). Rows are corpus rows of the writer's kind (see
        :func:`~mtforge.corpus.format.conform`)."""
        if self._closed:
            raise RuntimeError(f"ExclusionWriter for {self.path} is closed")
        table = as_table(rows, self.kind)
        if isinstance(reason, str):
            reasons = pa.repeat(pa.scalar(reason, pa.string()), table.num_rows)
        else:
            reasons = reason.cast(pa.string())
            if len(reasons) != table.num_rows or reasons.null_count:
                raise ValueError(f"need one non-null reason per row: {table.num_rows} rows, {len(reasons)} reasons")
        if scores is None:
            scores = pa.nulls(table.num_rows, pa.float64())
        elif len(scores) != table.num_rows:
            raise ValueError(f"need one score per row: {table.num_rows} rows, {len(scores)} scores")
        if not table.num_rows:
            return
        for item in pc.value_counts(reasons).to_pylist():
            self._counts[item["values"]] += item["counts"]
        table = table.append_column(REASON_FIELDS[0], reasons)
        self._buffer.append(table.append_column(REASON_FIELDS[1], scores.cast(pa.float64())))
        self._buffered += table.num_rows
        if self._buffered >= self._flush_rows:
            self._flush()

    def _flush(self) -> None:
        if self._buffer:
            self._writer.write_table(pa.concat_tables(self._buffer))
        self._buffer, self._buffered = [], 0

    def counts(self) -> dict[str, int]:
        """Rows recorded so far, per reason (sorted by reason)."""
        return dict(sorted(self._counts.items()))

    def close(self) -> Path:
        """Finish the file and return its path."""
        if not self._closed:
            self._flush()
            self._writer.close()
            os.replace(self._tmp, self.path)
            self._closed = True
        return self.path

    def abort(self) -> None:
        """Discard the file (used when the step fails)."""
        self._closed = True
        self._writer.close()
        self._tmp.unlink(missing_ok=True)
