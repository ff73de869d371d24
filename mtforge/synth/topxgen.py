"""TopXGen's file layout, so data can go back and forth between mtforge and TopXGen.

* ``{Language}.jsonl`` — one generated paragraph a line: ``{"text", "topic"}``;
* ``{back-translator}/{Language}_translate.jsonl`` — one paragraph a line: ``sentence`` (the
  paragraph), ``propositions`` (its sentences), ``translations`` (their back-translations),
  ``scores`` (a quality estimate per pair) and ``topic``;
* ``{back-translator}/{Language}_translate_filtered.jsonl`` — the same after
  decontamination.

``Language`` is the English language name (``Swahili``); :func:`mtforge.langcodes.normalise`
reads it back to a FLORES-200 code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from mtforge.errors import CorpusFormatError, InputNotFoundError
from mtforge.langcodes import english_name, normalise

TRANSLATE_SUFFIX = "_translate.jsonl"
#: Reports of the synth stages (logged with the MLflow run by the tracker).
GENERATION_REPORT = "generation.json"
SYNTH_REPORT = "synth.json"
CALIBRATION_REPORT = "calibration.md"
DECONTAMINATION_REPORT = "decontamination.md"
SYNTH_REPORTS = (GENERATION_REPORT, SYNTH_REPORT, CALIBRATION_REPORT, DECONTAMINATION_REPORT)
FILTERED_SUFFIX = "_translate_filtered.jsonl"


@dataclass
class TranslatedParagraph:
    """One line of ``{Language}_translate.jsonl``."""

    sentence: str
    propositions: list[str]
    translations: list[str]
    scores: list[float]
    topic: str

    def __post_init__(self) -> None:
        if not len(self.propositions) == len(self.translations) == len(self.scores):
            raise CorpusFormatError(f"paragraph {self.sentence[:60]!r}: {len(self.propositions)} propositions, "
                                    f"{len(self.translations)} translations and {len(self.scores)} scores")


def translate_file(root: Path, back_translator: str, lang: str, *, filtered: bool = False) -> Path:
    """Where the translated paragraphs of ``lang`` by ``back_translator`` live under ``root``."""
    suffix = FILTERED_SUFFIX if filtered else TRANSLATE_SUFFIX
    return root / back_translator / f"{english_name(lang)}{suffix}"


def write_translated(path: Path, paragraphs: Iterable[TranslatedParagraph]) -> int:
    """Write ``paragraphs`` to ``path`` (parents created); the number written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as f:
        for paragraph in paragraphs:
            f.write(json.dumps(asdict(paragraph), ensure_ascii=False) + "\n")
            count += 1
    return count


def read_translated(path: Path) -> list[TranslatedParagraph]:
    """The paragraphs of a ``*_translate*.jsonl`` file; errors name the file, line and key."""
    if not path.is_file():
        raise InputNotFoundError(f"{path} not found")
    paragraphs = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                paragraphs.append(TranslatedParagraph(
                    record["sentence"], list(record["propositions"]), list(record["translations"]),
                    [float(s) for s in record["scores"]], record.get("topic", "")))
            except (ValueError, TypeError) as exc:
                raise CorpusFormatError(f"{path}:{number}: {exc}") from None
            except KeyError as exc:
                raise CorpusFormatError(f"{path}:{number}: missing key {exc}") from None
    return paragraphs


_TRANSLATE_NAME = re.compile(r"(?P<name>.+)" + re.escape(TRANSLATE_SUFFIX))


def find_translated(root: Path) -> dict[str, tuple[str, Path]]:
    """FLORES code → (back-translator, file) of every ``{back-translator}/{Language}_translate.jsonl``
    under ``root``. Raises :class:`CorpusFormatError` when a language has files from two
    back-translators and :class:`InputNotFoundError` when there is none."""
    found: dict[str, tuple[str, Path]] = {}
    for path in sorted(root.glob(f"*/*{TRANSLATE_SUFFIX}")):
        match = _TRANSLATE_NAME.fullmatch(path.name)
        lang = normalise(match["name"])
        if lang in found:
            raise CorpusFormatError(f"{root}: {lang} has translations by {found[lang][0]} and {path.parent.name}; "
                                    "keep one back-translator per language")
        found[lang] = (path.parent.name, path)
    if not found:
        raise InputNotFoundError(f"{root}: no {{back-translator}}/{{Language}}{TRANSLATE_SUFFIX} files")
    return found
