"""The generation loop of one language: prompts → LLM → parsed, filtered paragraphs, written
as TopXGen's ``{Language}.jsonl`` (``text``, ``topic``), resumable.

Stopping: the loop ends when ``target_paragraphs`` are kept, after ``max_empty_batches``
consecutive batches that kept nothing, or after ``max_batches``; fewer than
``min_paragraphs`` kept is then an error (what was kept stays for a resumed run).

Resumption: after each batch the paragraphs and rejections are appended and flushed, then
``progress.json`` (next batch, file sizes, counts) is replaced atomically. A run that finds
``progress.json`` cuts the files back to the recorded sizes — dropping whatever an
interrupted batch had half written — and continues with the next batch. Prompts and
sampling seeds depend only on (seed, language, batch), so an interrupted and resumed run
writes the same paragraphs as one that was never interrupted, without duplicates.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import Field

from mtforge.curate.mono_checks import LidCheck, LidConfig
from mtforge.curate.dedup import match_tokens
from mtforge.errors import StageFailedError
from mtforge.langcodes import english_name
from mtforge.stage import StageConfig
from mtforge.synth.answers import RougeL, parse_numbered, repetition, rouge_tokens
from mtforge.synth.generators import Generator, SamplingConfig
from mtforge.synth.prompts import ExamplePool, PromptConfig, batch_prompts

PROGRESS = "progress.json"
REJECTED = "rejected.jsonl"


class GenerateConfig(StageConfig):
    """Generation, rejection and stopping for each language."""

    prompt: PromptConfig = Field(default_factory=PromptConfig, description="how prompts are built")
    sampling: SamplingConfig = Field(default_factory=SamplingConfig, description="LLM sampling parameters")
    seed: int = Field(0, description="seed of topic/example draws and of each request's sampling")
    prompts_per_batch: int = Field(16, ge=1, description="prompts sent to the LLM at once")
    target_paragraphs: int = Field(100, ge=1, description="stop a language once this many paragraphs are kept")
    min_paragraphs: int = Field(0, ge=0, description="fewer kept paragraphs than this when the loop stops is an error")
    max_empty_batches: int = Field(5, ge=1, description="stop after this many consecutive batches that kept nothing")
    max_batches: int = Field(1000, ge=1, description="stop after this many batches in all")
    min_words: int = Field(10, ge=1, description="shortest paragraph kept, in words")
    rouge_threshold: float = Field(0.7, gt=0, le=1, description="ROUGE-L F against a kept paragraph that rejects "
                                                                  "a paragraph as a near duplicate")
    max_word_bigram_share: float = Field(0.2, gt=0, le=1, description="most frequent word bigram's largest share")
    max_char_bigram_share: float = Field(0.1, gt=0, le=1, description="most frequent character bigram's largest "
                                                                        "share")
    lid: LidConfig | None = Field(default_factory=LidConfig, description="language ID of each paragraph against "
                                                                          "the target language (null: off)")


@dataclass
class LanguageProgress:
    """What is on disk for one language: the next batch, file sizes and counts."""

    batch: int = 0
    empty_streak: int = 0
    sizes: dict[str, int] = field(default_factory=lambda: {"paragraphs": 0, "rejected": 0})
    counts: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    @classmethod
    def load(cls, path: Path) -> LanguageProgress:
        if not path.is_file():
            return cls()
        data = json.loads(path.read_text())
        return cls(data["batch"], data["empty_streak"], data["sizes"], Counter(data["counts"]), data["seconds"])

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"batch": self.batch, "empty_streak": self.empty_streak, "sizes": self.sizes,
                                   "counts": dict(self.counts), "seconds": self.seconds}, indent=2))
        os.replace(tmp, path)


def paragraphs_file(out_dir: Path, lang: str) -> Path:
    """TopXGen's ``{Language}.jsonl`` (English language name) under ``out_dir``."""
    return out_dir / f"{english_name(lang)}.jsonl"


def read_jsonl(path: Path) -> list[dict]:
    """The records of a JSONL file ([] when it does not exist); the error names the line."""
    if not path.is_file():
        return []
    records = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            try:
                records.append(json.loads(line))
            except ValueError as exc:
                raise StageFailedError(f"{path}:{number}: not a JSON record ({exc})") from None
    return records


def _append(path: Path, records: list[dict], size: int) -> int:
    """Cut ``path`` to ``size`` bytes, append ``records`` as JSON lines, flush; the new size."""
    with path.open("ab") as f:
        f.truncate(size)
        f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode())
        f.flush()
        os.fsync(f.fileno())
        return f.tell()


