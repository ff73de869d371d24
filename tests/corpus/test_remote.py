"""Remote sources: s3:// against a real (moto) S3 server through minio, hf:// through
datasets.load_dataset on a dataset directory built here (no hub access)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from minio import Minio

from mtforge.corpus import fingerprint_source, import_corpus
from mtforge.errors import InputNotFoundError

WriteLines = Callable[[Path, list[str]], Path]


# -------------------------------------------------------------------------------------- S3


@pytest.fixture
def bucket(s3: Minio, tmp_path: Path, write_lines: WriteLines) -> str:
    """A fresh bucket holding ``data/train.{en,de}``, ``data/pairs.tsv`` and a decoy
    ``data2/train.en``; the same files lie locally under ``tmp_path/local/data``."""
    name = f"corpora-{uuid.uuid4().hex[:12]}"
    s3.make_bucket(name)
    local = tmp_path / "local" / "data"
    files = {
        "train.en": ["A dog runs.", "Two cats.", "A red car."],
        "train.de": ["Ein Hund rennt.", "Zwei Katzen.", "Ein rotes Auto."],
        "pairs.tsv": ["Hello\tHallo", "Bye\tTschüss"],
    }
    for file, lines in files.items():
        s3.fput_object(name, f"data/{file}", str(write_lines(local / file, lines)))
    s3.fput_object(name, "data2/train.en", str(write_lines(tmp_path / "decoy" / "train.en", ["decoy"])))
    return name


def test_s3_directory_prefix_and_pair_match_the_local_import(bucket: str, tmp_path: Path) -> None:
    local = tmp_path / "local" / "data"
    expected = import_corpus(str(local), tmp_path / "local.corpus", directions="en-de,de-en", split="train")
    assert expected.rows == 6
    for i, source in enumerate(
        [f"s3://{bucket}/data", f"s3://{bucket}/data/train", f"s3://{bucket}/data/train.en,s3://{bucket}/data/train.de"]
    ):
        corpus = import_corpus(
            source, tmp_path / f"s3-{i}", directions="en-de,de-en", split="train" if i == 0 else None
        )
        assert corpus.content_hash == expected.content_hash, source
        assert corpus.manifest.meta["source"] == source
    row = next(corpus.iter_rows())
    assert (row["src"], row["tgt"], row["origin"]) == ("A dog runs.", "Ein Hund rennt.", "data/train.en:1")


def test_s3_single_object(bucket: str, tmp_path: Path) -> None:
    corpus = import_corpus(f"s3://{bucket}/data/pairs.tsv", tmp_path / "c", directions="en-de")
    assert [(r["src"], r["tgt"]) for r in corpus.iter_rows()] == [("Hello", "Hallo"), ("Bye", "Tschüss")]


def test_s3_fingerprint_tracks_object_content(s3: Minio, bucket: str, tmp_path: Path, write_lines: WriteLines) -> None:
    source = f"s3://{bucket}/data/train"
    before = fingerprint_source(source)
    assert fingerprint_source(source) == before
    assert fingerprint_source(f"s3://{bucket}/data/pairs.tsv") != before
    s3.fput_object(
        bucket,
        "data/train.de",
        str(write_lines(tmp_path / "new.de", ["Ein Hund rennt!", "Zwei Katzen.", "Ein rotes Auto."])),
    )
    assert fingerprint_source(source) != before


def test_s3_missing_bucket_or_key_names_the_uri(s3: Minio, bucket: str, tmp_path: Path) -> None:
    with pytest.raises(
        InputNotFoundError, match=r"s3://no-such-bucket-x/data: bucket 'no-such-bucket-x' does not exist"
    ):
        import_corpus("s3://no-such-bucket-x/data", tmp_path / "c", directions="en-de")
    with pytest.raises(InputNotFoundError, match=rf"s3://{bucket}/dat: no object 'dat' and nothing under it"):
        fingerprint_source(f"s3://{bucket}/dat")


# ---------------------------------------------------------------------------- Hugging Face


@pytest.fixture
def hf_dataset(tmp_path: Path, hf_cache: Path) -> Path:
    """A dataset directory laid out as on the hub: a ``translation`` column in the default
    config's train/test splits, and language columns in a ``fr-en`` config."""
    root = tmp_path / "toy-mt"
    (root / "data").mkdir(parents=True)
    (root / "fr-en").mkdir()
    translation = [{"en": f"sentence {i}", "de": f"Satz {i}"} for i in range(5)]
    pq.write_table(pa.table({"translation": translation}), root / "data" / "train-00000-of-00001.parquet")
    pq.write_table(pa.table({"translation": translation[:2]}), root / "data" / "test-00000-of-00001.parquet")
    pq.write_table(pa.table({"fr": ["Bonjour", "Merci"], "en": ["Hello", "Thanks"]}), root / "fr-en" / "train.parquet")
    (root / "README.md").write_text(
        "---\nconfigs:\n"
        "- config_name: default\n  data_files:\n  - split: train\n    path: data/train-*\n"
        "  - split: test\n    path: data/test-*\n"
        "- config_name: fr-en\n  data_files:\n  - split: train\n    path: fr-en/train.parquet\n---\n"
    )
    return root


