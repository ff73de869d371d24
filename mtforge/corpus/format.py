"""The on-disk corpus: a directory of Parquet shards plus ``manifest.json``.

Layout::

    <corpus>/part-00000.parquet     rows in SCHEMA, at most ``shard_rows`` per shard
    <corpus>/part-00001.parquet
    <corpus>/manifest.json          written last (see :class:`~mtforge.corpus.manifest.Manifest`)

A directory without ``manifest.json`` is not a corpus (for example a write that crashed).
Language columns always hold FLORES-200 codes: :class:`CorpusWriter` normalises them.

A corpus is of one of two kinds (``manifest.json`` says which): ``bitext`` rows are sentence
pairs in :data:`SCHEMA`; ``mono`` rows are monolingual texts (documents or sentences) in
:data:`MONO_SCHEMA`, as the monolingual curation pipeline reads and writes them.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import ValidationError

from mtforge.corpus.manifest import (
    MANIFEST_NAME,
    Manifest,
    ShardInfo,
    content_hash,
    file_sha256,
)
from mtforge.errors import CorpusFormatError, InputNotFoundError, UnknownLanguageError
from mtforge.langcodes import normalise

#: Arrow schema of every corpus row. ``score`` (e.g. a mining or QE score) may be null;
#: ``origin`` says where the row came from (``"multi30k/train.en:17"``).
SCHEMA = pa.schema(
    [
        ("src", pa.string()),
        ("tgt", pa.string()),
        ("src_lang", pa.string()),
        ("tgt_lang", pa.string()),
        ("score", pa.float32()),
        ("origin", pa.string()),
    ]
)
#: Arrow schema of a monolingual corpus row: a text (document or sentence) and its language.
MONO_SCHEMA = pa.schema(
    [
        ("text", pa.string()),
        ("lang", pa.string()),
        ("score", pa.float32()),
        ("origin", pa.string()),
    ]
)
#: Corpus kinds and their row schema.
KINDS: dict[str, pa.Schema] = {"bitext": SCHEMA, "mono": MONO_SCHEMA}
_LANG_COLUMNS = {"bitext": ("src_lang", "tgt_lang"), "mono": ("lang",)}
_REQUIRED = {"bitext": ("src", "tgt", "src_lang", "tgt_lang"), "mono": ("text", "lang")}
_ROWS_PER_CHUNK = 10_000
_SHARD_PREFIX = "part-"


def schema_for(kind: str) -> pa.Schema:
    """The row schema of corpus ``kind`` (``bitext`` or ``mono``)."""
    try:
        return KINDS[kind]
    except KeyError:
        raise CorpusFormatError(f"unknown corpus kind {kind!r}; kinds: {', '.join(KINDS)}") from None


def _same_columns(schema: pa.Schema, expected: pa.Schema) -> bool:
    """True when ``schema`` has ``expected``'s column names and types (metadata ignored)."""
    return [(f.name, f.type) for f in schema] == [(f.name, f.type) for f in expected]


def group_keys(table: pa.Table | pa.RecordBatch, kind: str = "bitext") -> pa.Array:
    """Per row, the key its manifest counts it under: ``"src-tgt"`` (bitext) or the language (mono)."""
    if kind == "mono":
        return table["lang"]
    return pc.binary_join_element_wise(table["src_lang"], table["tgt_lang"], "-")


def _normalise_languages(column: pa.ChunkedArray, name: str) -> pa.ChunkedArray:
    """Map each distinct code in ``column`` through :func:`normalise` (a no-op when all are
    already FLORES-200 codes)."""
    distinct = pc.unique(column)
    codes = distinct.to_pylist()
    try:
        canonical = [normalise(code) for code in codes]
    except UnknownLanguageError as exc:
        raise UnknownLanguageError(f"column {name!r}: {exc}") from None
    if canonical == codes:
        return column
    return pc.take(pa.array(canonical, pa.string()), pc.index_in(column, value_set=distinct))


