"""Import parallel data from the formats it ships in into an mtforge corpus.

Sources (``fmt="auto"`` picks the kind from the source itself):

``corpus``
    An mtforge corpus directory (has ``manifest.json``): verified and re-written, keeping
    only the requested directions.
``text``
    Line-aligned plain-text files, one sentence per line, line N of each file translating
    line N of the others. Three spellings:

    * a **directory** of files whose names carry the language as one dot-separated part:
      ``train.en`` (Multi30k), ``eng_Latn.dev`` (FLORES; ``flores200`` with ``split="dev"``
      reads ``flores200/dev/``), ``eng_Latn`` (OLDI seed, no split),
      ``tatoeba.deu-eng.deu``. The other parts form the split name (``train``, ``dev``,
      ``tatoeba.deu-eng``); ``split`` picks one, and may be left out when there is only
      one. Names with no or several language parts (``LICENSE``, ``test.en.ne``) are ignored;
    * a **file prefix**: ``multi30k/train`` reads ``multi30k/train.<lang>`` (the same as
      the directory ``multi30k`` with ``split="train"``);
    * a **pair** ``"path/a,path/b"``: two files. When each name carries one (different)
      language they give the languages; otherwise the first file holds the source and the
      second the target language of the first requested direction.
``tsv``
    ``source<TAB>target`` per line (``*.tsv``); the columns hold the source and target
    language of the first requested direction.
``jsonl``
    One JSON object per line (``*.jsonl``, ``*.json``); blank lines are skipped. See
    :mod:`mtforge.corpus.records` for the accepted keys (``src``/``tgt``, TopXGen's
    ``source``/``target``/``source_language``/``target_language``, a ``translation`` dict
    or language-code keys).
``hf``
    ``hf://<dataset id>[?config=…&revision=…]`` through :func:`datasets.load_dataset`
    (``split`` defaults to ``"train"``); rows as for ``jsonl``.

Any local path may instead be an ``s3://bucket/key`` URI (see :mod:`mtforge.corpus.remote`).
Every requested direction may be any direction between the source's languages, so a pair
or TSV serves both ``en-de`` and ``de-en``. Each row's ``origin`` is
``<parent dir>/<file>:<line>`` (1-based line) or ``hf:<id>[/<config>]/<split>#<row>``
(0-based row).
"""

from __future__ import annotations

import hashlib
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, Literal, get_args

import pyarrow as pa
import pyarrow.compute as pc

from mtforge.corpus import remote
from mtforge.corpus.format import Corpus, CorpusWriter
from mtforge.corpus.manifest import file_sha256
from mtforge.corpus.records import Direction, record_rows
from mtforge.errors import ConfigError, CorpusFormatError, InputNotFoundError, MissingDirectionsError
from mtforge.langcodes import is_language, normalise, parse_directions

Format = Literal["auto", "corpus", "text", "tsv", "jsonl", "hf"]
FORMATS: tuple[str, ...] = get_args(Format)
_SUFFIX_FORMATS = {".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl"}
_CHUNK_LINES = 50_000


# ------------------------------------------------------------------------------- helpers


def _label(path: Path) -> str:
    """``<parent dir>/<file name>``: how rows and fingerprints name a file, whatever its
    absolute location."""
    return f"{path.parent.name}/{path.name}"


def _files_fingerprint(kind: str, paths: Iterable[Path]) -> str:
    files = [[_label(p), file_sha256(p)] for p in paths]
    return hashlib.sha256(json.dumps({"kind": kind, "files": files}).encode()).hexdigest()