def test_hf_translation_column(hf_dataset: Path, hf_cache: Path, tmp_path: Path) -> None:
    corpus = import_corpus(f"hf://{hf_dataset}", tmp_path / "c", directions="de-en")
    rows = list(corpus.iter_rows())
    assert len(rows) == 5
    assert (rows[1]["src"], rows[1]["tgt"], rows[1]["origin"]) == ("Satz 1", "sentence 1", "hf:toy-mt/train#1")
    assert hf_cache.is_dir()  # load_dataset really ran, with the test's cache
    test = import_corpus(f"hf://{hf_dataset}", tmp_path / "t", directions="en-de", split="test")
    assert test.rows == 2


def test_hf_config_with_language_columns(hf_dataset: Path, tmp_path: Path) -> None:
    corpus = import_corpus(f"hf://{hf_dataset}?config=fr-en", tmp_path / "c", directions="fr-en,en-fr")
    assert corpus.manifest.directions == {"eng_Latn-fra_Latn": 2, "fra_Latn-eng_Latn": 2}
    assert next(corpus.iter_rows())["origin"] == "hf:toy-mt/fr-en/train#0"


def test_hf_errors(hf_dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match=rf"dataset directory '{tmp_path}/missing' does not exist"):
        import_corpus(f"hf://{tmp_path}/missing", tmp_path / "c", directions="en-de")
    with pytest.raises(InputNotFoundError, match=r"split 'validation'"):
        import_corpus(f"hf://{hf_dataset}", tmp_path / "c", directions="en-de", split="validation")


def test_hf_local_fingerprint(hf_dataset: Path, tmp_path: Path) -> None:
    before = fingerprint_source(f"hf://{hf_dataset}")
    assert fingerprint_source(f"hf://{hf_dataset}", split="test") != before
    pq.write_table(
        pa.table({"translation": [{"en": "x", "de": "y"}]}), hf_dataset / "data" / "train-00000-of-00001.parquet"
    )
    assert fingerprint_source(f"hf://{hf_dataset}") != before


def test_upload_command_puts_a_folder_under_a_prefix(s3: Minio, bucket: str, tmp_path: Path,
                                                     write_lines: WriteLines, capsys) -> None:
    from mtforge.cli import main

    write_lines(tmp_path / "m30k" / "train.en", ["A dog."])
    write_lines(tmp_path / "m30k" / "sub" / "val.en", ["A cat."])
    assert main(["upload", str(tmp_path / "m30k"), f"s3://{bucket}/data/multi30k"]) == 0
    keys = sorted(o.object_name for o in s3.list_objects(bucket, prefix="data/multi30k/", recursive=True))
    assert keys == ["data/multi30k/sub/val.en", "data/multi30k/train.en"]
    assert "uploaded 2 file(s)" in capsys.readouterr().out
    assert main(["upload", str(tmp_path / "absent"), f"s3://{bucket}/x"]) == 2
    assert "does not exist: nothing to upload" in capsys.readouterr().err
    assert main(["upload", str(tmp_path / "m30k"), "s3://no-such-bucket-here/x"]) == 2
    assert "NoSuchBucket" in capsys.readouterr().err