def conform(data: pa.Table | pa.RecordBatch, kind: str = "bitext") -> pa.Table:
    """Return ``data`` as a table in the schema of corpus ``kind``.

    Bitext: ``src``, ``tgt``, ``src_lang`` and ``tgt_lang`` are required (mono: ``text`` and
    ``lang``) and may not be null; ``score`` defaults to null and ``origin`` to ``""``.
    Language codes are normalised to FLORES-200 style. Raises :class:`CorpusFormatError`
    naming missing, unexpected or null columns, and :class:`UnknownLanguageError` for an
    unknown language code.
    """
    schema = schema_for(kind)
    table = pa.Table.from_batches([data]) if isinstance(data, pa.RecordBatch) else data
    names = set(table.column_names)
    missing = [c for c in _REQUIRED[kind] if c not in names]
    unexpected = sorted(names - set(schema.names))
    if missing or unexpected:
        raise CorpusFormatError(
            f"rows do not match the {kind} corpus schema: missing column(s) {missing}, "
            f"unexpected column(s) {unexpected}; {kind} corpus columns are {schema.names}"
        )
    n = table.num_rows
    columns: dict[str, Any] = {}
    for field in schema:
        if field.name in names:
            try:
                columns[field.name] = table[field.name].cast(field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise CorpusFormatError(f"column {field.name!r} is not {field.type}: {exc}") from None
        elif field.name == "score":
            columns["score"] = pa.nulls(n, pa.float32())
        else:
            columns["origin"] = pa.repeat(pa.scalar("", pa.string()), n)
    for name in (*_REQUIRED[kind], "origin"):
        if columns[name].null_count:
            first = pc.index(pc.is_null(columns[name]), True).as_py()
            raise CorpusFormatError(f"column {name!r} is null in row {first} of the rows written")
    for name in _LANG_COLUMNS[kind]:
        columns[name] = _normalise_languages(columns[name], name)
    return pa.table(columns, schema=schema)


def _rows_to_tables(rows: Iterable[Mapping[str, Any]], kind: str) -> Iterator[pa.Table]:
    """Turn an iterable of row dicts into conformed tables of at most ``_ROWS_PER_CHUNK`` rows."""
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, _ROWS_PER_CHUNK)):
        yield conform(pa.Table.from_pylist(chunk), kind)


def as_table(rows: Iterable[Mapping[str, Any]] | pa.Table | pa.RecordBatch, kind: str = "bitext") -> pa.Table:
    """Row dicts, a table or a record batch as one conformed table (see :func:`conform`)."""
    if isinstance(rows, (pa.Table, pa.RecordBatch)):
        return conform(rows, kind)
    tables = list(_rows_to_tables(rows, kind))
    return pa.concat_tables(tables) if tables else schema_for(kind).empty_table()


