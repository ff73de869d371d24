"""LASER's Tatoeba similarity-search sets (``tatoeba.<xxx>-eng.{<xxx>,eng}``) and the xsim
table of an encoder over them: one row per language, error rate by cosine and by margin."""

from __future__ import annotations

import csv
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from mtforge.embed.cache import EmbeddingCache
from mtforge.embed.encoders import Encoder
from mtforge.errors import CorpusFormatError, InputNotFoundError
from mtforge.mine.xsim import symmetric_xsim

_PAIR = re.compile(r"^tatoeba\.([a-z]{3})-eng\.\1$")


def tatoeba_languages(root: str | os.PathLike[str]) -> list[str]:
    """The ISO 639-3 codes of the Tatoeba sets under ``root`` (sorted)."""
    root = Path(root)
    if not root.is_dir():
        raise InputNotFoundError(f"Tatoeba directory not found: {root}")
    langs = sorted(m.group(1) for p in root.iterdir() if (m := _PAIR.match(p.name)))
    if not langs:
        raise InputNotFoundError(f"{root}: no tatoeba.<xxx>-eng.<xxx> files")
    return langs


def read_lines(path: Path) -> list[str]:
    """Lines of a UTF-8 text file (a leading byte-order mark dropped) without their line
    endings; a missing file or bytes that are not UTF-8 are named."""
    if not path.is_file():
        raise InputNotFoundError(f"file not found: {path}")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise CorpusFormatError(f"{path}, line {line}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def load_tatoeba(root: str | os.PathLike[str], lang: str) -> tuple[list[str], list[str]]:
    """The aligned ``(<lang> sentences, English sentences)`` of one Tatoeba set."""
    base = Path(root) / f"tatoeba.{lang}-eng"
    src, eng = read_lines(base.with_name(f"{base.name}.{lang}")), read_lines(base.with_name(f"{base.name}.eng"))
    if len(src) != len(eng):
        raise CorpusFormatError(f"{base}.{lang} has {len(src)} lines but {base}.eng has {len(eng)}")
    return src, eng


@dataclass(frozen=True)
class XsimRow:
    """xsim of one language against English (both directions averaged), in percent."""

    lang: str
    covered: bool
    sentences: int
    xsim_cosine: float
    xsim_margin: float


def xsim_table(encoder: Encoder, root: str | os.PathLike[str], langs: list[str] | None = None, *,
               include_uncovered: bool = False, cache: EmbeddingCache | None = None) -> list[XsimRow]:
    """xsim error rates of ``encoder`` on the Tatoeba sets of ``langs`` (default: all).

    Languages the encoder does not cover are skipped unless ``include_uncovered`` (then they
    are measured and flagged ``covered=False``). Each rate is the mean of the xx→eng and
    eng→xx searches; ``xsim_margin`` uses the ratio margin over 4 neighbours.
    """
    cache = cache or EmbeddingCache(encoder, None)
    rows = []
    for lang in langs or tatoeba_languages(root):
        covered = encoder.covers(lang)
        if not covered and not include_uncovered:
            continue
        src, eng = load_tatoeba(root, lang)
        a = cache.encode(src, lang, allow_uncovered=True)
        b = cache.encode(eng, "eng")
        rates = symmetric_xsim(a, b)
        rows.append(XsimRow(lang, covered, len(src), round(rates["absolute"], 2), round(rates["ratio"], 2)))
    return rows


def write_xsim_csv(rows: list[XsimRow], path: str | os.PathLike[str]) -> None:
    """Write the table as CSV (one row per language)."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(XsimRow.__dataclass_fields__))
        writer.writeheader()
        writer.writerows(asdict(row) for row in rows)
