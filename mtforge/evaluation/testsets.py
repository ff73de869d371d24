"""Named test sets and user test files, resolved to per-direction (source, reference) lines.

A test-set list is a comma-, semicolon- or whitespace-separated string of entries:

``multi30k[:<split>]``
    ``<root>/multi30k/<split>.<lang>`` (default split ``test_2016_flickr``); every direction
    among its languages (en, de, fr, cs).
``flores200[:<split>]``
    ``<root>/flores200/<split>/<lang>_<Script>.<split>`` (default ``devtest``); every direction
    among its languages.
``ntrex128``
    ``<root>/ntrex128/src.eng`` and ``ref.<iso639-3>``: English to each language and back.
``tico19``
    ``<root>/tico19/test.en.<xx>`` and ``test.<xx>``: English to each language and back.
``<label>=<source>``
    anything :func:`mtforge.corpus.import_corpus` reads (a multi-way directory, an mtforge
    corpus, a TSV or JSONL file, ``s3://`` or ``hf://``); ``<source>#<split>`` picks a split;
    a pair of files is written ``a.en+b.de`` (``+`` instead of a comma). A TSV, or a pair whose
    file names carry no language, holds the source and target of the *first* requested
    direction: list the directions explicitly, in that order.

``root`` is a local directory or an ``s3://bucket/prefix`` holding the named sets. Labels
(``multi30k_test_2016_flickr``, ``flores200_devtest``, ``ntrex128``, ``tico19`` or the user's)
name the test set in metric names, so they hold only letters, digits, ``_`` and ``-``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mtforge.corpus import Corpus, fingerprint_source, import_corpus, remote
from mtforge.corpus.importers import name_language
from mtforge.errors import ConfigError, InputNotFoundError, MissingDirectionsError
from mtforge.langcodes import format_direction, normalise

DEFAULT_SPLITS = {"multi30k": "test_2016_flickr", "flores200": "devtest"}
BUILTINS = ("multi30k", "flores200", "ntrex128", "tico19")
_LABEL = re.compile(r"^[A-Za-z0-9_-]+$")
_SEPARATORS = re.compile(r"[,;\s]+")


@dataclass(frozen=True)
class TestSetSpec:
    """One entry of a test-set list: a named set under the root, or a user source."""

    label: str
    name: str = ""  # a BUILTINS name, or "" for a user source
    split: str | None = None
    source: str = ""

    __test__ = False  # not a pytest test class


@dataclass(frozen=True)
class _Import:
    """One :func:`import_corpus` call that yields the given directions of a test set."""

    source: str
    split: str | None
    directions: list[tuple[str, str]]


@dataclass(frozen=True)
class DirectionLines:
    """Source and reference lines of one direction of a test set, with their origins."""

    src: list[str]
    ref: list[str]
    origins: list[str]


def parse_testsets(text: str) -> list[TestSetSpec]:
    """Entries of a test-set list (see the module docstring); duplicate labels are an error."""
    specs = []
    for entry in filter(None, _SEPARATORS.split(text.strip())):
        label, sep, source = entry.partition("=")
        if sep:
            source, _, split = source.partition("#")
            if not source:
                raise ConfigError(f"test set {entry!r}: nothing after '='; write <label>=<path or URI>")
            spec = TestSetSpec(label=label, source=source.replace("+", ","), split=split or None)
        else:
            name, _, split = entry.partition(":")
            if name not in BUILTINS:
                raise ConfigError(f"unknown test set {name!r}; named sets: {', '.join(BUILTINS)}, "
                                  "or give your own as <label>=<path or URI>")
            if split and name not in DEFAULT_SPLITS:
                raise ConfigError(f"test set {entry!r}: {name} has no splits")
            split = split or DEFAULT_SPLITS.get(name)
            spec = TestSetSpec(label=f"{name}_{split}" if split else name, name=name, split=split)
        if not _LABEL.match(spec.label):
            raise ConfigError(f"test set label {spec.label!r} may hold only letters, digits, '_' and '-'")
        specs.append(spec)
    labels = [s.label for s in specs]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise ConfigError(f"test set list {text!r} names test set {', '.join(twice)} twice; "
                          "give each entry its own label")
    if not specs:
        raise ConfigError("no test sets given")
    return specs


def _languages(folder: Path, split: str | None) -> dict[str, Path]:
    """Language → file of one split in a multi-way folder (names like ``test.en``, ``eng_Latn.devtest``)."""
    found = {}
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        parsed = name_language(path.name)
        if parsed and parsed[1] == (split or ""):
            found[parsed[0]] = path
    return found


def _english_pairs(folder: Path, english: str, other: str, wanted: list[tuple[str, str]]) -> list[_Import]:
    """Imports for a folder of English files paired with one file per language (NTREX, TICO).

    ``english``/``other`` are glob patterns with ``{code}`` for the other language's code.
    """
    eng = normalise("en")
    imports = []
    for path in sorted(folder.glob(other.format(code="*"))):
        code = path.name[len(other.split("{code}")[0]):]
        try:
            lang = normalise(code)
        except ValueError:
            continue
        english_file = folder / english.format(code=code)
        if not english_file.is_file() or lang == eng:
            continue
        for src, tgt in wanted:
            if (src, tgt) == (eng, lang):
                imports.append(_Import(f"{english_file},{path}", None, [(src, tgt)]))
            elif (src, tgt) == (lang, eng):
                imports.append(_Import(f"{path},{english_file}", None, [(src, tgt)]))
    return imports


def _builtin_imports(spec: TestSetSpec, folder: Path, wanted: list[tuple[str, str]]) -> list[_Import]:
    if spec.name in ("multi30k", "flores200"):
        split_dir = folder / spec.split if (folder / str(spec.split)).is_dir() else folder
        langs = _languages(split_dir, spec.split)
        if not langs:
            raise InputNotFoundError(f"test set {spec.label}: no files of split {spec.split!r} in {split_dir}")
        covered = [d for d in wanted if d[0] in langs and d[1] in langs]
        return [_Import(str(folder), spec.split, covered)] if covered else []
    if spec.name == "ntrex128":
        return _english_pairs(folder, "src.eng", "ref.{code}", wanted)
    return _english_pairs(folder, "test.en.{code}", "test.{code}", wanted)


@contextmanager
def _local_folder(root: str, name: str) -> Iterator[Path]:
    """The named set's folder under ``root``, downloaded first when ``root`` is ``s3://``."""
    if root.startswith(remote.S3_SCHEME):
        with remote.s3_download(f"{root.rstrip('/')}/{name}") as local:
            yield Path(local)
        return
    folder = Path(root).expanduser() / name
    if not folder.is_dir():
        raise InputNotFoundError(f"test set {name}: no folder {folder} (testsets_root={root!r})")
    yield folder


