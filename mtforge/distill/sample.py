"""Seeded sampling of monolingual source text for distillation (stopes §5.3 "Sampling").

A *mono source* is one or more comma-separated items, each

* a text file whose name has a language part (``train.en``, ``eng_Latn.dev``), one sentence
  a line (files of other languages are skipped, so ``train.en,train.de`` serves ``en-de``
  and ``de-en``);
* a directory or ``s3://`` prefix of such files (see :mod:`mtforge.mine.shards`); or
* a monolingual corpus (``curate-mono``'s output), whose rows are filtered by language.

Empty and unreadable lines are not sampled; they come back with their reasons. The sample of
a language is drawn with replacement (stopes: enough sentences for each language from a fixed
amount of text), or, with ``replace=False``, as whole shuffled passes over the lines and a
sample without replacement for the rest, so no line repeats before every line was drawn.
"""

from __future__ import annotations

import hashlib
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mtforge.corpus import remote
from mtforge.corpus.importers import name_language
from mtforge.curate.shards import ShardRef
from mtforge.errors import ConfigError, InputNotFoundError
from mtforge.fingerprint import content_hash
from mtforge.langcodes import normalise
from mtforge.mine.shards import MineShard, list_shards, read_sentences


@dataclass(frozen=True)
class MonoText:
    """The usable lines of one language in a mono source, where they came from, and the
    lines that are not usable as ``(origin, reason, detail)``."""

    lang: str
    texts: list[str]
    origins: list[str]
    excluded: list[tuple[str, str, str]]
    parts: list[str]


def source_items(source: str) -> list[str]:
    """The comma-separated items of ``source`` (a :class:`ConfigError` when there is none)."""
    items = [item.strip() for item in source.split(",") if item.strip()]
    if not items:
        raise ConfigError("the mono source is empty: give a text file, a directory, an s3:// prefix or a mono "
                          "corpus (comma-separated for several)")
    return items


def _shards(item: str, lang: str) -> list[MineShard]:
    """The parts of ``lang`` in one source item (none when it holds other languages only)."""
    whole = sys.maxsize  # one part per file: sampling needs every line at once
    path, local = Path(item).expanduser(), not item.startswith(remote.S3_SCHEME)
    if local and not path.exists():
        raise InputNotFoundError(f"mono source {item!r} does not exist")
    if local and path.is_file():
        named = name_language(path.name)
        if named is None:
            raise ConfigError(f"mono source file {item!r}: its name has no language part; name it like train.en "
                              "or eng_Latn.txt")
        if named[0] != lang:
            return []
        return [s for s in list_shards(str(path.parent), lang, shard_rows=whole)
                if s.format == "text" and ShardRef.from_json(s.source).paths == (str(path),)]
    try:
        return list_shards(item, lang, shard_rows=whole)
    except InputNotFoundError:  # no file or row of this language here
        return []


def read_mono(source: str, lang: str) -> MonoText:
    """Every line of ``lang`` in ``source`` (see the module docstring), in source order.
    Raises :class:`InputNotFoundError` naming the source when it has no usable ``lang`` line."""
    lang = normalise(lang)
    texts: list[str] = []
    origins: list[str] = []
    excluded: list[tuple[str, str, str]] = []
    parts: list[str] = []
    for item in source_items(source):
        for shard in _shards(item, lang):
            found = read_sentences(shard)
            texts += found.texts
            origins += found.origins
            excluded += found.excluded
            parts.append(shard.name)
    if not texts:
        detail = f" ({len(excluded)} empty or unreadable lines)" if excluded else ""
        raise InputNotFoundError(f"mono source {source!r} has no usable {lang} line{detail}: name files like "
                                 "train.en or eng_Latn.dev, or give a mono corpus with that language")
    return MonoText(lang, texts, origins, excluded, parts)


def sample_indices(n: int, count: int, *, seed: int, lang: str, replace: bool = True) -> np.ndarray:
    """``count`` indices into ``n`` lines, drawn by a generator seeded with (``seed``, ``lang``),
    with replacement, or (``replace=False``) as whole shuffled passes plus a sample without
    replacement of the rest."""
    if n < 1:
        raise ConfigError(f"cannot sample {count} {lang} lines from none")
    rng = np.random.default_rng([seed, zlib.crc32(lang.encode())])
    if replace:
        return rng.integers(0, n, size=count)
    passes, rest = divmod(count, n)
    return np.concatenate([rng.permutation(n) for _ in range(passes)] + [rng.choice(n, rest, replace=False)])


def mono_fingerprint(source: str) -> str:
    """A content fingerprint of a mono source (the cache key of the sampling step): the
    content hash of each local item, the ETags of each ``s3://`` one."""
    digest = hashlib.sha256()
    for item in source_items(source):
        if item.startswith(remote.S3_SCHEME):
            part = remote.s3_fingerprint(item)
        elif Path(item).expanduser().exists():
            part = content_hash(str(Path(item).expanduser()))
        else:
            raise InputNotFoundError(f"mono source {item!r} does not exist")
        digest.update(f"{part}\0".encode())
    return digest.hexdigest()
