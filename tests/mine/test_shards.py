"""Mining parts: how a language's text is cut, shuffled and read, and what a part's fingerprint follows."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtforge.corpus import CorpusWriter
from mtforge.errors import ConfigError, CorpusFormatError, InputNotFoundError
from mtforge.mine.shards import MineShard, list_shards, read_sentences


@pytest.fixture
def source(tmp_path: Path) -> Path:
    lines = [f"Satz Nummer {i}." for i in range(1, 251)]
    lines[9] = "   "
    (tmp_path / "web.de").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "web.en").write_text("An English line.\n", encoding="utf-8")
    return tmp_path


def read_all(refs: list[MineShard]) -> list[list[str]]:
    return [read_sentences(ref).origins for ref in refs]


def test_parts_cover_every_line_once_in_file_order(source: Path) -> None:
    refs = list_shards(str(source), "de", shard_rows=100)
    assert [(r.part, r.parts, r.lang) for r in refs] == [(0, 3, "deu_Latn"), (1, 3, "deu_Latn"), (2, 3, "deu_Latn")]
    origins = [o for part in read_all(refs) for o in part]
    assert origins == [f"web.de:{n}" for n in range(1, 251) if n != 10]
    first = read_sentences(refs[0])
    assert first.excluded == [("web.de:10", "empty", "")] and first.texts[0] == "Satz Nummer 1."


def test_a_seed_shuffles_deterministically_and_still_partitions(source: Path) -> None:
    a = [o for part in read_all(list_shards(str(source), "de", shard_rows=100, shuffle_seed=1)) for o in part]
    again = [o for part in read_all(list_shards(str(source), "de", shard_rows=100, shuffle_seed=1)) for o in part]
    other = [o for part in read_all(list_shards(str(source), "de", shard_rows=100, shuffle_seed=2)) for o in part]
    assert a == again and a != other
    assert sorted(a) == sorted(other) and len(set(a)) == 249
    assert a != sorted(a, key=lambda o: int(o.split(":")[1]))


def test_fingerprints_follow_content_and_seed(source: Path) -> None:
    before = [r.fingerprint for r in list_shards(str(source), "de", shard_rows=100)]
    seeded = [r.fingerprint for r in list_shards(str(source), "de", shard_rows=100, shuffle_seed=5)]
    (source / "web.de").write_text((source / "web.de").read_text() + "Noch ein Satz.\n", encoding="utf-8")
    after = [r.fingerprint for r in list_shards(str(source), "de", shard_rows=100)]
    assert len({*before, *seeded, *after}) == 9


def test_json_round_trip_and_errors(source: Path, tmp_path: Path) -> None:
    ref = list_shards(str(source), "en")[0]
    assert MineShard.from_json(ref.to_json()) == ref
    with pytest.raises(ConfigError, match="not a mining shard reference"):
        MineShard.from_json('{"name": "x"}')
    with pytest.raises(InputNotFoundError, match="fra_Latn"):
        list_shards(str(source), "fr")
    with pytest.raises(ConfigError, match="shard_rows"):
        list_shards(str(source), "de", shard_rows=0)
    with CorpusWriter(tmp_path / "bitext") as writer:
        writer.write([{"src": "a", "tgt": "b", "src_lang": "de", "tgt_lang": "en"}])
    with pytest.raises(CorpusFormatError, match="bitext corpus"):
        list_shards(str(tmp_path / "bitext"), "de")


def test_a_monolingual_corpus_is_read_by_language(tmp_path: Path) -> None:
    with CorpusWriter(tmp_path / "mono", kind="mono") as writer:
        writer.write([{"text": "Hallo Welt.", "lang": "de", "origin": "a:1"},
                      {"text": "Hello world.", "lang": "en", "origin": "a:2"},
                      {"text": "Guten Tag.", "lang": "de", "origin": "a:3"}])
    refs = list_shards(str(tmp_path / "mono"), "de")
    assert read_sentences(refs[0]).texts == ["Hallo Welt.", "Guten Tag."]
