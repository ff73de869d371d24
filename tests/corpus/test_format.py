"""The on-disk corpus: CorpusWriter / Corpus round trip, manifest, content hash, errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pytest

from mtforge.corpus import MANIFEST_NAME, SCHEMA, Corpus, CorpusWriter, Manifest
from mtforge.errors import CorpusFormatError, InputNotFoundError, UnknownLanguageError


def rows(n: int, *, src_lang: str = "eng_Latn", tgt_lang: str = "deu_Latn", start: int = 0) -> list[dict]:
    return [
        {
            "src": f"sentence {i}",
            "tgt": f"Satz {i}",
            "src_lang": src_lang,
            "tgt_lang": tgt_lang,
            "score": i / 10 if i % 2 else None,
            "origin": f"test.txt:{i + 1}",
        }
        for i in range(start, start + n)
    ]


def write(path: Path, data: list[dict], shard_rows: int = 4, **kwargs) -> Corpus:
    with CorpusWriter(path, shard_rows=shard_rows, **kwargs) as writer:
        writer.write(data)
    return writer.corpus


def test_round_trip_keeps_rows_order_and_schema(tmp_path: Path) -> None:
    data = rows(10) + rows(3, src_lang="deu_Latn", tgt_lang="eng_Latn")
    corpus = write(tmp_path / "c", data, meta={"source": "unit test"})

    reopened = Corpus.open(tmp_path / "c", verify=True)
    assert reopened.rows == 13
    assert [{**r, "score": r["score"] and round(r["score"], 5)} for r in reopened.iter_rows()] == data
    assert reopened.to_table().schema.equals(SCHEMA)
    assert reopened.directions() == [("deu_Latn", "eng_Latn"), ("eng_Latn", "deu_Latn")]
    assert reopened.manifest.directions == {"deu_Latn-eng_Latn": 3, "eng_Latn-deu_Latn": 10}
    assert reopened.manifest.meta == {"source": "unit test"}
    assert reopened.content_hash == corpus.content_hash
    assert [s.rows for s in reopened.manifest.shards] == [4, 4, 4, 1]
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == [
        MANIFEST_NAME,
        "part-00000.parquet",
        "part-00001.parquet",
        "part-00002.parquet",
        "part-00003.parquet",
    ]


def test_write_accepts_tables_batches_and_many_calls(tmp_path: Path) -> None:
    table = pa.Table.from_pylist(rows(5))
    with CorpusWriter(tmp_path / "c", shard_rows=3) as writer:
        writer.write(table)
        writer.write(table.to_batches()[0])
        writer.write(iter(rows(2, start=5)))
        assert writer.rows == 12
    assert writer.corpus.rows == 12
    assert [b.num_rows for b in writer.corpus.iter_batches(batch_rows=2)] == [2, 1] * 4


def test_optional_columns_default_and_codes_are_normalised(tmp_path: Path) -> None:
    corpus = write(tmp_path / "c", [{"src": "a b", "tgt": "c d", "src_lang": "en", "tgt_lang": "cs"}])
    assert list(corpus.iter_rows()) == [
        {"src": "a b", "tgt": "c d", "src_lang": "eng_Latn", "tgt_lang": "ces_Latn", "score": None, "origin": ""}
    ]


def test_empty_corpus_is_valid(tmp_path: Path) -> None:
    corpus = write(tmp_path / "c", [])
    assert Corpus.open(corpus.path).rows == 0
    assert corpus.to_table().num_rows == 0
    assert corpus.directions() == []


def test_content_hash_is_stable_across_directories_and_sensitive_to_one_byte(tmp_path: Path) -> None:
    data = rows(9)
    first = write(tmp_path / "a", data, meta={"written": "first"})
    second = write(tmp_path / "elsewhere" / "b", data, meta={"written": "second"})
    assert first.content_hash == second.content_hash

    changed = [dict(r) for r in data]
    changed[7]["tgt"] = "Satz 8"  # one byte differs from "Satz 7"
    assert write(tmp_path / "c", changed).content_hash != first.content_hash
    reordered = data[1:] + data[:1]
    assert write(tmp_path / "d", reordered).content_hash != first.content_hash


def test_manifest_is_written_last(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    finished: list[str] = []
    real_replace = os.replace

    def recording_replace(src: str | os.PathLike, dst: str | os.PathLike) -> None:
        real_replace(src, dst)
        finished.append(Path(dst).name)

    monkeypatch.setattr(os, "replace", recording_replace)
    write(tmp_path / "c", rows(9))
    assert finished == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet", MANIFEST_NAME]


def test_a_crashed_write_leaves_no_corpus(tmp_path: Path) -> None:
    out = tmp_path / "c"
    with pytest.raises(RuntimeError, match="boom"), CorpusWriter(out, shard_rows=2) as writer:
        writer.write(rows(5))
        raise RuntimeError("boom")
    assert not (out / MANIFEST_NAME).exists()
    assert list(out.iterdir()) == []
    with pytest.raises(CorpusFormatError, match=rf"{out / MANIFEST_NAME} is missing"):
        Corpus.open(out)


def test_rewriting_a_directory_removes_the_old_corpus_first(tmp_path: Path) -> None:
    out = tmp_path / "c"
    write(out, rows(9))
    (out / "notes.txt").write_text("kept")
    writer = CorpusWriter(out)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    writer.write(rows(1))
    assert writer.close().rows == 1


def test_open_missing_path_names_it(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match=str(tmp_path / "nope")):
        Corpus.open(tmp_path / "nope")


def test_corrupt_manifest_names_the_file(tmp_path: Path) -> None:
    corpus = write(tmp_path / "c", rows(3))
    manifest = corpus.path / MANIFEST_NAME
    manifest.write_text("{not json")
    with pytest.raises(CorpusFormatError, match=rf"{manifest} is not a valid corpus manifest"):
        Corpus.open(corpus.path)
    data = json.loads(Manifest(rows=0, shards=[], directions={}, content_hash="x").model_dump_json())
    del data["rows"]
    manifest.write_text(json.dumps(data))
    with pytest.raises(CorpusFormatError, match=r"rows: Field required"):
        Corpus.open(corpus.path)


def test_missing_shard_names_the_file(tmp_path: Path) -> None:
    corpus = write(tmp_path / "c", rows(9))
    (corpus.path / "part-00001.parquet").unlink()
    with pytest.raises(CorpusFormatError, match=rf"{corpus.path / 'part-00001.parquet'} is missing"):
        Corpus.open(corpus.path)


def test_verify_detects_a_changed_shard(tmp_path: Path) -> None:
    corpus = write(tmp_path / "c", rows(9))
    shard = corpus.path / "part-00002.parquet"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    Corpus.open(corpus.path)  # cheap open does not read shard bytes
    with pytest.raises(CorpusFormatError, match=rf"{shard}: sha256 .* does not match"):
        Corpus.open(corpus.path, verify=True)


def test_manifest_totals_are_checked(tmp_path: Path) -> None:
    corpus = write(tmp_path / "c", rows(3))
    manifest = corpus.path / MANIFEST_NAME
    data = json.loads(manifest.read_text())
    data["rows"] = 4
    manifest.write_text(json.dumps(data))
    with pytest.raises(CorpusFormatError, match="do not add up to rows=4"):
        Corpus.open(corpus.path)


def test_rows_missing_a_column_or_with_extra_ones_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CorpusFormatError, match=r"missing column\(s\) \['tgt'\]"):
        write(tmp_path / "a", [{"src": "x", "src_lang": "en", "tgt_lang": "de"}])
    with pytest.raises(CorpusFormatError, match=r"unexpected column\(s\) \['extra'\]"):
        write(tmp_path / "b", [{**rows(1)[0], "extra": 1}])
    with pytest.raises(CorpusFormatError, match="column 'tgt' is null in row 1"):
        write(tmp_path / "c", [rows(1)[0], {**rows(1)[0], "tgt": None}])
    with pytest.raises(UnknownLanguageError, match="column 'tgt_lang': unknown language code 'xx'"):
        write(tmp_path / "d", rows(1, tgt_lang="xx"))
    assert not Corpus.is_corpus(tmp_path / "d")


def test_a_mono_corpus_counts_languages_and_round_trips(tmp_path: Path) -> None:
    rows = [{"text": "Hello there.", "lang": "en"}, {"text": "Hallo.", "lang": "deu_Latn"},
            {"text": "Bye.", "lang": "eng"}]
    with CorpusWriter(tmp_path, kind="mono") as writer:
        writer.write(rows)
    corpus = Corpus.open(tmp_path, verify=True)
    assert corpus.kind == "mono"
    assert corpus.manifest.directions == {"deu_Latn": 1, "eng_Latn": 2}
    assert corpus.languages() == ["deu_Latn", "eng_Latn"]
    assert [r["text"] for r in corpus.iter_rows()] == ["Hello there.", "Hallo.", "Bye."]
    with pytest.raises(CorpusFormatError, match="mono corpus"):
        corpus.directions()


def test_bitext_rows_are_refused_by_a_mono_writer(tmp_path: Path) -> None:
    with pytest.raises(CorpusFormatError, match="mono corpus schema"), CorpusWriter(tmp_path, kind="mono") as w:
        w.write([{"src": "a", "tgt": "b", "src_lang": "en", "tgt_lang": "de"}])
