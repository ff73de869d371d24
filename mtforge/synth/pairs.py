"""Generated paragraphs → sentences → back-translations → quality scores (TopXGen's second half).

Each paragraph is split with the curation splitter; a sentence is kept when it is long
enough and language ID gives the target language; kept sentences are back-translated into
the source language and every (sentence, back-translation) pair gets a quality estimate.
Dropped sentences are returned as monolingual exclusion rows with their reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pydantic import Field

from mtforge.curate.dedup import match_tokens
from mtforge.curate.mono_checks import LidCheck, LidConfig
from mtforge.curate.split import split_sentences
from mtforge.stage import StageConfig
from mtforge.synth.backtranslate import BackTranslator
from mtforge.synth.qe import QualityEstimator
from mtforge.synth.topxgen import TranslatedParagraph


class SentenceConfig(StageConfig):
    """Which sentences of a generated paragraph are back-translated."""

    max_chars: int = Field(500, ge=1, description="longer sentences are cut by the splitter")
    min_chars: int = Field(15, ge=0, description="length floor in characters (too_short)")
    min_words: int = Field(3, ge=0, description="length floor in words (too_short)")
    lid: LidConfig | None = Field(default_factory=LidConfig, description="language ID of each sentence against "
                                                                          "the target language (null: off)")


@dataclass
class Exclusions:
    """Sentences dropped before back-translation, as monolingual corpus rows with reasons."""

    rows: list[dict] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    scores: list[float | None] = field(default_factory=list)

    def add(self, text: str, lang: str, origin: str, reason: str, score: float | None) -> None:
        self.rows.append({"text": text, "lang": lang, "score": None, "origin": origin})
        self.reasons.append(reason)
        self.scores.append(score)


def sentences_of(paragraphs: Sequence[dict], lang: str, config: SentenceConfig, excluded: Exclusions,
                 origin: Callable[[int, int], str]) -> list[list[str]]:
    """Per paragraph record (``text``), its kept sentences; dropped ones go to ``excluded``
    with ``too_short`` or the language-ID reason, ``origin(paragraph, sentence)`` naming them."""
    lid = LidCheck(config.lid) if config.lid is not None else None
    split = [split_sentences(p["text"], lang, max_chars=config.max_chars) for p in paragraphs]
    flat = [(i, j, s) for i, sentences in enumerate(split) for j, s in enumerate(sentences)]
    decisions: list[tuple[str | None, float | None]] = [
        ("too_short", float(len(s))) if len(s) < config.min_chars or len(match_tokens(s)) < config.min_words
        else (None, None) for _, _, s in flat]
    if lid is not None:
        todo = [k for k, (reason, _) in enumerate(decisions) if reason is None]
        for k, decision in zip(todo, lid([flat[k][2] for k in todo], [lang] * len(todo))):
            decisions[k] = decision
    kept: list[list[str]] = [[] for _ in paragraphs]
    for (i, j, sentence), (reason, score) in zip(flat, decisions):
        if reason is None:
            kept[i].append(sentence)
        else:
            excluded.add(sentence, lang, origin(i, j), reason, score)
    return kept


@dataclass(frozen=True)
class TranslateSettings:
    """Beam search of the back-translator."""

    beam_size: int = 4
    batch_size: int = 32
    max_new_tokens: int = 256


def translate_and_score(paragraphs: Sequence[dict], sentences: list[list[str]], lang: str, src_lang: str,
                        translator: BackTranslator, qe: QualityEstimator,
                        settings: TranslateSettings = TranslateSettings()) -> list[TranslatedParagraph]:
    """Back-translate every kept sentence from ``lang`` into ``src_lang`` at once and score the
    pairs; one :class:`TranslatedParagraph` per paragraph that kept a sentence, in order."""
    flat = [s for group in sentences for s in group]
    translations = translator.translate(flat, lang, src_lang, beam_size=settings.beam_size,
                                        batch_size=settings.batch_size,
                                        max_new_tokens=settings.max_new_tokens) if flat else []
    scores = [float(x) for x in qe.score(flat, translations, lang, src_lang)] if flat else []
    out, at = [], 0
    for paragraph, group in zip(paragraphs, sentences):
        if group:
            end = at + len(group)
            out.append(TranslatedParagraph(paragraph["text"], group, translations[at:end], scores[at:end],
                                           paragraph.get("topic", "")))
            at = end
    return out
