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

from mtforge.corpus.format import SCHEMA, as_table

#: Schema of the exclusions file: the corpus columns plus the drop ``reason``.
EXCLUSION_SCHEMA = SCHEMA.append(pa.field("reason", pa.string()))
EXCLUSIONS_NAME = "exclusions.parquet"


class ExclusionWriter:
    """Write dropped rows and their reasons to ``out_dir/exclusions.parquet``.

    ::

        with ExclusionWriter(out_dir) as excluded:
            excluded.add(rows, "too_long")                  # one reason for all rows
            excluded.add(table, reasons)                    # or one reason per row
        excluded.counts()                                   # {"too_long": 12, ...}

    The file is written under a temporary name and renamed on :meth:`close`, so it exists
    (possibly with zero rows) exactly when the step finished. Rows are buffered and written in
    row groups of up to ``flush_rows`` rows.
    """

    def __init__(self, out_dir: str | os.PathLike[str], *, flush_rows: int = 50_000) -> None:
        self.path = Path(out_dir) / EXCLUSIONS_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(self.path.name + ".tmp")
        self._flush_rows = flush_rows
        self._buffer: list[pa.Table] = []
        self._buffered = 0
        self._counts: Counter[str] = Counter()
        self._writer = pq.ParquetWriter(self._tmp, EXCLUSION_SCHEMA, compression="zstd")
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
    ) -> None:
        """Record ``rows`` as dropped for ``reason`` (one string, or one non-null string per
        row). Rows are corpus rows (see :func:`~mtforge.corpus.format.conform`)."""
        if self._closed:
            raise RuntimeError(f"ExclusionWriter for {self.path} is closed")
        table = as_table(rows)
        if isinstance(reason, str):
            reasons = pa.repeat(pa.scalar(reason, pa.string()), table.num_rows)
        else:
            reasons = reason.cast(pa.string())
            if len(reasons) != table.num_rows or reasons.null_count:
                raise ValueError(f"need one non-null reason per row: {table.num_rows} rows, {len(reasons)} reasons")
        if not table.num_rows:
            return
        for item in pc.value_counts(reasons).to_pylist():
            self._counts[item["values"]] += item["counts"]
        self._buffer.append(table.append_column(EXCLUSION_SCHEMA.field("reason"), reasons))
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
