"""Selection of synthetic pairs: decontamination (a paragraph is dropped when it or any of its
back-translations matches an evaluation sentence, as TopXGen drops whole paragraphs), then a
quality cut per language (a threshold, or a percentile of that language's scores), then
bitext rows ``src`` = back-translation, ``tgt`` = generated sentence."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pydantic import Field, model_validator

from mtforge.curate.decontam import Decontaminator, DecontamReport
from mtforge.errors import ConfigError
from mtforge.langcodes import english_name, normalise
from mtforge.stage import StageConfig
from mtforge.synth.qe import cut_value, select
from mtforge.synth.topxgen import TranslatedParagraph

DEFAULT_BENCHMARKS = ["flores200-dev", "flores200-devtest", "ntrex128", "tico19"]


class SelectConfig(StageConfig):
    """Decontamination and the quality cut."""

    src_lang: str = Field("eng_Latn", description="the language of the back-translations")
    threshold: float | None = Field(None, description="least quality score kept (all languages)")
    percentile: float | None = Field(None, ge=0, lt=100, description="drop each language's pairs below this "
                                                                       "percentile of its scores (e.g. 20)")
    thresholds: dict[str, float] = Field(default_factory=dict, description="per-language thresholds (any code "
                                                                           "form), overriding threshold/percentile")
    eval_data: str = Field("", description="root of evaluation sets in the shared-data layout ('' = no "
                                           "decontamination)")
    benchmarks: list[str] = Field(default_factory=lambda: list(DEFAULT_BENCHMARKS),
                                  description="benchmarks under eval_data to decontaminate against")
    eval_files: list[str] = Field(default_factory=list, description="more evaluation sets: <name>.<lang> files or "
                                                                    "directories of them")
    diff_threshold: float = Field(0.5, gt=0, le=1, description="difflib ratio that confirms an n-gram overlap")

    @model_validator(mode="after")
    def _one_cut(self) -> SelectConfig:
        if self.threshold is not None and self.percentile is not None:
            raise ValueError("give threshold or percentile, not both")
        return self


@dataclass
class Selection:
    """The outcome for one language."""

    rows: list[dict] = field(default_factory=list)
    dropped: list[tuple[dict, str, float | None]] = field(default_factory=list)
    clean: list[TranslatedParagraph] = field(default_factory=list)
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0))
    cut: float | None = None


def origin(lang: str, paragraph: int, sentence: int) -> str:
    """Where a synthetic sentence came from: ``synth:<Language>:<paragraph>:<sentence>``."""
    return f"synth:{english_name(lang)}:{paragraph}:{sentence}"


def _cut(scores: np.ndarray, lang: str, config: SelectConfig) -> tuple[np.ndarray, float | None]:
    """The keep mask over ``scores`` and the score it cuts at (None: no cut)."""
    per_lang = {normalise(code): value for code, value in config.thresholds.items()}
    if lang in per_lang:
        cut = {"threshold": per_lang[lang]}
    else:
        cut = {"threshold": config.threshold, "percentile": config.percentile}
    return select(scores, **cut), cut_value(scores, **cut)


def select_language(paragraphs: list[TranslatedParagraph], lang: str, src_lang: str, config: SelectConfig,
                    decontaminator: Decontaminator | None, report: DecontamReport) -> Selection:
    """Decontaminate ``paragraphs`` (adding to ``report``) and cut the rest by quality."""
    out = Selection()
    flagged: list[bool] = [False] * len(paragraphs)
    if decontaminator is not None:
        for i, paragraph in enumerate(paragraphs):
            texts = [paragraph.sentence, *paragraph.translations]
            matches = decontaminator.match(texts, [lang] + [src_lang] * len(paragraph.translations))
            hit = next((m for m in matches if m is not None), None)
            report.add([paragraph.sentence], [hit])
            flagged[i] = hit is not None
    candidates = []
    for i, paragraph in enumerate(paragraphs):
        for j, (tgt, src, score) in enumerate(zip(paragraph.propositions, paragraph.translations, paragraph.scores)):
            row = {"src": src, "tgt": tgt, "src_lang": src_lang, "tgt_lang": lang, "score": score,
                   "origin": origin(lang, i, j)}
            if flagged[i]:
                out.dropped.append((row, "contaminated", None))
            else:
                candidates.append(row)
        if not flagged[i]:
            out.clean.append(paragraph)
    out.scores = np.array([row["score"] for row in candidates], dtype=float)
    keep, out.cut = _cut(out.scores, lang, config)
    for row, kept in zip(candidates, keep.tolist()):
        if kept:
            out.rows.append(row)
        else:
            out.dropped.append((row, "low_qe", row["score"]))
    return out


def check_languages(config: SelectConfig, languages: list[str]) -> None:
    """Raise :class:`ConfigError` when a per-language threshold names a language not in the data."""
    unknown = sorted({normalise(code) for code in config.thresholds} - set(languages))
    if unknown:
        raise ConfigError(f"thresholds given for {unknown}, which the data does not have (languages: {languages})")
