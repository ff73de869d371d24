"""What the mining pipeline fans out over: slices of one language's monolingual text.

A mining source is either

* a directory (or ``s3://`` prefix) of raw text files with a language part in their name
  (``web.de``, ``deu_Latn.dev``, OLDI's ``scn_Latn``), one sentence per line — which includes
  one language of a multi-way parallel set such as FLORES-200; or
* a monolingual corpus directory (``curate-mono``'s output), whose rows are filtered by language.

Each file (or corpus shard) is cut into *parts* of at most ``shard_rows`` sentences. With a
``shuffle_seed`` a file's lines are first put in a seeded random order, so that two languages
of a multi-way set no longer line up (the mining benchmark's "hidden alignment"). A part is
described by a :class:`MineShard`, passed between tasks as JSON; its ``fingerprint`` (the
file's content id, the part and the seed) is what a task's cache key follows.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mtforge.corpus import Corpus
from mtforge.curate.shards import ShardRef, list_mono_shards, read_shard
from mtforge.errors import ConfigError, CorpusFormatError, InputNotFoundError
from mtforge.langcodes import normalise


@dataclass(frozen=True)
class MineShard:
    """Part ``part`` of ``parts`` of one file (``format="text"``) or corpus shard (``"corpus"``)."""

    name: str
    lang: str
    format: Literal["text", "corpus"]
    source: str
    part: int
    parts: int
    seed: int | None
    fingerprint: str

    def to_json(self) -> str:
        """The JSON string a pipeline passes to the part's task."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> MineShard:
        """Parse :meth:`to_json`'s output; a malformed string raises :class:`ConfigError`."""
        try:
            return cls(**json.loads(text))
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"not a mining shard reference ({exc}): {text[:200]!r}") from None


@dataclass(frozen=True)
class Sentences:
    """The readable sentences of a part with their origins, and the lines that were not."""

    texts: list[str]
    origins: list[str]
    excluded: list[tuple[str, str, str]]  # (origin, reason, detail)


def _parts(rows: int, shard_rows: int) -> int:
    return max(1, math.ceil(rows / shard_rows))


def _digest(*items: object) -> str:
    return hashlib.sha256(json.dumps(items, sort_keys=True).encode()).hexdigest()[:32]


def list_shards(source: str, lang: str, *, shard_rows: int = 100_000, shuffle_seed: int | None = None) -> list[MineShard]:
    """The parts of ``lang``'s text in ``source`` (see the module docstring), in a stable order."""
    if shard_rows < 1:
        raise ConfigError(f"shard_rows must be at least 1, got {shard_rows}")
    lang = normalise(lang)
    if Corpus.is_corpus(source):
        corpus = Corpus.open(source)
        if corpus.kind != "mono":
            raise CorpusFormatError(f"{source}: a {corpus.kind} corpus; mining reads monolingual corpora or text files")
        if lang not in corpus.languages():
            raise InputNotFoundError(f"{source}: no {lang} rows (languages: {', '.join(corpus.languages())})")
        parts_of = []
        for info in corpus.manifest.shards:
            path = corpus.path / info.file
            rows = pc.sum(pc.equal(pq.read_table(path, columns=["lang"])["lang"], lang)).as_py() or 0
            parts = _parts(rows, shard_rows)
            parts_of += [MineShard(f"{lang}.{Path(info.file).stem}.{part:05d}", lang, "corpus", str(path), part, parts,
                                   shuffle_seed, _digest(info.sha256, lang, part, parts, shuffle_seed))
                         for part in range(parts)]
        return parts_of
    out = []
    for ref in list_mono_shards(source, lang):
        rows = sum(1 for _ in read_shard(ref))
        parts = _parts(rows, shard_rows)
        out += [MineShard(f"{ref.name}.{part:05d}", lang, "text", ref.to_json(), part, parts, shuffle_seed,
                          _digest(ref.fingerprint, part, parts, shuffle_seed)) for part in range(parts)]
    return out


def _select(n: int, shard: MineShard) -> np.ndarray:
    """Row indices of ``shard``'s part among ``n`` rows (after the seeded shuffle, if any)."""
    order = np.random.default_rng(shard.seed).permutation(n) if shard.seed is not None else np.arange(n)
    size = math.ceil(n / shard.parts) if n else 0
    return order[shard.part * size:(shard.part + 1) * size]


def read_sentences(shard: MineShard) -> Sentences:
    """The sentences of ``shard``'s part. Unreadable and empty lines are returned as excluded."""
    if shard.format == "corpus":
        path = Path(shard.source)
        if not path.is_file():
            raise InputNotFoundError(f"corpus shard not found: {path}")
        table = pq.read_table(path, columns=["text", "lang", "origin"])
        table = table.filter(pc.equal(table["lang"], shard.lang))
        lines: list[Any] = list(zip(table["origin"].to_pylist(), table["text"].to_pylist(), [None] * table.num_rows,
                                    [""] * table.num_rows))
    else:
        lines = [(line.origin, line.texts[0], line.reason, line.detail)
                 for line in read_shard(ShardRef.from_json(shard.source))]
    texts, origins, excluded = [], [], []
    for i in _select(len(lines), shard).tolist():
        origin, text, reason, detail = lines[i]
        if reason:
            excluded.append((origin, reason, detail))
        elif not (text or "").strip():
            excluded.append((origin, "empty", ""))
        else:
            texts.append(text.strip())
            origins.append(origin)
    return Sentences(texts, origins, excluded)