def _import_user_source(spec: TestSetSpec, wanted: list[tuple[str, str]], where: Path) -> bool:
    """Import the requested directions a user source holds; ``False`` if it holds none."""
    while wanted:
        try:
            import_corpus(spec.source, where, directions=wanted, split=spec.split)
            return True
        except MissingDirectionsError as exc:
            wanted = [d for d in wanted if d not in exc.directions]
    return False


def _read_directions(corpus_dir: Path, into: dict[str, DirectionLines]) -> None:
    for row in Corpus.open(corpus_dir).iter_rows():
        lines = into.setdefault(format_direction(row["src_lang"], row["tgt_lang"]), DirectionLines([], [], []))
        lines.src.append(row["src"])
        lines.ref.append(row["tgt"])
        lines.origins.append(row["origin"])


def load_testset(spec: TestSetSpec, root: str, directions: list[tuple[str, str]],
                 work_dir: Path) -> dict[str, DirectionLines]:
    """The requested ``directions`` that ``spec`` covers, as direction → lines (directions it
    lacks are absent). The imported corpora are kept under ``work_dir/<label>/``."""
    out: dict[str, DirectionLines] = {}
    target = work_dir / spec.label
    if spec.name:
        with _local_folder(root, spec.name) as folder:
            for i, job in enumerate(_builtin_imports(spec, folder, directions)):
                import_corpus(job.source, target / str(i), directions=job.directions, split=job.split)
                _read_directions(target / str(i), out)
    else:
        if _import_user_source(spec, directions, target / "0"):
            _read_directions(target / "0", out)
    return dict(sorted(out.items()))


def _builtin_files(spec: TestSetSpec, folder: Path) -> list[Path]:
    """The files a named set reads under its (local) folder: its split's language files, or
    the English and per-language files (NTREX, TICO)."""
    if spec.name in ("multi30k", "flores200"):
        split_dir = folder / spec.split if (folder / str(spec.split)).is_dir() else folder
        return list(_languages(split_dir, spec.split).values())
    patterns = ("src.eng", "ref.*") if spec.name == "ntrex128" else ("test.*",)
    return [p for pattern in patterns for p in folder.glob(pattern) if p.is_file()]


def fingerprint_testsets(text: str, root: str) -> str:
    """A content fingerprint of everything a test-set list reads (cache key for ``evaluate``)."""
    parts = []
    for spec in parse_testsets(text):
        if not spec.name:
            parts.append([spec.label, fingerprint_source(spec.source, spec.split)])
        elif root.startswith(remote.S3_SCHEME):
            parts.append([spec.label, fingerprint_source(f"{root.rstrip('/')}/{spec.name}")])
        else:
            folder = Path(root).expanduser() / spec.name
            if not folder.is_dir():
                raise InputNotFoundError(f"test set {spec.name}: no folder {folder} (testsets_root={root!r})")
            digest = hashlib.sha256()
            files = sorted(_builtin_files(spec, folder))
            for path in files:
                digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
            parts.append([spec.label, digest.hexdigest()])
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()
