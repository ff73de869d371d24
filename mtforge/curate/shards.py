"""Raw input shards: what the curation pipelines fan out over, and how one is read.

A curation source is a directory of raw text files, local or an ``s3://bucket/prefix``
(MinIO; see :mod:`mtforge.corpus.remote` for the endpoint settings; files are listed by
ETag and downloaded only by the task that reads them). Each file (or pair of files) is a
*shard*, processed by its own task, so that adding a file re-runs only that file's task and
the merge:

* **bitext**: line-aligned files whose names differ only in the language part (``train.en``
  + ``train.de``, FLORES ``eng_Latn.dev`` + ``deu_Latn.dev``, OLDI ``eng_Latn`` +
  ``scn_Latn``), or a ``<name>.tsv`` file with ``source<TAB>target`` lines when exactly one
  direction is requested.
* **mono**: files whose name has one language part (``web.hi``, ``hin_Deva.dev``,
  ``scn_Latn``), one document (a line, a paragraph) per line.

A shard is described by a :class:`ShardRef`, passed between tasks as a JSON string whose
``fingerprint`` (over the files' sha256, or ETags on S3) makes a task's cache key follow the
content.
Reading a shard yields rows plus, for every line that cannot become a row, the line number
and the reason (see :mod:`mtforge.curate.textio`): nothing is dropped silently.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from mtforge.corpus import remote
from mtforge.corpus.importers import name_language
from mtforge.corpus.manifest import file_sha256
from mtforge.curate.textio import RawLine, iter_lines, read_parallel
from mtforge.errors import ConfigError, CorpusFormatError, InputNotFoundError
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


def _files(source: str) -> dict[str, tuple[str, str]]:
    """File name → (path or ``s3://`` URI, content id) of the files directly in ``source``: a
    local directory (content id: sha256) or an ``s3://bucket/prefix/`` (ETag and size; nothing
    is downloaded). Raises :class:`InputNotFoundError` when there is no such directory."""
    if source.startswith(remote.S3_SCHEME):
        bucket, key = remote.split_s3_uri(source.rstrip("/") + "/")
        objects = remote.list_objects(source.rstrip("/") + "/")
        return {o.object_name[len(key):]: (f"{remote.S3_SCHEME}{bucket}/{o.object_name}", f"{o.etag}:{o.size}")
                for o in objects if "/" not in o.object_name[len(key):]}
    root = Path(source).expanduser()
    if not root.is_dir():
        raise InputNotFoundError(f"curation source {source!r} is not a directory of shard files")
    return {p.name: (str(p), file_sha256(p)) for p in sorted(root.iterdir()) if p.is_file()}


def _fingerprint(files: dict[str, tuple[str, str]], names: list[str]) -> str:
    """Hash over the names and content ids of ``names`` (independent of where they live)."""
    return hashlib.sha256("".join(f"{name}\0{files[name][1]}\0" for name in names).encode()).hexdigest()


def _shard(name: str, fmt: ShardFormat, files: dict[str, tuple[str, str]], names: list[str],
           langs: tuple[str, ...]) -> ShardRef:
    return ShardRef(name, fmt, tuple(files[n][0] for n in names), langs, _fingerprint(files, names))


def _label(stem: str, key: str) -> str:
    """A shard's name: ``train.eng_Latn-deu_Latn``, or just the key when the files have no stem."""
    return f"{stem}.{key}" if stem else key


def _language_files(files: dict[str, tuple[str, str]]) -> dict[tuple[str, str], str]:
    """``(stem, FLORES code) → file name`` for the files whose name has exactly one
    dot-separated part that is a language code (``train.en``, ``eng_Latn.dev``, ``eng_Latn``),
    as the importers read them; the other parts are the stem."""
    found: dict[tuple[str, str], str] = {}
    for name in sorted(files):
        named = name_language(name) if not name.startswith(".") else None
        if named:
            found[(named[1], named[0])] = name
    return found


