"""Corpus path templates (MAMMOTH Appendix A) and the corpus sizes they point at.

A template such as ``"{lang_pair}/train.{src_lang}"`` is filled per task. Variables take the
language codes as the user spelled them (``en``, ``eng``, ``eng_Latn``: whatever the files
are named by), mapped by ``spell`` from the plan's FLORES codes.

* directional mode: ``src_lang``, ``tgt_lang``, ``lang_pair`` (``src_lang-tgt_lang``);
* symmetric mode (one pair of files serves both directions): ``lang_a``/``lang_b`` (the
  alphabetically first/second code), ``sorted_pair`` (``lang_a-lang_b``), ``side_a``
  (``'src'`` when the task goes from ``lang_a`` to ``lang_b``, else ``'trg'``) and ``side_b``
  (the other side).
"""

from __future__ import annotations

import gzip
import string
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

from mtforge.errors import ConfigError, CorpusFormatError, InputNotFoundError
from mtforge.langcodes import format_direction
from mtforge.train.plan.metaconfig import CorpusTemplate

#: The variables each corpus mode offers.
TEMPLATE_VARIABLES = {
    "directional": ("src_lang", "tgt_lang", "lang_pair"),
    "symmetric": ("lang_a", "lang_b", "side_a", "side_b", "sorted_pair"),
}


class TaskFiles(NamedTuple):
    """A task's two text files and its size in sentence pairs."""

    src_path: Path
    tgt_path: Path
    size: int


def template_variables(mode: str, src: str, tgt: str) -> dict[str, str]:
    """The variables of ``mode`` for the task ``src`` → ``tgt`` (codes as spelled in files)."""
    if mode == "directional":
        return {"src_lang": src, "tgt_lang": tgt, "lang_pair": f"{src}-{tgt}"}
    lang_a, lang_b = sorted((src, tgt))
    forward = src == lang_a
    return {
        "lang_a": lang_a,
        "lang_b": lang_b,
        "side_a": "src" if forward else "trg",
        "side_b": "trg" if forward else "src",
        "sorted_pair": f"{lang_a}-{lang_b}",
    }


def fill_template(template: str, mode: str, src: str, tgt: str) -> str:
    """``template`` with the variables of ``mode`` filled in for ``src`` → ``tgt``.

    Raises :class:`ConfigError` naming the template and variable when it uses a variable
    that ``mode`` does not offer (or is malformed).
    """
    values = template_variables(mode, src, tgt)
    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(template) if field is not None]
    except ValueError as exc:
        raise ConfigError(f"corpus template {template!r} is malformed: {exc}") from None
    for field in fields:
        if field not in values:
            raise ConfigError(
                f"corpus template {template!r} uses {{{field}}}, which {mode} mode does not offer: "
                f"use {', '.join('{' + v + '}' for v in TEMPLATE_VARIABLES[mode])}"
            )
    return template.format_map(values)


def task_paths(
    corpus: CorpusTemplate, src: str, tgt: str, *, spell: Mapping[str, str], base_dir: Path
) -> tuple[Path, Path]:
    """The source and target file paths of task ``src`` → ``tgt`` (FLORES codes), relative
    paths joined to ``base_dir``."""
    a, b = spell[src], spell[tgt]
    return tuple(  # type: ignore[return-value]
        base_dir / fill_template(template, corpus.mode, a, b) for template in (corpus.src, corpus.tgt)
    )


def count_lines(path: Path) -> int:
    """Lines in a text file (gzip-compressed when its name ends in ``.gz``); a last line
    without a newline counts."""
    opener = gzip.open if path.suffix == ".gz" else open
    count, last = 0, b"\n"
    with opener(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")


def template_sizes(
    corpus: CorpusTemplate,
    directions: Iterable[tuple[str, str]],
    *,
    spell: Mapping[str, str],
    base_dir: Path,
    required: bool,
) -> dict[tuple[str, str], TaskFiles]:
    """The files and sizes of ``directions`` under a corpus template.

    With ``required`` a direction whose file is missing raises :class:`InputNotFoundError`
    naming the direction and path; without it the direction is left out (discovery). Raises
    :class:`CorpusFormatError` naming both files when their line counts differ.
    """
    counted: dict[Path, int] = {}
    found: dict[tuple[str, str], TaskFiles] = {}
    for src, tgt in directions:
        paths = task_paths(corpus, src, tgt, spell=spell, base_dir=base_dir)
        missing = [p for p in paths if not p.is_file()]
        if missing:
            if required:
                raise InputNotFoundError(
                    f"task {format_direction(src, tgt)} points at a missing corpus file {missing[0]}"
                )
            continue
        for p in paths:
            if p not in counted:
                counted[p] = count_lines(p)
        n_src, n_tgt = counted[paths[0]], counted[paths[1]]
        if n_src != n_tgt:
            raise CorpusFormatError(
                f"task {format_direction(src, tgt)}: {paths[0]} has {n_src} lines but "
                f"{paths[1]} has {n_tgt}; the two sides must be line-aligned"
            )
        found[(src, tgt)] = TaskFiles(paths[0], paths[1], n_src)
    return found
