"""Reading raw text files line by line, robustly.

Raw text reading
----------------
Crawled and user-supplied corpora are rarely clean: they mix CRLF and LF line endings, start
with a byte-order mark, contain invalid UTF-8, stray NUL bytes (binary junk, UTF-16 files
read as UTF-8) and, now and then, a "line" of several megabytes (a whole HTML page or a
minified script on one line). :func:`iter_lines` reads a file as bytes and yields one
:class:`RawLine` per line, so that one bad line never fails a whole corpus and every dropped
line carries a reason that the curation stage can count and report:

* lines are split on ``\\n``; a trailing ``\\r`` (CRLF files) and a UTF-8 BOM at the start of
  the file are removed; a final line without a newline is a line, an empty file has none;
* a line longer than ``max_line_bytes`` is yielded with reason ``line_too_long`` and no text;
  it is skipped in bounded chunks, so memory never holds more than about one allowed line;
* a line with a NUL byte is yielded with reason ``nul_byte``;
* invalid UTF-8 is either *repaired* — the valid text is kept, the invalid byte sequences are
  dropped and ``detail`` says how many bytes were dropped — or *rejected* with reason
  ``invalid_utf8`` and the byte offset of the first bad byte in ``detail``.

Rejected lines are still yielded (with their line number), so two sides of a bitext stay
aligned: :func:`read_parallel` streams both sides together and raises
:class:`~mtforge.errors.CorpusFormatError` as soon as one side ends before the other.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

from mtforge.errors import ConfigError, CorpusFormatError, InputNotFoundError

#: Reasons a :class:`RawLine` may carry instead of text.
LINE_TOO_LONG = "line_too_long"
NUL_BYTE = "nul_byte"
INVALID_UTF8 = "invalid_utf8"

_BOM = b"\xef\xbb\xbf"
_CHUNK = 1 << 16  # bytes read at a time while skipping an over-long line or counting lines

InvalidUtf8 = Literal["repair", "reject"]
PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class RawLine:
    """One line of a raw text file.

    ``lineno`` is 1-based. Exactly one of ``text`` (the decoded line, without its line ending)
    and ``reason`` (why the line was rejected: ``line_too_long``, ``nul_byte`` or
    ``invalid_utf8``) is set. ``detail`` says more, for a rejected line and for a repaired one
    (how many invalid bytes were dropped); it is empty for a clean line.
    """

    lineno: int
    text: str | None
    reason: str | None
    detail: str = ""


def iter_lines(
    path: PathLike, *, max_line_bytes: int = 1_000_000, invalid_utf8: InvalidUtf8 = "repair"
) -> Iterator[RawLine]:
    """Yield every line of the file at ``path`` as a :class:`RawLine` (see the module doc).

    ``max_line_bytes`` bounds a line's length in bytes, without its line ending;
    ``invalid_utf8`` is ``"repair"`` (drop the invalid bytes, keep the line) or ``"reject"``.

    Raises :class:`InputNotFoundError` naming ``path`` when it is not an existing file, and
    :class:`ConfigError` for a bad ``max_line_bytes`` or ``invalid_utf8``.
    """
    if max_line_bytes < 1:
        raise ConfigError(f"max_line_bytes must be at least 1, got {max_line_bytes!r}")
    if invalid_utf8 not in ("repair", "reject"):
        raise ConfigError(f"invalid_utf8 must be 'repair' or 'reject', got {invalid_utf8!r}")
    _check_file(path)
    return _lines(path, max_line_bytes, invalid_utf8)


def read_parallel(src_path: PathLike, tgt_path: PathLike, **kw: Any) -> Iterator[tuple[RawLine, RawLine]]:
    """Yield the lines of two line-aligned files (a bitext) as ``(src, tgt)`` pairs.

    Keyword arguments go to :func:`iter_lines` for both sides (a missing file or a bad
    argument is reported at the call, like there). Both files are streamed
    together; when one ends before the other, :class:`CorpusFormatError` is raised naming both
    files, their line counts and the first line number that only one of them has (the pairs
    before it have been yielded by then).
    """
    return _pairs(src_path, tgt_path, iter_lines(src_path, **kw), iter_lines(tgt_path, **kw))


def count_lines(path: PathLike) -> int:
    """The number of lines :func:`iter_lines` yields for ``path`` (read in raw chunks, cheap).

    Raises :class:`InputNotFoundError` naming ``path`` when it is not an existing file.
    """
    _check_file(path)
    count, last = 0, b"\n"
    with _open(path) as f:
        while chunk := f.read(_CHUNK):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")


def _pairs(src_path: PathLike, tgt_path: PathLike, src_lines: Iterator[RawLine],
           tgt_lines: Iterator[RawLine]) -> Iterator[tuple[RawLine, RawLine]]:
    """The generator behind :func:`read_parallel`."""
    for src in src_lines:
        tgt = next(tgt_lines, None)
        if tgt is None:
            raise _unequal(src_path, tgt_path, src.lineno)
        yield src, tgt
    tgt = next(tgt_lines, None)
    if tgt is not None:
        raise _unequal(src_path, tgt_path, tgt.lineno)


def _unequal(src_path: PathLike, tgt_path: PathLike, lineno: int) -> CorpusFormatError:
    """The error for a bitext whose sides diverge at ``lineno`` (the files are counted)."""
    src_count, tgt_count = count_lines(src_path), count_lines(tgt_path)
    longer = src_path if src_count > tgt_count else tgt_path
    return CorpusFormatError(
        f"parallel files have different numbers of lines: {os.fspath(src_path)} has {src_count}, "
        f"{os.fspath(tgt_path)} has {tgt_count}; they diverge at line {lineno}, which only "
        f"{os.fspath(longer)} has"
    )


def _check_file(path: PathLike) -> None:
    """Raise :class:`InputNotFoundError` naming ``path`` unless it is an existing file."""
    if not Path(path).is_file():
        raise InputNotFoundError(f"input file {os.fspath(path)} does not exist (or is not a file)")


def _open(path: PathLike) -> BinaryIO:
    """Open ``path`` for binary reading, positioned after a UTF-8 BOM if it starts with one."""
    f = open(path, "rb")
    if f.read(len(_BOM)) != _BOM:
        f.seek(0)
    return f


def _lines(path: PathLike, max_line_bytes: int, invalid_utf8: InvalidUtf8) -> Iterator[RawLine]:
    """The generator behind :func:`iter_lines` (arguments already checked)."""
    with _open(path) as f:
        lineno = 0
        while True:
            raw, length = _read_line(f, max_line_bytes)
            if raw is None and length == 0:
                return
            lineno += 1
            if raw is None:
                yield RawLine(lineno, None, LINE_TOO_LONG,
                              f"line is {length} bytes, over max_line_bytes={max_line_bytes}")
            else:
                yield _decode(lineno, raw, invalid_utf8)


def _read_line(f: BinaryIO, max_line_bytes: int) -> tuple[bytes | None, int]:
    """Read the next line: ``(its bytes without the line ending, its length)``.

    A line over ``max_line_bytes`` is consumed in bounded chunks and returned as
    ``(None, its length)``; at the end of the file the result is ``(None, 0)``.
    """
    data = f.readline(max_line_bytes + 2)  # room for the longest line, "\r" and "\n"
    if not data:
        return None, 0
    if len(data) == max_line_bytes + 2 and not data.endswith(b"\n"):
        return None, _skip_rest(f, data)
    line = _strip_cr(data[:-1] if data.endswith(b"\n") else data)
    return (line if len(line) <= max_line_bytes else None), len(line)


def _skip_rest(f: BinaryIO, head: bytes) -> int:
    """Consume the rest of the line that starts with ``head``; return the line's length."""
    length, tail = len(head), head[-2:]
    while not tail.endswith(b"\n"):
        chunk = f.readline(_CHUNK)
        if not chunk:
            break
        length += len(chunk)
        tail = (tail + chunk[-2:])[-2:]
    if tail.endswith(b"\n"):
        length, tail = length - 1, tail[:-1]
    return length - tail.endswith(b"\r")


def _strip_cr(data: bytes) -> bytes:
    return data[:-1] if data.endswith(b"\r") else data


def _decode(lineno: int, raw: bytes, invalid_utf8: InvalidUtf8) -> RawLine:
    """Decode one line, rejecting NUL bytes and repairing or rejecting invalid UTF-8."""
    nul = raw.find(b"\0")
    if nul >= 0:
        return RawLine(lineno, None, NUL_BYTE, f"NUL byte at byte offset {nul} of the line")
    try:
        return RawLine(lineno, raw.decode("utf-8"), None)
    except UnicodeDecodeError as exc:
        first = exc.start
    where = f"byte offset {first} of the line (0x{raw[first]:02x})"
    if invalid_utf8 == "reject":
        return RawLine(lineno, None, INVALID_UTF8, f"invalid UTF-8 at {where}")
    text = raw.decode("utf-8", errors="ignore")
    dropped = len(raw) - len(text.encode("utf-8"))
    return RawLine(lineno, text, None, f"dropped {dropped} invalid UTF-8 byte(s), the first at {where}")
