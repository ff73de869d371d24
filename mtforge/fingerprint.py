"""Content fingerprints of stage outputs (the data part of cache keys)."""

from __future__ import annotations

import hashlib
import os

from mtforge.corpus import Corpus
from mtforge.corpus.manifest import file_sha256


def content_hash(path: str) -> str:
    """A corpus's manifest hash; a file's sha256; or for any other directory the sha256 over
    every file's relative name and bytes hash. Independent of where ``path`` lives."""
    if Corpus.is_corpus(path):
        return Corpus.open(path).content_hash
    if os.path.isfile(path):
        return file_sha256(path)
    h = hashlib.sha256()
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(root, name)
            h.update(f"{os.path.relpath(full, path)}\0{file_sha256(full)}\0".encode())
    return h.hexdigest()
