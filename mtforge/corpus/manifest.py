"""The corpus manifest: what a finished corpus directory holds, and its content hash."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: Version of the on-disk corpus layout; bump it when the layout or schema changes.
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"


def file_sha256(path: Path, chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 of the bytes of ``path``, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


class ShardInfo(BaseModel):
    """One Parquet shard: its file name (relative to the corpus directory), rows and hash."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file: str
    rows: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


def content_hash(shards: list[ShardInfo]) -> str:
    """Deterministic hash of a corpus's content: sha256 over the format version and, in order,
    each shard's row count and sha256. It does not depend on the directory, the time or
    ``meta``; the same rows written in the same order with the same ``shard_rows`` (and the
    same pyarrow version) give the same hash, and any changed byte changes it."""
    lines = [f"mtforge-corpus/{FORMAT_VERSION}"] + [f"{s.rows}:{s.sha256}" for s in shards]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


class Manifest(BaseModel):
    """``manifest.json`` of a corpus directory; written last, so its presence marks a
    finished corpus.

    ``kind`` is ``bitext`` (sentence pairs) or ``mono`` (monolingual texts). ``directions``
    maps ``"src-tgt"`` (bitext) or the language (mono; FLORES-200 codes) to its row count;
    ``meta`` is free provenance (source, stage config, …) and is not part of ``content_hash``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["mtforge-corpus"] = "mtforge-corpus"
    format_version: Literal[1] = FORMAT_VERSION
    kind: Literal["bitext", "mono"] = "bitext"
    rows: int = Field(ge=0)
    shards: list[ShardInfo]
    directions: dict[str, int]
    content_hash: str
    meta: dict[str, Any] = Field(default_factory=dict)
