"""Mining parts: how a language's text is cut, shuffled and read, and what a part's fingerprint follows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mtforge.corpus import CorpusWriter
from mtforge.errors import ConfigError, CorpusFormatError, InputNotFoundError
from mtforge.mine.shards import MineShard, list_shards, read_sentences

LINES = 250
BLANK = 10      # line numbers (1-based) of the blank and the NUL-byte line in web.de
NUL = 77


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """``web.de``: 250 numbered German lines (line 10 blank, line 77 holds a NUL byte); ``web.en``: one line."""
    lines = [f"Satz Nummer {n}.".encode() for n in range(1, LINES + 1)]
    lines[BLANK - 1] = b"   "
    lines[NUL - 1] = b"Satz mit \x00 Nullbyte."
    (tmp_path / "web.de").write_bytes(b"\n".join(lines) + b"\n")
    (tmp_path / "web.en").write_text("An English line.\n", encoding="utf-8")
    return tmp_path


def read_all(refs: list[MineShard]) -> list[list[str]]:
    return [read_sentences(ref).origins for ref in refs]


def flat(refs: list[MineShard]) -> list[str]:
    return [o for part in read_all(refs) for o in part]


def line_no(origin: str) -> int:
    return int(origin.rpartition(":")[2])


def test_parts_cover_every_line_once_in_file_order(source: Path) -> None:
    refs = list_shards(str(source), "de", shard_rows=100)
    assert [(r.part, r.parts, r.lang, r.format) for r in refs] == [(p, 3, "deu_Latn", "text") for p in range(3)]
    assert len({r.name for r in refs}) == 3
    parts = [read_sentences(ref) for ref in refs]
    assert all(len(p.texts) + len(p.excluded) <= 100 for p in parts)
    origins = [o for p in parts for o in p.origins]
    assert origins == [f"web.de:{n}" for n in range(1, LINES + 1) if n not in (BLANK, NUL)]
    # Every kept sentence is the text of the line its origin names.
    assert all(t == f"Satz Nummer {line_no(o)}." for p in parts for t, o in zip(p.texts, p.origins))
    excluded = [e for p in parts for e in p.excluded]
    assert excluded == [(f"web.de:{BLANK}", "empty", ""), (f"web.de:{NUL}", "nul_byte", excluded[1][2])]


def test_a_seed_shuffles_deterministically_and_still_partitions(source: Path) -> None:
    a = flat(list_shards(str(source), "de", shard_rows=100, shuffle_seed=1))
    again = flat(list_shards(str(source), "de", shard_rows=100, shuffle_seed=1))
    other = flat(list_shards(str(source), "de", shard_rows=100, shuffle_seed=2))
    assert a == again and a != other
    kept = [f"web.de:{n}" for n in range(1, LINES + 1) if n not in (BLANK, NUL)]
    assert sorted(a, key=line_no) == sorted(other, key=line_no) == kept       # a partition of the same lines
    assert len(set(a)) == len(a) == LINES - 2
    assert a != kept                                                          # not file order
    # Each part holds lines from all over the file, not a contiguous block.
    first_part = read_sentences(list_shards(str(source), "de", shard_rows=100, shuffle_seed=1)[0])
    assert max(map(line_no, first_part.origins)) > 200 and min(map(line_no, first_part.origins)) < 50
    assert all(t == f"Satz Nummer {line_no(o)}." for t, o in zip(first_part.texts, first_part.origins))
    # The blank and NUL lines are still reported, wherever the shuffle put them.
    excluded = [e for r in list_shards(str(source), "de", shard_rows=100, shuffle_seed=1)
                for e in read_sentences(r).excluded]
    assert sorted((o, reason) for o, reason, _ in excluded) == [(f"web.de:{BLANK}", "empty"),
                                                               (f"web.de:{NUL}", "nul_byte")]


def test_fingerprints_follow_content_and_seed(source: Path) -> None:
    before = [r.fingerprint for r in list_shards(str(source), "de", shard_rows=100)]
    assert before == [r.fingerprint for r in list_shards(str(source), "de", shard_rows=100)]   # stable
    assert len(set(before)) == 3                                                                # one per part
    seeded = [r.fingerprint for r in list_shards(str(source), "de", shard_rows=100, shuffle_seed=5)]
    reseeded = [r.fingerprint for r in list_shards(str(source), "de", shard_rows=100, shuffle_seed=6)]
    with open(source / "web.de", "a", encoding="utf-8") as f:
        f.write("Noch ein Satz.\n")
    after = [r.fingerprint for r in list_shards(str(source), "de", shard_rows=100)]
    assert len({*before, *seeded, *reseeded, *after}) == 12
    # The other language's file did not change, nor did its fingerprint.
    assert list_shards(str(source), "en")[0].fingerprint == list_shards(str(source), "en")[0].fingerprint


def test_a_part_listed_before_its_file_changed_is_not_read(source: Path) -> None:
    ref = list_shards(str(source), "de", shard_rows=100)[0]
    (source / "web.de").write_text("Ganz anderer Inhalt.\n", encoding="utf-8")
    with pytest.raises(CorpusFormatError, match="changed since it was listed"):
        read_sentences(ref)


def test_json_round_trip_and_errors(source: Path, tmp_path: Path) -> None:
    ref = list_shards(str(source), "en")[0]
    assert MineShard.from_json(ref.to_json()) == ref
    assert json.loads(ref.to_json())["lang"] == "eng_Latn"
    assert read_sentences(MineShard.from_json(ref.to_json())).texts == ["An English line."]
    for bad in ('{"name": "x"}', "not json", "[1, 2]", json.dumps({**json.loads(ref.to_json()), "extra": 1})):
        with pytest.raises(ConfigError, match="not a mining shard reference"):
            MineShard.from_json(bad)
    with pytest.raises(InputNotFoundError, match="fra_Latn"):
        list_shards(str(source), "fr")
    with pytest.raises(InputNotFoundError):
        list_shards(str(tmp_path / "no-such-dir"), "de")
    with pytest.raises(ConfigError, match="shard_rows"):
        list_shards(str(source), "de", shard_rows=0)
    with CorpusWriter(tmp_path / "bitext") as writer:
        writer.write([{"src": "a", "tgt": "b", "src_lang": "de", "tgt_lang": "en"}])
    with pytest.raises(CorpusFormatError, match="bitext corpus"):
        list_shards(str(tmp_path / "bitext"), "de")


@pytest.fixture
def mono(tmp_path: Path) -> Path:
    """A monolingual corpus (two Parquet shards) with German, English and one blank German row."""
    rows = [{"text": f"Satz {i}.", "lang": "de", "origin": f"web.de:{i}"} for i in range(1, 8)]
    rows.insert(3, {"text": "Hello world.", "lang": "en", "origin": "web.en:1"})
    rows.append({"text": "  ", "lang": "de", "origin": "web.de:8"})
    with CorpusWriter(tmp_path / "mono", kind="mono", shard_rows=5) as writer:
        writer.write(rows)
    return tmp_path / "mono"


def test_a_monolingual_corpus_is_read_by_language(mono: Path, tmp_path: Path) -> None:
    refs = list_shards(str(mono), "deu")
    assert {r.format for r in refs} == {"corpus"} and {r.lang for r in refs} == {"deu_Latn"}
    parts = [read_sentences(r) for r in refs]
    assert [t for p in parts for t in p.texts] == [f"Satz {i}." for i in range(1, 8)]
    assert [o for p in parts for o in p.origins] == [f"web.de:{i}" for i in range(1, 8)]   # the corpus's origins
    assert [e for p in parts for e in p.excluded] == [("web.de:8", "empty", "")]
    assert [t for r in list_shards(str(mono), "en") for t in read_sentences(r).texts] == ["Hello world."]
    shuffled = [o for r in list_shards(str(mono), "de", shuffle_seed=3) for o in read_sentences(r).origins]
    assert sorted(shuffled) == sorted(o for p in parts for o in p.origins)
    with pytest.raises(InputNotFoundError, match="fra_Latn"):
        list_shards(str(mono), "fr")
    # A stage's output directory (the corpus in its corpus/ subdirectory) works as well.
    stage_out = tmp_path / "stage-out"
    stage_out.mkdir()
    mono.rename(stage_out / "corpus")
    assert [t for r in list_shards(str(stage_out), "de") for t in read_sentences(r).texts] == \
        [f"Satz {i}." for i in range(1, 8)]


def test_a_monolingual_corpus_is_cut_into_parts_of_at_most_shard_rows(tmp_path: Path) -> None:
    with CorpusWriter(tmp_path / "mono", kind="mono") as writer:              # one Parquet shard of 10 rows
        writer.write([{"text": f"Satz {i}.", "lang": "de", "origin": f"web.de:{i}"} for i in range(10)])
    refs = list_shards(str(tmp_path / "mono"), "de", shard_rows=4)
    parts = [read_sentences(r).texts for r in refs]
    assert len(refs) == 3 and all(len(p) <= 4 for p in parts)
    assert sorted(t for p in parts for t in p) == sorted(f"Satz {i}." for i in range(10))
