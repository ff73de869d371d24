"""Evaluation sets that training data is decontaminated against.

An evaluation set is a list of ``(lang, sentence)`` pairs, ``lang`` in FLORES-200 style;
a collection of them is a mapping ``benchmark name → evaluation set``, which is what
:class:`mtforge.curate.decontam.Decontaminator` is built from.

:func:`load_eval_sets` reads the known benchmarks from the shared data layout
(``<root>/flores200/dev/eng_Latn.dev``, ``<root>/ntrex128/ref.deu``,
``<root>/tico19/test.fr`` and ``test.en.fr``, ``<root>/multi30k/val.de``, …; see
:data:`BENCHMARKS`); :func:`load_user_eval_set` reads any other set from a text file or a
directory of ``<anything>.<lang>`` files. Within one benchmark, empty lines and repeats of
the same ``(lang, sentence)`` (TICO-19 ships its English side once per language) are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from mtforge.errors import ConfigError, CorpusFormatError, InputNotFoundError, UnknownLanguageError
from mtforge.langcodes import normalise

EvalSet = list[tuple[str, str]]

#: Known benchmarks: name → (folder under the data root, file-name pattern whose ``lang``
#: group is the file's language code).
BENCHMARKS: dict[str, tuple[str, str]] = {
    "flores200-dev": ("flores200/dev", r"(?P<lang>[a-z]{3}_[A-Za-z]{4})\.dev"),
    "flores200-devtest": ("flores200/devtest", r"(?P<lang>[a-z]{3}_[A-Za-z]{4})\.devtest"),
    "ntrex128": ("ntrex128", r"(?:src|ref)\.(?P<lang>[a-z]+)"),
    "tico19": ("tico19", r"test\.(?P<lang>[a-z]+)(?:\.[a-z]+)?"),
    "multi30k-val": ("multi30k", r"val\.(?P<lang>[a-z]+)"),
    "multi30k-test_2016_flickr": ("multi30k", r"test_2016_flickr\.(?P<lang>[a-z]+)"),
}


def read_sentences(path: Path, lang: str) -> EvalSet:
    """``(lang, line)`` for each non-empty line (outer whitespace stripped) of UTF-8 text
    file ``path``. Raises :class:`CorpusFormatError` naming the file and line on bad UTF-8."""
    sentences = []
    for number, raw in enumerate(path.read_bytes().splitlines(), 1):
        try:
            line = raw.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            raise CorpusFormatError(f"{path}:{number}: not UTF-8 ({exc.reason})") from exc
        if line:
            sentences.append((lang, line))
    return sentences


def _benchmark_files(root: Path, name: str) -> list[tuple[Path, str]]:
    """``(file, FLORES language)`` of benchmark ``name`` under ``root``, sorted by file name."""
    folder, pattern = BENCHMARKS[name]
    directory = root / folder
    if not directory.is_dir():
        raise InputNotFoundError(f"evaluation set {name!r}: directory {directory} does not exist")
    files = []
    for path in sorted(directory.iterdir()):
        found = re.fullmatch(pattern, path.name)
        if found and path.is_file():
            files.append((path, normalise(found["lang"])))
    if not files:
        raise InputNotFoundError(f"evaluation set {name!r}: no file in {directory} matches {pattern!r}")
    return files


def load_eval_sets(root: Path | str, names: Sequence[str] | None = None) -> dict[str, EvalSet]:
    """The evaluation sets ``names`` (default: all of :data:`BENCHMARKS`) read from the
    shared data layout under ``root``, as ``name → [(lang, sentence), …]``.

    Raises :class:`ConfigError` for an unknown name (listing the known ones) and
    :class:`InputNotFoundError` naming the missing directory or file pattern.
    """
    names = list(BENCHMARKS) if names is None else list(names)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        raise ConfigError(f"unknown evaluation set(s) {unknown}; known: {', '.join(BENCHMARKS)}")
    sets = {}
    for name in names:
        sentences = [pair for path, lang in _benchmark_files(Path(root), name) for pair in read_sentences(path, lang)]
        sets[name] = list(dict.fromkeys(sentences))
    return sets


def _file_lang(path: Path, lang: str | None) -> str:
    """``lang`` normalised, or else the language named by ``path``'s last suffix."""
    code = lang or path.suffix.lstrip(".")
    try:
        return normalise(code)
    except UnknownLanguageError as exc:
        if lang:
            raise
        raise UnknownLanguageError(
            f"cannot tell the language of evaluation file {path} from its suffix {path.suffix!r}: "
            f"name it <anything>.<lang> (e.g. test.deu_Latn) or pass lang"
        ) from exc


def load_user_eval_set(path: Path | str, lang: str | None = None) -> EvalSet:
    """A user's evaluation set: one text file (one sentence a line) or a directory of them
    (hidden files ignored), each file's language being ``lang`` when given, else its last
    suffix (``mine.de``, ``news.eng_Latn``). Repeated ``(lang, sentence)`` pairs are dropped.

    Raises :class:`InputNotFoundError` when ``path`` does not exist or the directory has no
    file, :class:`UnknownLanguageError` naming the file whose suffix is not a language.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        if not files:
            raise InputNotFoundError(f"evaluation set directory {path} has no file")
    elif path.is_file():
        files = [path]
    else:
        raise InputNotFoundError(f"evaluation set {path} does not exist")
    sentences = [pair for file in files for pair in read_sentences(file, _file_lang(file, lang))]
    return list(dict.fromkeys(sentences))


def collect_eval_sets(eval_data: str | Path, benchmarks: Sequence[str], eval_files: Sequence[str | Path] = ()
                      ) -> dict[str, EvalSet]:
    """The benchmarks ``benchmarks`` under the shared-data root ``eval_data`` (none when it is
    empty) and the user sets ``eval_files`` (named by file or directory name)."""
    sets: dict[str, EvalSet] = {}
    if eval_data and benchmarks:
        sets.update(load_eval_sets(Path(eval_data), benchmarks))
    for path in eval_files:
        sets[Path(path).name] = load_user_eval_set(Path(path))
    return sets
