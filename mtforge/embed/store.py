"""Embedding shards on disk: one directory per mining shard part::

    <dir>/embeddings.npy      [rows, dim] float16 or float32, L2-normalised, row i ↔ sentence i
    <dir>/sentences.parquet   text, origin (``<file>:<line>``) of each row
    <dir>/meta.json           written last: shard name and fingerprint, language, encoder,
                              dim, dtype, rows, truncated, excluded, vector space

A directory without ``meta.json`` is an unfinished write and is redone; one whose
``meta.json`` matches the shard fingerprint and encoder is complete and is skipped on a
re-run (the per-shard resumption the embed stage relies on).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mtforge.errors import CorpusFormatError, InputNotFoundError

VECTORS = "embeddings.npy"
SENTENCES = "sentences.parquet"
META = "meta.json"


@dataclass(frozen=True)
class EmbeddingMeta:
    """What ``meta.json`` records about one embedding shard."""

    shard: str
    fingerprint: str
    lang: str
    encoder: str
    dim: int
    dtype: str
    rows: int
    truncated: int
    excluded: int
    #: :attr:`~mtforge.embed.encoders.Encoder.space` of the encoder (shards written before
    #: this field existed: empty, meaning the encoder's own space).
    space: str = ""

    @property
    def vector_space(self) -> str:
        """The space the vectors live in (see :attr:`space`)."""
        return self.space or self.encoder


def write_shard(out: Path, meta: EmbeddingMeta, vectors: np.ndarray, texts: list[str], origins: list[str]) -> None:
    """Write one shard directory (``meta.json`` last, so a crash leaves it unfinished)."""
    if not (len(vectors) == len(texts) == len(origins) == meta.rows):
        raise ValueError(f"{out}: {len(vectors)} vectors, {len(texts)} texts, {len(origins)} origins, meta.rows={meta.rows}")
    out.mkdir(parents=True, exist_ok=True)
    (out / META).unlink(missing_ok=True)
    np.save(out / VECTORS, vectors.astype(meta.dtype, copy=False))
    pq.write_table(pa.table({"text": pa.array(texts, pa.string()), "origin": pa.array(origins, pa.string())}),
                   out / SENTENCES)
    tmp = out / f"{META}.tmp"
    tmp.write_text(json.dumps(asdict(meta), indent=2))
    os.replace(tmp, out / META)


def read_meta(path: Path) -> EmbeddingMeta | None:
    """The shard's metadata, or ``None`` when the directory holds no finished shard."""
    try:
        return EmbeddingMeta(**json.loads((path / META).read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError) as exc:
        raise CorpusFormatError(f"{path / META}: not an embedding shard's metadata ({exc})") from None


@dataclass(frozen=True)
class EmbeddingShard:
    """A finished embedding shard directory, read lazily."""

    path: Path
    meta: EmbeddingMeta

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> EmbeddingShard:
        """Open a shard directory; a missing or unfinished one is an error naming it."""
        path = Path(path)
        meta = read_meta(path)
        if meta is None:
            raise InputNotFoundError(f"{path}: not a finished embedding shard (no {META})")
        return cls(path, meta)

    def vectors(self) -> np.ndarray:
        """The ``[rows, dim]`` vectors (memory-mapped); a wrong shape is an error naming the file."""
        try:
            vectors = np.load(self.path / VECTORS, mmap_mode="r")
        except (OSError, ValueError) as exc:
            raise CorpusFormatError(f"{self.path / VECTORS}: unreadable embeddings ({exc})") from None
        if vectors.shape != (self.meta.rows, self.meta.dim):
            raise CorpusFormatError(f"{self.path / VECTORS}: shape {vectors.shape}, but {META} says "
                                    f"({self.meta.rows}, {self.meta.dim})")
        return vectors

    def sentences(self) -> tuple[list[str], list[str]]:
        """``(texts, origins)`` of the rows."""
        table = pq.read_table(self.path / SENTENCES)
        return table["text"].to_pylist(), table["origin"].to_pylist()


def shard_dirs(roots: list[str]) -> list[Path]:
    """Every finished shard directory under ``roots`` (each a shard or a directory of shards), by name."""
    found: list[Path] = []
    for root in map(Path, roots):
        if not root.is_dir():
            raise InputNotFoundError(f"embeddings directory not found: {root}")
        found += [root] if (root / META).is_file() else [p.parent for p in root.glob(f"*/{META}")]
    return sorted(found, key=lambda p: (p.name, str(p)))


def open_shards(roots: list[str]) -> list[EmbeddingShard]:
    """The finished shards under ``roots`` in name order; none at all is an error."""
    shards = [EmbeddingShard.open(p) for p in shard_dirs(roots)]
    if not shards:
        raise InputNotFoundError(f"no embedding shards under {', '.join(roots)}")
    return shards
