"""Language groups for group-shared stacks: given by hand, or by clustering a distance matrix.

Both return ``language → group name`` for exactly the plan's languages (FLORES codes).
Clustered groups are named ``group0``, ``group1``, … in the order of their first language in
the plan's language order, so the names are stable.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from scipy.cluster.hierarchy import cut_tree, linkage
from scipy.spatial.distance import squareform

from mtforge.errors import ConfigError, InputNotFoundError
from mtforge.langcodes import normalise

#: Group names become part of module ids (and checkpoint file names).
_GROUP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def hand_groups(groups: Mapping[str, Sequence[str]], languages: Sequence[str]) -> dict[str, str]:
    """``language → group`` from ``groups`` (group name → language codes in any form).

    Languages a group lists beyond ``languages`` are ignored. Raises :class:`ConfigError`
    for a group name unfit for a module id, a language in two groups, or a plan language in
    no group (naming it).
    """
    of: dict[str, str] = {}
    for name, members in groups.items():
        if not _GROUP_NAME.fullmatch(name):
            raise ConfigError(
                f"groups: group name {name!r} must be letters, digits, '_', '.' or '-' (it names modules)"
            )
        for code in members:
            lang = normalise(code)
            if lang in of and of[lang] != name:
                raise ConfigError(f"groups: {code!r} ({lang}) is in both group {of[lang]!r} and {name!r}")
            of[lang] = name
    missing = [lang for lang in languages if lang not in of]
    if missing:
        raise ConfigError(f"groups: language {missing[0]} is in no group (groups: {sorted(groups)})")
    return {lang: of[lang] for lang in languages}


def read_distance_matrix(path: Path) -> dict[str, dict[str, float]]:
    """A square distance matrix from a TSV/CSV file: a header row of language codes (an
    optional empty first cell), then one row per language (an optional leading label, which
    must match the header). Raises :class:`InputNotFoundError` for a missing file and
    :class:`ConfigError` naming the file and line for a malformed one."""
    if not path.is_file():
        raise InputNotFoundError(f"clustering.distances: distance matrix {path} does not exist")
    text = path.read_text(encoding="utf-8")
    delimiter = "\t" if "\t" in text.partition("\n")[0] else ","
    rows = [row for row in csv.reader(text.splitlines(), delimiter=delimiter) if any(c.strip() for c in row)]
    if not rows:
        raise ConfigError(f"distance matrix {path} is empty")
    header = [c.strip() for c in rows[0]]
    labelled = header[0] == ""
    codes = header[1:] if labelled else header
    if len(rows) - 1 != len(codes):
        raise ConfigError(
            f"distance matrix {path}: header names {len(codes)} languages but there are {len(rows) - 1} rows"
        )
    matrix: dict[str, dict[str, float]] = {}
    for line, (code, row) in enumerate(zip(codes, rows[1:]), start=2):
        cells = [c.strip() for c in row]
        if labelled:
            if normalise(cells[0]) != normalise(code):
                raise ConfigError(f"distance matrix {path} line {line}: row label {cells[0]!r} should be {code!r}")
            cells = cells[1:]
        if len(cells) != len(codes):
            raise ConfigError(f"distance matrix {path} line {line}: {len(cells)} values for {len(codes)} languages")
        try:
            matrix[code] = {other: float(v) for other, v in zip(codes, cells)}
        except ValueError as exc:
            raise ConfigError(f"distance matrix {path} line {line}: {exc}") from None
    return matrix


def _distance_array(matrix: Mapping[str, Mapping[str, float]], languages: Sequence[str]) -> np.ndarray:
    """The symmetric matrix of ``languages``; ConfigError for a missing, negative or
    asymmetric entry."""
    normalised = {normalise(a): {normalise(b): d for b, d in row.items()} for a, row in matrix.items()}
    missing = [lang for lang in languages if lang not in normalised]
    if missing:
        raise ConfigError(f"clustering.distances has no row for language {missing[0]}")
    out = np.zeros((len(languages), len(languages)))
    for i, a in enumerate(languages):
        for j, b in enumerate(languages):
            if i == j:
                continue
            if b not in normalised[a]:
                raise ConfigError(f"clustering.distances has no distance {a} → {b}")
            out[i, j] = normalised[a][b]
            if out[i, j] < 0:
                raise ConfigError(f"clustering.distances: distance {a} → {b} is negative ({out[i, j]})")
    asym = np.argwhere(~np.isclose(out, out.T))
    if len(asym):
        i, j = asym[0]
        raise ConfigError(
            f"clustering.distances is not symmetric: {languages[i]} → {languages[j]} is {out[i, j]} "
            f"but {languages[j]} → {languages[i]} is {out[j, i]}"
        )
    return out


def cluster_groups(
    distances: str | Mapping[str, Mapping[str, float]],
    n_groups: int,
    languages: Sequence[str],
    *,
    base_dir: Path,
) -> dict[str, str]:
    """``language → group`` by average-linkage clustering of ``distances`` (a TSV/CSV path,
    relative to ``base_dir``, or an inline mapping) into ``n_groups`` groups.

    Raises :class:`ConfigError` when ``n_groups`` exceeds the number of languages or the
    matrix lacks a plan language (see :func:`read_distance_matrix` for file errors).
    """
    if not 1 <= n_groups <= len(languages):
        raise ConfigError(f"clustering.n_groups is {n_groups} but the plan has {len(languages)} languages")
    matrix = read_distance_matrix(base_dir / distances) if isinstance(distances, str) else distances
    if len(languages) == 1:
        return {languages[0]: "group0"}
    array = _distance_array(matrix, languages)
    labels = cut_tree(linkage(squareform(array, checks=False), method="average"), n_clusters=n_groups)[:, 0]
    names: dict[int, str] = {}
    for label in labels:
        names.setdefault(int(label), f"group{len(names)}")
    return {lang: names[int(label)] for lang, label in zip(languages, labels)}
