"""Raw shards: listing by file name, fingerprints, and reading every line with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtforge.curate.shards import ShardRef, list_bitext_shards, list_mono_shards, read_shard
from mtforge.errors import ConfigError, CorpusFormatError, InputNotFoundError, UnknownLanguageError


def write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


def test_pairs_and_tsv_files_are_shards_with_content_fingerprints(tmp_path: Path) -> None:
    write(tmp_path / "a.en", "Hello.\nTwo dogs.\n")
    write(tmp_path / "a.de", "Hallo.\nZwei Hunde.\n")
    write(tmp_path / "b.en", "Only English.\n")          # no German side: not a shard
    write(tmp_path / "c.tsv", "A cat.\tEine Katze.\n")
    write(tmp_path / "LICENSE", "text")                   # not a language file
    shards = list_bitext_shards(str(tmp_path), "en-de")
    assert [(s.name, s.format, s.langs) for s in shards] == [
        ("a.eng_Latn-deu_Latn", "pair", ("eng_Latn", "deu_Latn")), ("c", "tsv", ("eng_Latn", "deu_Latn"))]
    again = ShardRef.from_json(shards[0].to_json())
    assert again == shards[0]
    write(tmp_path / "a.de", "Hallo!\nZwei Hunde.\n")
    assert list_bitext_shards(str(tmp_path), "en-de")[0].fingerprint != shards[0].fingerprint


def test_reading_keeps_every_line_and_names_the_bad_ones(tmp_path: Path) -> None:
    write(tmp_path / "x.tsv", b"A dog.\tEin Hund.\r\nno tab here\nbad \xff byte\tok\nnul\x00\tx\n")
    (shard,) = list_bitext_shards(str(tmp_path), "en-de")
    lines = list(read_shard(shard, invalid_utf8="reject"))
    assert [(line.origin, line.reason) for line in lines] == [
        ("x.tsv:1", None), ("x.tsv:2", "tsv_columns"), ("x.tsv:3", "invalid_utf8"), ("x.tsv:4", "nul_byte")]
    assert lines[0].texts == ("A dog.", "Ein Hund.")
    repaired = list(read_shard(shard, invalid_utf8="repair"))[2]
    assert repaired.reason is None and repaired.texts == ("bad  byte", "ok")


def test_a_shard_changed_after_listing_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "x.tsv", "A dog.\tEin Hund.\n")
    (shard,) = list_bitext_shards(str(tmp_path), "en-de")
    write(tmp_path / "x.tsv", "A cat.\tEine Katze.\n")
    with pytest.raises(CorpusFormatError, match="changed since it was listed"):
        list(read_shard(shard))


def test_unequal_sides_name_both_files(tmp_path: Path) -> None:
    write(tmp_path / "p.en", "One.\nTwo.\nThree.\n")
    write(tmp_path / "p.de", "Eins.\nZwei.\n")
    (shard,) = list_bitext_shards(str(tmp_path), "en-de")
    with pytest.raises(CorpusFormatError, match=r"p\.en.*p\.de|p\.de.*p\.en"):
        list(read_shard(shard))


def test_listing_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match="not a directory"):
        list_bitext_shards(str(tmp_path / "missing"), "en-de")
    with pytest.raises(InputNotFoundError, match="no bitext shards"):
        list_bitext_shards(str(tmp_path), "en-de")
    with pytest.raises(UnknownLanguageError):
        list_bitext_shards(str(tmp_path), "en-qq")
    write(tmp_path / "x.tsv", "a\tb\n")
    with pytest.raises(ConfigError, match="one direction"):
        list_bitext_shards(str(tmp_path), "en-de,en-fr")
    with pytest.raises(ConfigError, match="not a shard reference"):
        ShardRef.from_json('{"name": 1}')


def test_mono_shards_are_language_files(tmp_path: Path) -> None:
    write(tmp_path / "web.hi", "नमस्ते।\n")
    write(tmp_path / "web.ur", "سلام۔\n")
    assert [s.langs for s in list_mono_shards(str(tmp_path))] == [("hin_Deva",), ("urd_Arab",)]
    assert [s.name for s in list_mono_shards(str(tmp_path), "ur")] == ["web.urd_Arab"]
    with pytest.raises(InputNotFoundError, match="deu_Latn"):
        list_mono_shards(str(tmp_path), "de")


def test_shards_on_s3_are_listed_by_etag_and_read_from_a_download(s3, tmp_path: Path) -> None:
    s3.make_bucket("raw")
    for name, text in {"a.en": "A dog runs.\nTwo cats.\n", "a.de": "Ein Hund rennt.\nZwei Katzen.\n",
                       "web.hi": "नमस्ते।\n"}.items():
        s3.fput_object("raw", f"crawl/{name}", str(write(tmp_path / name, text)))
    s3.fput_object("raw", "crawl/deeper/b.en", str(tmp_path / "a.en"))       # not directly in the prefix
    (shard,) = list_bitext_shards("s3://raw/crawl", "en-de")
    assert shard.paths == ("s3://raw/crawl/a.en", "s3://raw/crawl/a.de")
    assert [line.texts for line in read_shard(shard)] == [("A dog runs.", "Ein Hund rennt."),
                                                          ("Two cats.", "Zwei Katzen.")]
    assert [s.name for s in list_mono_shards("s3://raw/crawl/", "hi")] == ["web.hin_Deva"]
    s3.fput_object("raw", "crawl/a.de", str(write(tmp_path / "a2.de", "Ein Hund.\nZwei Katzen.\n")))
    with pytest.raises(CorpusFormatError, match="changed since it was listed"):
        list(read_shard(shard))


def test_shared_data_layouts_are_shards(shared_data: Path) -> None:
    flores = list_bitext_shards(str(shared_data / "flores200" / "dev"), "en-scn")
    assert [(s.name, Path(s.paths[0]).name) for s in flores] == [("dev.eng_Latn-scn_Latn", "eng_Latn.dev")]
    oldi = list_mono_shards(str(shared_data / "oldi_seed"), "scn,fur")
    assert [s.name for s in oldi] == ["fur_Latn", "scn_Latn"]
    multi30k = list_bitext_shards(str(shared_data / "multi30k"), "en-de")
    assert sorted(s.name.partition(".")[0] for s in multi30k) == ["test_2016_flickr", "train", "val"]