def list_bitext_shards(source: str, directions: str) -> list[ShardRef]:
    """The bitext shards of ``source`` (a directory or ``s3://`` prefix) for ``directions``
    (``"en-de,en-fr"``).

    Two files whose names differ only in the language part (``<stem>.<src>``/``<stem>.<tgt>``)
    are a shard for each requested direction they hold; a ``*.tsv`` file is a shard when exactly one direction is requested.
    Raises :class:`InputNotFoundError` when ``source`` is not a directory or holds no shard,
    :class:`UnknownLanguageError` for a bad language code in ``directions``.
    """
    wanted = parse_directions(directions)
    files = _files(source)
    by_language = _language_files(files)
    shards = []
    for stem in sorted({stem for stem, _ in by_language}):
        for src, tgt in wanted:
            if (stem, src) in by_language and (stem, tgt) in by_language:
                names = [by_language[(stem, src)], by_language[(stem, tgt)]]
                shards.append(_shard(_label(stem, f"{src}-{tgt}"), "pair", files, names, (src, tgt)))
    tsvs = [name for name in sorted(files) if name.endswith(".tsv")]
    if tsvs and len(wanted) != 1:
        raise ConfigError(f"{source} holds TSV shards, which have one direction; got directions {directions!r}")
    shards += [_shard(name.removesuffix(".tsv"), "tsv", files, [name], wanted[0]) for name in tsvs]
    if not shards:
        raise InputNotFoundError(
            f"no bitext shards for {directions!r} in {source}: expected <stem>.<src> + <stem>.<tgt> files or *.tsv")
    return shards


def list_mono_shards(source: str, languages: str = "") -> list[ShardRef]:
    """The mono shards (files with a language part in their name) of ``source`` (a directory or ``s3://``
    prefix), only those in ``languages`` (comma-separated codes) when given. Raises
    :class:`InputNotFoundError` when there is none."""
    files = _files(source)
    keep = {normalise(code) for code in languages.split(",") if code.strip()}
    shards = [_shard(_label(stem, lang), "text", files, [name], (lang,))
              for (stem, lang), name in _language_files(files).items() if not keep or lang in keep]
    if not shards:
        wanted = f" in {sorted(keep)}" if keep else ""
        raise InputNotFoundError(f"no mono shards (files named like web.hi or eng_Latn.dev{wanted}) in {source}")
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


def _content_id(path: str) -> str | None:
    """The content id :func:`_files` gives ``path`` (None when it no longer exists)."""
    if path.startswith(remote.S3_SCHEME):
        key = remote.split_s3_uri(path)[1]
        try:
            found = [o for o in remote.list_objects(path) if o.object_name == key]
        except InputNotFoundError:
            return None
        return f"{found[0].etag}:{found[0].size}" if found else None
    return file_sha256(Path(path)) if Path(path).is_file() else None


@contextmanager
def _local_copies(ref: ShardRef) -> Iterator[list[str]]:
    """Local paths of the shard's files (``s3://`` ones downloaded for the duration); raises
    :class:`CorpusFormatError` when the files changed since the shard was listed."""
    names = [path.rpartition("/")[2] for path in ref.paths]
    now = {name: (path, _content_id(path) or "") for name, path in zip(names, ref.paths)}
    if _fingerprint(now, names) != ref.fingerprint:
        raise CorpusFormatError(f"shard {ref.name}: {', '.join(ref.paths)} changed since it was listed")
    if not ref.paths[0].startswith(remote.S3_SCHEME):
        yield list(ref.paths)
        return
    with remote.s3_download(",".join(ref.paths)) as local:
        yield local.split(",")


def read_shard(ref: ShardRef, *, max_line_bytes: int = 1_000_000,
               invalid_utf8: Literal["repair", "reject"] = "repair") -> Iterator[ShardLine]:
    """Every line of shard ``ref`` in order, readable or not (see :class:`ShardLine`).

    A TSV line without exactly one tab gets reason ``tsv_columns``. Unequal sides of a pair
    raise :class:`CorpusFormatError` naming both files (from :func:`read_parallel`).
    """
    options = {"max_line_bytes": max_line_bytes, "invalid_utf8": invalid_utf8}
    label = ref.paths[0].rpartition("/")[2]
    with _local_copies(ref) as paths:
        if ref.format == "pair":
            for src, tgt in read_parallel(paths[0], paths[1], **options):
                yield _from_raw(f"{label}:{src.lineno}", (src, tgt))
        elif ref.format == "tsv":
            for raw in iter_lines(paths[0], **options):
                yield _tsv_line(_from_raw(f"{label}:{raw.lineno}", (raw,)))
        else:
            for raw in iter_lines(paths[0], **options):
                yield _from_raw(f"{label}:{raw.lineno}", (raw,))


def _tsv_line(line: ShardLine) -> ShardLine:
    """A TSV line split into its two sides, or excluded (``tsv_columns``, or its read reason)."""
    if line.reason:
        return ShardLine(line.origin, ("", ""), line.reason, line.detail)
    columns = line.texts[0].split("\t")
    if len(columns) != 2:
        return ShardLine(line.origin, ("", ""), "tsv_columns", f"{len(columns)} tab-separated columns, not 2")
    return ShardLine(line.origin, (columns[0], columns[1]))