class ParagraphFilter:
    """The per-paragraph checks of one language, in order: length, repetition, language ID,
    near duplicate (against the paragraphs kept so far)."""

    def __init__(self, lang: str, config: GenerateConfig, kept: Sequence[str]) -> None:
        self.lang, self.config = lang, config
        self.lid = LidCheck(config.lid) if config.lid is not None else None
        self.rouge = RougeL(config.rouge_threshold)
        for text in kept:
            self.rouge.add(rouge_tokens(text, lang))

    def reasons(self, paragraphs: list[str]) -> list[str | None]:
        """Per paragraph, why it is rejected, or None when it is kept (and then remembered)."""
        config = self.config
        reasons: list[str | None] = [
            "too_short" if len(match_tokens(p)) < config.min_words else
            repetition(p, max_word_bigram_share=config.max_word_bigram_share,
                       max_char_bigram_share=config.max_char_bigram_share)
            for p in paragraphs]
        if self.lid is not None:
            todo = [i for i, r in enumerate(reasons) if r is None]
            for i, (reason, _) in zip(todo, self.lid([paragraphs[i] for i in todo], [self.lang] * len(todo))):
                reasons[i] = reason
        for i, paragraph in enumerate(paragraphs):
            if reasons[i] is None:
                tokens = rouge_tokens(paragraph, self.lang)
                if self.rouge.is_near_duplicate(tokens):
                    reasons[i] = "near_duplicate"
                else:
                    self.rouge.add(tokens)
        return reasons


def generate_language(generator: Generator, topics: Sequence[str], pool: ExamplePool, lang: str, out_dir: Path,
                      config: GenerateConfig, *, progress: Callable[[int], None] | None = None) -> LanguageProgress:
    """Generate paragraphs in ``lang`` into ``out_dir`` (resuming what is there; see the module
    docstring) and return the final progress, whose ``counts`` hold ``prompts``,
    ``answers_rejected.format``, ``paragraphs_kept``, ``paragraphs_rejected.<reason>``,
    ``paragraphs_over_target`` (passed every check after the target was reached within the
    last batch: not written), ``prompt_tokens`` and ``completion_tokens``; the paragraphs of
    parsed answers add up to kept + rejected + over target. ``progress`` is called with the number of
    paragraphs kept by each batch."""
    out_dir.mkdir(parents=True, exist_ok=True)
    kept_path, rejected_path, state_path = paragraphs_file(out_dir, lang), out_dir / REJECTED, out_dir / PROGRESS
    state = LanguageProgress.load(state_path)
    for name, path in (("paragraphs", kept_path), ("rejected", rejected_path)):
        with path.open("ab") as f:
            f.truncate(state.sizes[name])
    kept = [r["text"] for r in read_jsonl(kept_path)]
    checks = ParagraphFilter(lang, config, kept)
    n = config.prompt.paragraphs_per_prompt
    while (len(kept) < config.target_paragraphs and state.empty_streak < config.max_empty_batches
           and state.batch < config.max_batches):
        start = time.monotonic()
        chosen, prompts, seeds = batch_prompts(topics, lang, pool, config.prompt, seed=config.seed,
                                               batch=state.batch, size=config.prompts_per_batch)
        answers = generator.chat(prompts, config.sampling, seeds)
        new, rejected = [], []
        for topic, answer, seed in zip(chosen, answers, seeds):
            state.counts["prompts"] += 1
            state.counts["prompt_tokens"] += answer.prompt_tokens
            state.counts["completion_tokens"] += answer.completion_tokens
            paragraphs = parse_numbered(answer.text, n)
            if paragraphs is None:
                state.counts["answers_rejected.format"] += 1
                rejected.append({"reason": "format", "topic": topic, "seed": seed, "text": answer.text})
                continue
            for paragraph, reason in zip(paragraphs, checks.reasons(paragraphs)):
                if reason is None and len(kept) + len(new) < config.target_paragraphs:
                    new.append({"text": paragraph, "topic": topic})
                elif reason is None:  # good, but the language's target was reached within this batch
                    state.counts["paragraphs_over_target"] += 1
                else:
                    state.counts[f"paragraphs_rejected.{reason}"] += 1
                    rejected.append({"reason": reason, "topic": topic, "seed": seed, "text": paragraph})
        state.sizes["paragraphs"] = _append(kept_path, new, state.sizes["paragraphs"])
        state.sizes["rejected"] = _append(rejected_path, rejected, state.sizes["rejected"])
        kept += [r["text"] for r in new]
        state.counts["paragraphs_kept"] += len(new)
        state.empty_streak = 0 if new else state.empty_streak + 1
        state.batch += 1
        state.seconds += time.monotonic() - start
        state.save(state_path)
        if progress:
            progress(len(new))
    if len(kept) < config.min_paragraphs:
        raise StageFailedError(
            f"{lang}: {len(kept)} paragraphs kept after {state.batch} batches, fewer than min_paragraphs="
            f"{config.min_paragraphs} (rejections: {_rejections(state.counts)}); what was kept is in {out_dir}")
    return state


def _rejections(counts: Counter) -> str:
    found = {k.partition(".")[2]: v for k, v in counts.items() if "_rejected." in k}
    return ", ".join(f"{k} {v}" for k, v in sorted(found.items())) or "none"