class Corpus:
    """A finished corpus directory. Use :meth:`open` (or get one from :class:`CorpusWriter`)."""

    def __init__(self, path: Path, manifest: Manifest) -> None:
        self.path = path
        self.manifest = manifest

    #: Stages write their corpus into this subdirectory of their output directory.
    STAGE_SUBDIR = "corpus"

    @staticmethod
    def locate(path: str | os.PathLike[str]) -> Path:
        """``path`` itself, or ``path/corpus`` when ``path`` is a stage's output directory."""
        root = Path(path)
        nested = root / Corpus.STAGE_SUBDIR
        return nested if not (root / MANIFEST_NAME).is_file() and (nested / MANIFEST_NAME).is_file() else root

    @staticmethod
    def is_corpus(path: str | os.PathLike[str]) -> bool:
        """True when ``path`` (or its ``corpus/`` subdirectory) holds a ``manifest.json``."""
        return (Corpus.locate(path) / MANIFEST_NAME).is_file()

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, verify: bool = False) -> Corpus:
        """Open the corpus at ``path`` (or at ``path/corpus``, a stage's output directory).

        Raises :class:`InputNotFoundError` when ``path`` does not exist and
        :class:`CorpusFormatError` naming the file when ``manifest.json`` is missing or invalid,
        a shard is missing, or the manifest's totals disagree. With ``verify=True`` every
        shard's bytes are also checked against its sha256 (see :meth:`verify`).
        """
        root = Path(path)
        if not root.exists():
            raise InputNotFoundError(f"corpus {str(root)!r} does not exist")
        root = cls.locate(root)
        manifest_path = root / MANIFEST_NAME
        if not manifest_path.is_file():
            raise CorpusFormatError(
                f"{manifest_path} is missing: {str(root)!r} is not a finished mtforge corpus "
                "(an interrupted write leaves no manifest)"
            )
        try:
            manifest = Manifest.model_validate_json(manifest_path.read_bytes())
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(document)'}: {e['msg']}" for e in exc.errors())
            raise CorpusFormatError(f"{manifest_path} is not a valid corpus manifest: {problems}") from None
        corpus = cls(root, manifest)
        corpus._check_manifest(manifest_path)
        if verify:
            corpus.verify()
        return corpus

    def _check_manifest(self, manifest_path: Path) -> None:
        """Cheap consistency checks: totals, content hash and shard presence."""
        m = self.manifest
        if sum(s.rows for s in m.shards) != m.rows or sum(m.directions.values()) != m.rows:
            raise CorpusFormatError(f"{manifest_path}: shard and direction row counts do not add up to rows={m.rows}")
        if content_hash(m.shards) != m.content_hash:
            raise CorpusFormatError(f"{manifest_path}: content_hash does not match the listed shards")
        for shard in m.shards:
            if not (self.path / shard.file).is_file():
                raise CorpusFormatError(f"{self.path / shard.file} is missing (listed in {manifest_path})")

    def verify(self) -> None:
        """Check every shard's bytes against the sha256 in the manifest; raise
        :class:`CorpusFormatError` naming the first shard that differs."""
        for shard in self.manifest.shards:
            actual = file_sha256(self.path / shard.file)
            if actual != shard.sha256:
                raise CorpusFormatError(
                    f"{self.path / shard.file}: sha256 {actual} does not match the manifest's "
                    f"{shard.sha256}; the corpus was modified after it was written"
                )

    @property
    def rows(self) -> int:
        """Total number of rows."""
        return self.manifest.rows

    @property
    def kind(self) -> str:
        """``bitext`` or ``mono``."""
        return self.manifest.kind

    @property
    def schema(self) -> pa.Schema:
        """The row schema of this corpus's kind."""
        return schema_for(self.kind)

    @property
    def content_hash(self) -> str:
        """The manifest's content hash (see :func:`~mtforge.corpus.manifest.content_hash`)."""
        return self.manifest.content_hash

    @property
    def shard_paths(self) -> list[Path]:
        """Paths of the Parquet shards, in row order."""
        return [self.path / s.file for s in self.manifest.shards]

    def directions(self) -> list[tuple[str, str]]:
        """The (src_lang, tgt_lang) directions present, sorted (bitext only)."""
        if self.kind != "bitext":
            raise CorpusFormatError(f"{self.path} is a {self.kind} corpus: it has languages, not directions")
        return [(src, tgt) for src, _, tgt in (key.partition("-") for key in sorted(self.manifest.directions))]

    def languages(self) -> list[str]:
        """The languages present (both sides of a bitext), sorted."""
        if self.kind == "mono":
            return sorted(self.manifest.directions)
        return sorted({lang for direction in self.directions() for lang in direction})

    def iter_batches(self, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        """Yield the rows in order as record batches of at most ``batch_rows`` rows in the
        corpus's schema; a shard that is not a Parquet file in that schema raises
        :class:`CorpusFormatError` naming it."""
        for path in self.shard_paths:
            try:
                shard = pq.ParquetFile(path)
                if not _same_columns(shard.schema_arrow, self.schema):
                    raise CorpusFormatError(
                        f"{path}: columns {shard.schema_arrow} differ from the {self.kind} corpus schema {self.schema}"
                    )
                yield from shard.iter_batches(batch_size=batch_rows)
            except pa.ArrowException as exc:
                raise CorpusFormatError(f"{path}: unreadable Parquet shard: {exc}") from None

    def iter_rows(self) -> Iterator[dict[str, Any]]:
        """Yield the rows in order as dicts with the schema's keys."""
        for batch in self.iter_batches():
            yield from batch.to_pylist()

    def to_table(self) -> pa.Table:
        """All rows as one table (loads the whole corpus into memory)."""
        return pa.Table.from_batches(list(self.iter_batches()), schema=self.schema)

    def __repr__(self) -> str:
        groups = "languages" if self.kind == "mono" else "directions"
        return f"Corpus({str(self.path)!r}, kind={self.kind!r}, rows={self.rows}, {groups}={sorted(self.manifest.directions)})"


class CorpusWriter:
    """Write a corpus of ``kind`` (``bitext`` or ``mono``) to ``out_dir`` in shards of
    ``shard_rows`` rows.

    Use as a context manager::

        with CorpusWriter(out_dir) as writer:
            writer.write(rows)          # dicts, a pa.Table or a pa.RecordBatch; any number of calls
        corpus = writer.corpus

    Creating a writer removes any previous corpus files (manifest first) in ``out_dir``;
    other files are left alone. Each shard is written under a temporary name and renamed
    when complete; ``manifest.json`` is written (atomically) only by :meth:`close`, after all
    shards, so a crash never leaves something that :meth:`Corpus.open` accepts. Leaving the
    ``with`` block by an exception calls :meth:`abort` instead, which removes the shards.
    """

    def __init__(
        self,
        out_dir: str | os.PathLike[str],
        shard_rows: int = 200_000,
        *,
        meta: Mapping[str, Any] | None = None,
        kind: str = "bitext",
    ) -> None:
        if shard_rows < 1:
            raise ValueError(f"shard_rows must be positive, got {shard_rows}")
        schema_for(kind)
        self.kind = kind
        self.path = Path(out_dir)
        self.shard_rows = shard_rows
        self.meta = dict(meta or {})
        self._buffer: list[pa.Table] = []
        self._buffered = 0
        self._shards: list[ShardInfo] = []
        self._directions: dict[str, int] = {}
        self._corpus: Corpus | None = None
        self._closed = False
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / MANIFEST_NAME).unlink(missing_ok=True)
        for stale in self._own_files():
            stale.unlink()

    def _own_files(self) -> list[Path]:
        """Shard files (finished or temporary) this writer's layout owns in ``out_dir``."""
        return [p for p in self.path.glob(f"{_SHARD_PREFIX}*.parquet*") if p.is_file()]

    def __enter__(self) -> CorpusWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if self._closed:
            return
        if exc_type is None:
            self.close()
        else:
            self.abort()

    @property
    def rows(self) -> int:
        """Rows written so far."""
        return sum(s.rows for s in self._shards) + self._buffered

    def write(self, rows: Iterable[Mapping[str, Any]] | pa.Table | pa.RecordBatch) -> None:
        """Append rows (see :func:`conform` for what a row must hold); full shards are written
        as they fill, so memory stays bounded by ``shard_rows``."""
        if self._closed:
            raise RuntimeError(f"CorpusWriter for {self.path} is closed")
        tables = ([conform(rows, self.kind)] if isinstance(rows, (pa.Table, pa.RecordBatch))
                  else _rows_to_tables(rows, self.kind))
        for table in tables:
            if not table.num_rows:
                continue
            for item in pc.value_counts(group_keys(table, self.kind)).to_pylist():
                self._directions[item["values"]] = self._directions.get(item["values"], 0) + item["counts"]
            self._buffer.append(table)
            self._buffered += table.num_rows
            while self._buffered >= self.shard_rows:
                self._flush(self.shard_rows)

    def _flush(self, rows: int) -> None:
        """Write the first ``rows`` buffered rows as the next shard."""
        buffered = pa.concat_tables(self._buffer)
        shard, rest = buffered.slice(0, rows), buffered.slice(rows)
        name = f"{_SHARD_PREFIX}{len(self._shards):05d}.parquet"
        tmp = self.path / f"{name}.tmp"
        pq.write_table(shard, tmp, compression="zstd")
        self._shards.append(ShardInfo(file=name, rows=shard.num_rows, sha256=file_sha256(tmp)))
        os.replace(tmp, self.path / name)
        self._buffer = [rest] if rest.num_rows else []
        self._buffered = rest.num_rows

    def close(self) -> Corpus:
        """Write the last shard and then the manifest; return the finished :class:`Corpus`."""
        if self._corpus is not None:
            return self._corpus
        if self._closed:
            raise RuntimeError(f"CorpusWriter for {self.path} was aborted")
        if self._buffered:
            self._flush(self._buffered)
        manifest = Manifest(
            kind=self.kind,
            rows=sum(s.rows for s in self._shards),
            shards=self._shards,
            directions=dict(sorted(self._directions.items())),
            content_hash=content_hash(self._shards),
            meta=self.meta,
        )
        tmp = self.path / f"{MANIFEST_NAME}.tmp"
        tmp.write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.path / MANIFEST_NAME)
        self._closed = True
        self._corpus = Corpus(self.path, manifest)
        return self._corpus

    def abort(self) -> None:
        """Drop everything written so far; no manifest is written."""
        self._closed = True
        self._buffer, self._buffered = [], 0
        for path in self._own_files():
            path.unlink()

    @property
    def corpus(self) -> Corpus:
        """The finished corpus (after :meth:`close` or a clean exit of the ``with`` block)."""
        if self._corpus is None:
            raise RuntimeError(f"CorpusWriter for {self.path} is not closed yet")
        return self._corpus
