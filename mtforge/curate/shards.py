"""Raw input shards: what the curation pipelines fan out over, and how one is read.

A curation source is a local directory of raw text files. Each file (or pair of files) is a
*shard*, processed by its own task, so that adding a file re-runs only that file's task and
the merge:

* **bitext**: ``<stem>.<src>`` + ``<stem>.<tgt>`` line-aligned files (``train.en`` +
  ``train.de``; ``eng_Latn.dev``-style names do not apply here), or a ``<name>.tsv`` file with
  ``source<TAB>target`` lines when exactly one direction is requested.
* **mono**: ``<stem>.<lang>`` files, one document (a line, a paragraph) per line.

A shard is described by a :class:`ShardRef`, passed between tasks as a JSON string whose
``fingerprint`` (sha256 of the file bytes) makes a task's cache key follow the content.
Reading a shard yields rows plus, for every line that cannot become a row, the line number
and the reason (see :mod:`mtforge.curate.textio`): nothing is dropped silently.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from mtforge.corpus.manifest import file_sha256
from mtforge.curate.textio import RawLine, iter_lines, read_parallel
from mtforge.errors import ConfigError, CorpusFormatError, InputNotFoundError, UnknownLanguageError
from mtforge.langcodes import normalise, parse_directions

ShardFormat = Literal["pair", "tsv", "text"]


@dataclass(frozen=True)
class ShardRef:
    """One raw shard: ``paths`` (one or two files), its ``format``, languages and fingerprint.

    ``langs`` is ``(src, tgt)`` for bitext and ``(lang,)`` for mono (FLORES-200 codes).
    """

    name: str
    format: ShardFormat
    paths: tuple[str, ...]
    langs: tuple[str, ...]
    fingerprint: str

    def to_json(self) -> str:
        """The JSON string a pipeline passes to the shard's task."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ShardRef:
        """Parse :meth:`to_json`'s output; a malformed string raises :class:`ConfigError`."""
        try:
            data: dict[str, Any] = json.loads(text)
            return cls(name=data["name"], format=data["format"], paths=tuple(data["paths"]),
                       langs=tuple(data["langs"]), fingerprint=data["fingerprint"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"not a shard reference ({exc}): {text[:200]!r}") from None

    @property
    def key(self) -> str:
        """``"src-tgt"`` or the language: what per-language statistics are grouped by."""
        return "-".join(self.langs)


def _fingerprint(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(f"{path.name}\0{file_sha256(path)}\0".encode())
    return digest.hexdigest()


def _language_files(root: Path) -> dict[tuple[str, str], Path]:
    """``(stem, FLORES code) → file`` for files named ``<stem>.<language code>``."""
    found: dict[tuple[str, str], Path] = {}
    for path in sorted(p for p in root.iterdir() if p.is_file()):
        stem, dot, suffix = path.name.rpartition(".")
        if not dot or not stem:
            continue
        try:
            found[(stem, normalise(suffix))] = path
        except UnknownLanguageError:
            continue
    return found


def _source_dir(source: str) -> Path:
    root = Path(source).expanduser()
    if not root.is_dir():
        raise InputNotFoundError(f"curation source {source!r} is not a directory of shard files")
    return root


def list_bitext_shards(source: str, directions: str) -> list[ShardRef]:
    """The bitext shards of directory ``source`` for ``directions`` (``"en-de,en-fr"``).

    A ``<stem>.<src>``/``<stem>.<tgt>`` pair is a shard for each requested direction whose
    two files exist; a ``*.tsv`` file is a shard when exactly one direction is requested.
    Raises :class:`InputNotFoundError` when ``source`` is not a directory or holds no shard,
    :class:`UnknownLanguageError` for a bad language code in ``directions``.
    """
    root = _source_dir(source)
    wanted = parse_directions(directions)
    files = _language_files(root)
    shards = []
    for stem in sorted({stem for stem, _ in files}):
        for src, tgt in wanted:
            if (stem, src) in files and (stem, tgt) in files:
                paths = [files[(stem, src)], files[(stem, tgt)]]
                shards.append(ShardRef(f"{stem}.{src}-{tgt}", "pair", tuple(map(str, paths)), (src, tgt),
                                       _fingerprint(paths)))
    tsvs = sorted(root.glob("*.tsv"))
    if tsvs and len(wanted) != 1:
        raise ConfigError(f"{root} holds TSV shards, which have one direction; got directions {directions!r}")
    shards += [ShardRef(p.stem, "tsv", (str(p),), wanted[0], _fingerprint([p])) for p in tsvs]
    if not shards:
        raise InputNotFoundError(
            f"no bitext shards for {directions!r} in {root}: expected <stem>.<src> + <stem>.<tgt> files or *.tsv")
    return shards


def list_mono_shards(source: str, languages: str = "") -> list[ShardRef]:
    """The mono shards (``<stem>.<lang>`` files) of directory ``source``, only those in
    ``languages`` (comma-separated codes) when given. Raises :class:`InputNotFoundError` when
    there is none."""
    root = _source_dir(source)
    keep = {normalise(code) for code in languages.split(",") if code.strip()}
    shards = [ShardRef(f"{stem}.{lang}", "text", (str(path),), (lang,), _fingerprint([path]))
              for (stem, lang), path in _language_files(root).items() if not keep or lang in keep]
    if not shards:
        wanted = f" in {sorted(keep)}" if keep else ""
        raise InputNotFoundError(f"no mono shards (<stem>.<lang> files{wanted}) in {root}")
    return shards


@dataclass(frozen=True)
class ShardLine:
    """One line of a shard: ``texts`` (one per side) when readable, else ``reason``/``detail``.

    ``origin`` is ``<file>:<line>`` (1-based). Unreadable sides are given as ``""``.
    """

    origin: str
    texts: tuple[str, ...]
    reason: str | None = None
    detail: str = ""


def _from_raw(origin: str, raws: tuple[RawLine, ...]) -> ShardLine:
    bad = next((raw for raw in raws if raw.reason), None)
    texts = tuple(raw.text or "" for raw in raws)
    return ShardLine(origin, texts, bad.reason if bad else None, bad.detail if bad else "")


def read_shard(ref: ShardRef, *, max_line_bytes: int = 1_000_000,
               invalid_utf8: Literal["repair", "reject"] = "repair") -> Iterator[ShardLine]:
    """Every line of shard ``ref`` in order, readable or not (see :class:`ShardLine`).

    A TSV line without exactly one tab gets reason ``tsv_columns``. Unequal sides of a pair
    raise :class:`CorpusFormatError` naming both files (from :func:`read_parallel`).
    """
    if ref.fingerprint != _fingerprint([Path(p) for p in ref.paths]):
        raise CorpusFormatError(f"shard {ref.name}: {', '.join(ref.paths)} changed since it was listed")
    options = {"max_line_bytes": max_line_bytes, "invalid_utf8": invalid_utf8}
    label = Path(ref.paths[0]).name
    if ref.format == "pair":
        for src, tgt in read_parallel(ref.paths[0], ref.paths[1], **options):
            yield _from_raw(f"{label}:{src.lineno}", (src, tgt))
    elif ref.format == "tsv":
        for raw in iter_lines(ref.paths[0], **options):
            line = _from_raw(f"{label}:{raw.lineno}", (raw,))
            if line.reason:
                yield ShardLine(line.origin, ("", ""), line.reason, line.detail)
                continue
            columns = line.texts[0].split("\t")
            if len(columns) != 2:
                yield ShardLine(line.origin, ("", ""), "tsv_columns", f"{len(columns)} tab-separated columns, not 2")
            else:
                yield ShardLine(line.origin, (columns[0], columns[1]))
    else:
        for raw in iter_lines(ref.paths[0], **options):
            yield _from_raw(f"{label}:{raw.lineno}", (raw,))