def _read_lines(path: Path) -> Iterator[str]:
    """Yield the lines of a UTF-8 file without their line ending (``\\n`` or ``\\r\\n``);
    only ``\\n`` separates lines. Invalid UTF-8 raises :class:`CorpusFormatError` naming the
    file and line."""
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                text = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise CorpusFormatError(f"{path}:{lineno}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
            yield text.removesuffix("\n").removesuffix("\r")


def _count_lines(path: Path) -> int:
    """Number of lines as :func:`_read_lines` yields them."""
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def _table(src: list[str], tgt: list[str], direction: Direction, origins: list[str]) -> pa.Table:
    n = len(src)
    return pa.table(
        {
            "src": pa.array(src, pa.string()),
            "tgt": pa.array(tgt, pa.string()),
            "src_lang": pa.repeat(pa.scalar(direction[0]), n),
            "tgt_lang": pa.repeat(pa.scalar(direction[1]), n),
            "origin": pa.array(origins, pa.string()),
        }
    )


def _require_languages(directions: list[Direction], available: dict[str, Path], where: str) -> None:
    """Raise :class:`MissingDirectionsError` listing what ``where`` holds when a requested
    language is missing."""
    missing = sorted({lang for d in directions for lang in d} - set(available))
    if missing:
        found = ", ".join(f"{lang} ({path.name})" for lang, path in sorted(available.items())) or "none"
        raise MissingDirectionsError(f"{where}: no text for {', '.join(missing)}; languages found: {found}",
                                     [d for d in directions if set(d) & set(missing)])


def name_language(name: str) -> tuple[str, str] | None:
    """``"train.en"`` → ``("eng_Latn", "train")``: the one dot-separated part of a file name
    that is a language code, and the rest (the split); ``None`` unless exactly one part is."""
    parts = name.split(".")
    hits = [i for i, part in enumerate(parts) if is_language(part)]
    if len(hits) != 1:
        return None
    i = hits[0]
    return normalise(parts[i]), ".".join(parts[:i] + parts[i + 1 :])


# ------------------------------------------------------------------------------- sources


class _Source(ABC):
    """One resolved local source: what to fingerprint and how to write its rows."""

    @abstractmethod
    def fingerprint(self) -> str:
        """Content fingerprint of exactly what :meth:`write_to` reads."""

    @abstractmethod
    def write_to(self, writer: CorpusWriter, directions: list[Direction]) -> None:
        """Write the rows of ``directions`` (FLORES codes) to ``writer``."""


@dataclass(frozen=True)
class _AlignedText(_Source):
    """Line-aligned text files, one per language."""

    files: dict[str, Path]
    where: str

    def fingerprint(self) -> str:
        return _files_fingerprint("text", sorted(self.files.values()))

    def write_to(self, writer: CorpusWriter, directions: list[Direction]) -> None:
        _require_languages(directions, self.files, self.where)
        counts = {lang: _count_lines(self.files[lang]) for lang in {lang for d in directions for lang in d}}
        for s, t in directions:
            if counts[s] != counts[t]:
                raise CorpusFormatError(
                    f"line counts differ: {self.files[s]} has {counts[s]} lines, {self.files[t]} has {counts[t]}"
                )
        for s, t in directions:
            label = _label(self.files[s])
            pairs = zip(_read_lines(self.files[s]), _read_lines(self.files[t]), strict=True)
            start = 1
            while chunk := list(islice(pairs, _CHUNK_LINES)):
                src, tgt = map(list, zip(*chunk, strict=True))
                writer.write(_table(src, tgt, (s, t), [f"{label}:{i}" for i in range(start, start + len(chunk))]))
                start += len(chunk)


@dataclass(frozen=True)
class _FilePair(_Source):
    """Two line-aligned files (``"a,b"``)."""

    paths: tuple[Path, Path]

    def fingerprint(self) -> str:
        return _files_fingerprint("text", self.paths)

    def write_to(self, writer: CorpusWriter, directions: list[Direction]) -> None:
        named = [name_language(p.name) for p in self.paths]
        if named[0] and named[1] and named[0][0] != named[1][0]:
            languages = (named[0][0], named[1][0])
        else:
            languages = directions[0]
        files = dict(zip(languages, self.paths, strict=True))
        _AlignedText(files, f"{self.paths[0]},{self.paths[1]}").write_to(writer, directions)


@dataclass(frozen=True)
class _Tsv(_Source):
    """``source<TAB>target`` lines; the columns hold the first direction's languages."""

    path: Path

    def fingerprint(self) -> str:
        return _files_fingerprint("tsv", [self.path])

    def _pairs(self) -> Iterator[tuple[int, str, str]]:
        for lineno, line in enumerate(_read_lines(self.path), 1):
            fields = line.split("\t")
            if len(fields) != 2:
                raise CorpusFormatError(
                    f"{self.path}:{lineno}: expected 2 tab-separated fields (source<TAB>target), found {len(fields)}"
                )
            yield lineno, fields[0], fields[1]

    def write_to(self, writer: CorpusWriter, directions: list[Direction]) -> None:
        columns = directions[0]
        _require_languages(
            directions, dict.fromkeys(columns, self.path), f"{self.path} (columns {columns[0]}, {columns[1]})"
        )
        label = _label(self.path)
        for direction in directions:
            forward = direction == columns
            pairs = self._pairs()
            while chunk := list(islice(pairs, _CHUNK_LINES)):
                linenos, first, second = map(list, zip(*chunk, strict=True))
                src, tgt = (first, second) if forward else (second, first)
                writer.write(_table(src, tgt, direction, [f"{label}:{i}" for i in linenos]))


@dataclass(frozen=True)
class _Jsonl(_Source):
    """One JSON object per line (see :mod:`mtforge.corpus.records`)."""

    path: Path

    def fingerprint(self) -> str:
        return _files_fingerprint("jsonl", [self.path])

    def _records(self) -> Iterator[tuple[str, Any]]:
        label = _label(self.path)
        for lineno, line in enumerate(_read_lines(self.path), 1):
            if not line.strip():
                continue
            try:
                yield f"{label}:{lineno}", json.loads(line)
            except json.JSONDecodeError as exc:
                raise CorpusFormatError(
                    f"{self.path}:{lineno}: invalid JSON ({exc.msg} at column {exc.colno})"
                ) from None

    def write_to(self, writer: CorpusWriter, directions: list[Direction]) -> None:
        writer.write(record_rows(self._records(), directions, str(self.path)))


@dataclass(frozen=True)
class _HuggingFace(_Source):
    """A Hugging Face dataset split (hub id or local dataset directory)."""

    ref: remote.HfRef
    split: str

    def fingerprint(self) -> str:
        return remote.hf_fingerprint(self.ref, self.split)

    def write_to(self, writer: CorpusWriter, directions: list[Direction]) -> None:
        dataset = remote.load_hf_dataset(self.ref, self.split)
        prefix = f"{self.ref.label}/{self.split}"
        records = ((f"{prefix}#{i}", row) for i, row in enumerate(dataset))
        writer.write(record_rows(records, directions, f"hf://{self.ref.id} split {self.split!r}"))


@dataclass(frozen=True)
class _ExistingCorpus(_Source):
    """An mtforge corpus directory."""

    path: Path

    def fingerprint(self) -> str:
        return Corpus.open(self.path).content_hash

    def write_to(self, writer: CorpusWriter, directions: list[Direction]) -> None:
        corpus = Corpus.open(self.path, verify=True)
        present = corpus.directions()
        missing = [f"{s}-{t}" for s, t in directions if (s, t) not in present]
        if missing:
            found = ", ".join(f"{s}-{t}" for s, t in present) or "none"
            raise MissingDirectionsError(f"corpus {self.path} has no {', '.join(missing)}; directions found: {found}",
                                         [d for d in directions if d not in present])
        keep_all = set(directions) == set(present)
        wanted = pa.array([f"{s}-{t}" for s, t in directions])
        for batch in corpus.iter_batches():
            if not keep_all:
                keys = pc.binary_join_element_wise(batch["src_lang"], batch["tgt_lang"], "-")
                batch = batch.filter(pc.is_in(keys, value_set=wanted))
            writer.write(batch)


# ---------------------------------------------------------------------------- resolution


def _scan_directory(root: Path, split: str | None) -> _AlignedText:
    """The language files of one split in a multi-way directory (see the module docstring)."""
    directory, keys = root, ([split] if split else None)
    if split and (root / split).is_dir():
        directory, keys = root / split, [split, ""]
    groups: dict[str, dict[str, Path]] = {}
    for path in sorted(directory.iterdir()):
        found = name_language(path.name) if path.is_file() and not path.name.startswith(".") else None
        if found is None:
            continue
        lang, key = found
        group = groups.setdefault(key, {})
        if lang in group:
            raise CorpusFormatError(f"{group[lang]} and {path} are both {lang} (split {key!r})")
        group[lang] = path
    described = ", ".join(repr(k) if k else "(no split)" for k in sorted(groups))
    if not groups:
        raise CorpusFormatError(
            f"{directory}: no language files (expected names like 'train.en', 'eng_Latn.dev' or 'eng_Latn')"
        )
    if keys is None:
        if len(groups) > 1:
            raise CorpusFormatError(f"{directory} holds several splits ({described}); pass split= one of them")
        keys = list(groups)
    key = next((k for k in keys if k in groups), None)
    if key is None:
        raise InputNotFoundError(f"no files for split {split!r} in {directory}; splits found: {described}")
    return _AlignedText(groups[key], f"{directory} split {key!r}" if key else str(directory))


def _existing_file(text: str) -> Path:
    path = Path(text.strip()).expanduser()
    if not path.is_file():
        raise InputNotFoundError(f"{text.strip()!r}: no such file")
    return path


def _no_split(split: str | None, what: str) -> None:
    if split is not None:
        raise ConfigError(
            f"split={split!r} does not apply to {what}; splits select files in a directory or a Hugging Face split"
        )


def _resolve_local(source: str, split: str | None, fmt: str) -> _Source:
    """Decide what a local ``source`` is (see the module docstring)."""
    path = Path(source).expanduser()
    if "," in source and not path.exists():
        if fmt not in ("auto", "text"):
            raise ConfigError(f"{source!r} is a pair of files, which fmt={fmt!r} cannot read; use fmt='text'")
        parts = source.split(",")
        if len(parts) != 2:
            raise ConfigError(f"{source!r}: a pair source is exactly two comma-separated files, got {len(parts)}")
        _no_split(split, f"the file pair {source!r}")
        return _FilePair((_existing_file(parts[0]), _existing_file(parts[1])))
    if path.is_dir():
        if fmt == "corpus" or (fmt == "auto" and Corpus.is_corpus(path)):
            _no_split(split, f"the corpus {source!r}")
            return _ExistingCorpus(path)
        if fmt not in ("auto", "text"):
            raise ConfigError(f"{source!r} is a directory; fmt={fmt!r} reads a single file")
        return _scan_directory(path, split)
    if path.is_file():
        kind = _SUFFIX_FORMATS.get(path.suffix.lower()) if fmt == "auto" else fmt
        if kind not in ("tsv", "jsonl"):
            raise ConfigError(
                f"cannot read the single file {source!r} as {kind or 'auto'}: "
                "name it *.tsv or *.jsonl, or pass fmt='tsv' or fmt='jsonl'"
            )
        _no_split(split, f"the file {source!r}")
        return _Tsv(path) if kind == "tsv" else _Jsonl(path)
    if fmt in ("auto", "text") and path.parent.is_dir() and any(path.parent.glob(f"{path.name}.*")):
        if split is not None and split != path.name:
            raise ConfigError(
                f"{source!r} is a file prefix, which already names split {path.name!r}; got split={split!r}"
            )
        return _scan_directory(path.parent, path.name)
    raise InputNotFoundError(f"{source!r}: no such file, directory or file prefix")


@contextmanager
def _open_source(source: str, split: str | None, fmt: str) -> Iterator[_Source]:
    """Resolve ``source``, downloading ``s3://`` parts for the duration of the block."""
    if source.startswith(remote.HF_SCHEME) or fmt == "hf":
        yield _HuggingFace(remote.parse_hf_uri(source), split or "train")
    elif remote.S3_SCHEME in source:
        with remote.s3_download(source) as local:
            yield _resolve_local(local, split, fmt)
    else:
        yield _resolve_local(source, split, fmt)


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ConfigError(f"unknown corpus format {fmt!r}; formats: {', '.join(FORMATS)}")


# ------------------------------------------------------------------------------------ API


def import_corpus(
    source: str,
    out_dir: str | os.PathLike[str],
    *,
    directions: Iterable[tuple[str, str]] | str,
    split: str | None = None,
    fmt: str = "auto",
    shard_rows: int = 200_000,
) -> Corpus:
    """Import ``source`` (see the module docstring) into a corpus at ``out_dir``.

    ``directions`` are (src, tgt) pairs in any accepted code form (or a string like
    ``"en-de,de-en"``). Text and TSV sources are written direction by direction in the order
    given, JSONL and Hugging Face sources record by record. ``fmt`` is one of
    :data:`FORMATS`; ``shard_rows`` is passed to :class:`CorpusWriter`.

    Raises :class:`InputNotFoundError` naming a missing path, object, dataset or split;
    :class:`CorpusFormatError` for mismatched line counts (naming both files and counts), a
    malformed TSV/JSONL line (naming file and line) or a requested language the source lacks
    (listing the languages found); :class:`ConfigError` for an inconsistent request.
    """
    _check_format(fmt)
    wanted = parse_directions(directions if isinstance(directions, str) else [f"{s}-{t}" for s, t in directions])
    if Path(out_dir).resolve() == Path(source).expanduser().resolve():
        raise ConfigError(f"out_dir {str(out_dir)!r} is the source itself; write the corpus elsewhere")
    meta = {"source": source, "split": split, "fmt": fmt, "directions": [f"{s}-{t}" for s, t in wanted]}
    with _open_source(source, split, fmt) as resolved, CorpusWriter(out_dir, shard_rows, meta=meta) as writer:
        resolved.write_to(writer, wanted)
    return writer.corpus


def fingerprint_source(source: str, split: str | None = None, fmt: str = "auto") -> str:
    """A cheap content fingerprint of what :func:`import_corpus` reads from ``source``.

    Local files: sha256 of their bytes plus their ``<parent dir>/<name>`` labels (which also
    appear in row origins), so moving the same files elsewhere keeps the fingerprint and
    changing any byte changes it; an existing corpus: its content hash; ``s3://``: the
    selected objects' ETags and sizes (no download, ``split`` not applied); ``hf://``: the hub
    commit sha (or a local dataset directory's file bytes), config and split. Raises the same
    errors as :func:`import_corpus` for a source it could not read.
    """
    _check_format(fmt)
    if not (source.startswith(remote.HF_SCHEME) or fmt == "hf") and remote.S3_SCHEME in source:
        return remote.s3_fingerprint(source)
    with _open_source(source, split, fmt) as resolved:
        return resolved.fingerprint()
