"""A content-addressed cache of sentence embeddings for evaluations that re-encode the same
test sets (xsim tables, mining benchmarks): one ``.npy`` file per (encoder, language, list of
sentences), named by a hash of all three, so a changed input never hits a stale entry."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mtforge.embed.encoders import Encoder


class EmbeddingCache:
    """Encode through ``encoder``, keeping results under ``root`` (``None``: no caching)."""

    def __init__(self, encoder: Encoder, root: str | os.PathLike[str] | None) -> None:
        self.encoder = encoder
        self.root = Path(root) if root else None
        self.truncated = 0

    def _path(self, sentences: Sequence[str], lang: str) -> Path:
        digest = hashlib.sha256(f"{self.encoder.name}\0{self.encoder.dim}\0{lang}\0".encode())
        for sentence in sentences:
            data = sentence.encode()
            digest.update(len(data).to_bytes(8, "little"))
            digest.update(data)
        assert self.root is not None
        return self.root / f"{digest.hexdigest()[:32]}.npy"

    def encode(self, sentences: Sequence[str], lang: str, *, allow_uncovered: bool = False) -> np.ndarray:
        """Vectors of ``sentences`` (float32), from the cache when the same input was encoded before."""
        path = self._path(sentences, lang) if self.root else None
        if path is not None and path.is_file():
            return np.load(path)
        encoded = self.encoder.encode_counted(sentences, lang, allow_uncovered=allow_uncovered)
        self.truncated += encoded.truncated
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, encoded.vectors)
            os.replace(tmp, path)
        return encoded.vectors
