"""Reading raw text files: line endings, BOM, bad bytes, huge lines, bitext alignment."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from mtforge.curate.textio import RawLine, count_lines, iter_lines, read_parallel
from mtforge.errors import ConfigError, CorpusFormatError, InputNotFoundError

GERMAN = ["Ein Mann fährt Fahrrad.", "Zwei Hunde spielen im Schnee.", "Eine Frau liest ein Buch."]


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def texts(lines: list[RawLine]) -> list[str | None]:
    return [line.text for line in lines]


def test_real_corpus_reads_like_splitlines(shared_data: Path) -> None:
    path = shared_data / "multi30k" / "val.de"
    lines = list(iter_lines(path))
    assert texts(lines) == path.read_text(encoding="utf-8").splitlines()
    assert [line.lineno for line in lines] == list(range(1, len(lines) + 1))
    assert all(line.reason is None and line.detail == "" for line in lines)
    assert count_lines(path) == len(lines) == 1014


def test_crlf_bom_and_a_last_line_without_newline(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbf" + "\r\n".join(GERMAN).encode() + b"\r\n\r\nEnde."
    lines = list(iter_lines(write(tmp_path, "crlf.de", data)))
    assert texts(lines) == [*GERMAN, "", "Ende."]
    assert count_lines(tmp_path / "crlf.de") == 5


def test_empty_file_yields_nothing(tmp_path: Path) -> None:
    assert list(iter_lines(write(tmp_path, "empty.txt", b""))) == []
    assert list(iter_lines(write(tmp_path, "bom-only.txt", b"\xef\xbb\xbf"))) == []


def test_missing_file_is_reported_at_the_call_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-corpus.en"
    with pytest.raises(InputNotFoundError, match="no-such-corpus.en"):
        iter_lines(missing)
    with pytest.raises(InputNotFoundError, match="no-such-corpus.en"):
        read_parallel(write(tmp_path, "src.de", b"Hallo\n"), missing)


def test_bad_arguments_are_config_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "a.txt", b"a\n")
    with pytest.raises(ConfigError, match="max_line_bytes"):
        iter_lines(path, max_line_bytes=0)
    with pytest.raises(ConfigError, match="invalid_utf8"):
        iter_lines(path, invalid_utf8="replace")  # type: ignore[arg-type]


def test_nul_byte_rejects_only_its_line(tmp_path: Path) -> None:
    data = f"{GERMAN[0]}\nZwei\x00Hunde\n{GERMAN[2]}\n".encode()
    lines = list(iter_lines(write(tmp_path, "nul.de", data)))
    assert texts(lines) == [GERMAN[0], None, GERMAN[2]]
    assert (lines[1].lineno, lines[1].reason) == (2, "nul_byte")
    assert "byte offset 4" in lines[1].detail


# "Fahrrad" with a Latin-1 "ä" (0xe4, invalid in UTF-8) and a truncated 3-byte sequence.
BROKEN = "Ein Mann f".encode() + b"\xe4hrt Fahrrad \xe2\x82.\n"


def test_invalid_utf8_repair_keeps_the_valid_text(tmp_path: Path) -> None:
    [line] = iter_lines(write(tmp_path, "latin1.de", BROKEN))
    assert line.text == "Ein Mann fhrt Fahrrad ." and line.reason is None
    assert "dropped 3 invalid UTF-8 byte(s)" in line.detail and "byte offset 10" in line.detail


def test_invalid_utf8_reject_names_the_offset(tmp_path: Path) -> None:
    path = write(tmp_path, "latin1.de", BROKEN + GERMAN[1].encode())
    first, second = iter_lines(path, invalid_utf8="reject")
    assert (first.text, first.reason) == (None, "invalid_utf8")
    assert "byte offset 10" in first.detail and "0xe4" in first.detail
    assert second.text == GERMAN[1]


@pytest.fixture(scope="module")
def huge_line_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A file whose second line is a 5 MB run of real German sentences (a page on one line)."""
    huge = " ".join(GERMAN) * (5_000_000 // len(" ".join(GERMAN).encode()) + 1)
    path = tmp_path_factory.mktemp("huge") / "page.de"
    path.write_bytes(f"{GERMAN[0]}\n{huge}\r\n{GERMAN[2]}".encode())
    return path, huge


def test_line_over_the_limit_is_skipped_with_bounded_memory(huge_line_file: tuple[Path, str]) -> None:
    path, huge = huge_line_file
    tracemalloc.start()
    try:
        lines = list(iter_lines(path, max_line_bytes=100_000))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert texts(lines) == [GERMAN[0], None, GERMAN[2]]
    assert lines[1].reason == "line_too_long"
    assert f"line is {len(huge.encode())} bytes" in lines[1].detail
    assert peak < 1_500_000, f"peak {peak} bytes: the 5 MB line was held in memory"


def test_line_under_a_larger_limit_is_kept_whole(huge_line_file: tuple[Path, str]) -> None:
    path, huge = huge_line_file
    lines = list(iter_lines(path, max_line_bytes=10_000_000))
    assert texts(lines) == [GERMAN[0], huge, GERMAN[2]]


def test_read_parallel_keeps_rejected_lines_aligned(tmp_path: Path) -> None:
    src = write(tmp_path, "train.en", b"A man rides a bike.\nTwo dogs\x00play.\nA woman reads.\n")
    tgt = write(tmp_path, "train.de", "\n".join(GERMAN).encode())
    pairs = list(read_parallel(src, tgt))
    assert [(s.lineno, t.lineno) for s, t in pairs] == [(1, 1), (2, 2), (3, 3)]
    assert (pairs[1][0].reason, pairs[1][1].text) == ("nul_byte", GERMAN[1])


@pytest.mark.parametrize("longer", ["src", "tgt"])
def test_read_parallel_unequal_sides_name_both_files_and_counts(tmp_path: Path, longer: str) -> None:
    three = write(tmp_path, "three.de", "\n".join(GERMAN).encode())
    two = write(tmp_path, "two.en", b"A man rides a bike.\nTwo dogs play in the snow.\n")
    src, tgt = (three, two) if longer == "src" else (two, three)
    pairs = read_parallel(src, tgt)
    assert len([next(pairs), next(pairs)]) == 2  # the aligned part streams before the error
    with pytest.raises(CorpusFormatError) as err:
        next(pairs)
    message = str(err.value)
    assert str(three) in message and str(two) in message
    assert f"{three} has 3" in message and f"{two} has 2" in message
    assert "diverge at line 3" in message
