"""Checks on monolingual text: language ID against the declared language, length, script.

Each check takes texts and their declared languages and returns, per text, the reason to
drop it (``None`` to keep) and its score, so the stage can record both in the exclusions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import Field

from mtforge.curate.lid import load_identifier
from mtforge.curate.scripts import script_ratio
from mtforge.langcodes import normalise
from mtforge.stage import StageConfig

Decision = tuple[str | None, float | None]


class LidConfig(StageConfig):
    """Language identification of monolingual text (stopes §5.1)."""

    backend: str = Field("py3langid", description="py3langid, lingua or fasttext")
    model_path: str = Field("", description="the fastText model file (backend fasttext)")
    threshold: float = Field(0.5, ge=0, le=1, description="least probability of the declared language")
    thresholds: dict[str, float] = Field(default_factory=dict,
                                         description="per-language thresholds (any code form), overriding threshold")
    languages: list[str] = Field(default_factory=list,
                                 description="restrict the identifier to these languages ([] = every language "
                                             "the backend knows); give at least two")


@dataclass
class LidCheck:
    """Drop texts whose identified language is not the declared one (``<prefix>lid_mismatch``)
    or is identified with less than its threshold (``<prefix>lid_low_confidence``). The score
    is the probability of the predicted language."""

    config: LidConfig
    prefix: str = ""

    def __post_init__(self) -> None:
        self.identifier = load_identifier(self.config.backend, model_path=self.config.model_path or None,
                                          languages=self.config.languages or None)
        self.thresholds = {normalise(code): value for code, value in self.config.thresholds.items()}

    def __call__(self, texts: Sequence[str], langs: Sequence[str]) -> list[Decision]:
        decisions: list[Decision] = []
        for (predicted, probability), lang in zip(self.identifier.predict(texts), langs, strict=True):
            if predicted != lang:
                decisions.append((f"{self.prefix}lid_mismatch", probability))
            elif probability < self.thresholds.get(lang, self.config.threshold):
                decisions.append((f"{self.prefix}lid_low_confidence", probability))
            else:
                decisions.append((None, None))
        return decisions


class SentenceChecksConfig(StageConfig):
    """Length and script checks on monolingual sentences."""

    min_chars: int = Field(10, ge=0, description="drop shorter sentences (too_short)")
    max_chars: int = Field(1000, ge=1, description="drop longer sentences (too_long)")
    min_script_ratio: float = Field(0.5, ge=0, le=1,
                                    description="least share of letters in the language's script (script)")


def sentence_checks(texts: Sequence[str], langs: Sequence[str], config: SentenceChecksConfig) -> list[Decision]:
    """``too_short``/``too_long`` (characters) then ``script`` (letters in the declared script)."""
    decisions: list[Decision] = []
    for text, lang in zip(texts, langs, strict=True):
        if len(text) < config.min_chars:
            decisions.append(("too_short", float(len(text))))
        elif len(text) > config.max_chars:
            decisions.append(("too_long", float(len(text))))
        else:
            ratio = script_ratio(text, lang.partition("_")[2])
            decisions.append(("script", ratio) if ratio < config.min_script_ratio else (None, None))
    return decisions
