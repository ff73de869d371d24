"""What a LASER3-style student is worth: xsim error on FLORES-200 when the student encodes the
new language and the teacher encodes English (how a student is used in mining), beside the
teacher used directly on both sides (what one gets without a student).

FLORES-200 is never part of the training bitext (OLDI Seed), so these are held-out figures.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

from mtforge.embed.cache import EmbeddingCache
from mtforge.embed.encoders import Encoder
from mtforge.errors import CorpusFormatError
from mtforge.langcodes import normalise
from mtforge.mine.tatoeba import read_lines
from mtforge.mine.xsim import symmetric_xsim

#: The FLORES-200 splits a student is measured on by default.
SPLITS = ("dev", "devtest")
ENGLISH = "eng_Latn"


@dataclass(frozen=True)
class StudentXsimRow:
    """xsim error (%) of one language and split against English; ``lang`` ``"mean"`` averages a split."""

    split: str
    lang: str
    sentences: int
    teacher_cosine: float
    teacher_margin: float
    student_cosine: float
    student_margin: float


def flores_side(root: str | os.PathLike[str], split: str, lang: str) -> list[str]:
    """The sentences of FLORES-200 ``<root>/<split>/<lang>.<split>`` (``lang`` in any form
    :func:`~mtforge.langcodes.normalise` accepts); a missing file is named."""
    code = normalise(lang)
    return read_lines(Path(root) / split / f"{code}.{split}")


def compare_on_flores(student: Encoder, teacher: Encoder, flores_root: str | os.PathLike[str], langs: Sequence[str],
                      splits: Sequence[str] = SPLITS, *,
                      cache_dir: str | os.PathLike[str] | None = None) -> list[StudentXsimRow]:
    """One row per split × language (then one ``mean`` row per split): xsim of teacher(xx)
    against teacher(English) and of student(xx) against teacher(English), ratio margin over 4
    neighbours and cosine, both directions averaged. The teacher encodes ``xx`` even where it
    does not list it (that is the comparison); the student must cover it."""
    teacher_vectors, student_vectors = EmbeddingCache(teacher, cache_dir), EmbeddingCache(student, cache_dir)
    rows: list[StudentXsimRow] = []
    for split in splits:
        eng = flores_side(flores_root, split, ENGLISH)
        eng_vectors = teacher_vectors.encode(eng, "eng")
        split_rows = []
        for lang in langs:
            xx = flores_side(flores_root, split, lang)
            if len(xx) != len(eng):
                raise CorpusFormatError(f"{Path(flores_root) / split / normalise(lang)}.{split} has {len(xx)} lines "
                                        f"but the English side has {len(eng)}")
            by_teacher = symmetric_xsim(teacher_vectors.encode(xx, lang, allow_uncovered=True), eng_vectors)
            by_student = symmetric_xsim(student_vectors.encode(xx, lang), eng_vectors)
            split_rows.append(StudentXsimRow(split, lang, len(xx),
                                             *(round(r[fn], 2) for r in (by_teacher, by_student)
                                               for fn in ("absolute", "ratio"))))
        rows += split_rows + [_mean(split, split_rows)]
    return rows


def _mean(split: str, rows: Sequence[StudentXsimRow]) -> StudentXsimRow:
    def avg(name: str) -> float:
        return round(sum(getattr(r, name) for r in rows) / len(rows), 2)

    return StudentXsimRow(split, "mean", sum(r.sentences for r in rows),
                          *(avg(f.name) for f in fields(StudentXsimRow)[3:]))


def student_xsim_markdown(rows: Sequence[StudentXsimRow]) -> str:
    """The comparison as a Markdown table (mean rows in bold)."""
    lines = ["| split | language | sentences | teacher cosine | student cosine | teacher ratio margin | "
             "student ratio margin |", "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        name = f"**{r.lang}**" if r.lang == "mean" else r.lang
        lines.append(f"| {r.split} | {name} | {r.sentences} | {r.teacher_cosine:.2f} | {r.student_cosine:.2f} | "
                     f"{r.teacher_margin:.2f} | {r.student_margin:.2f} |")
    return "\n".join(lines) + "\n"

