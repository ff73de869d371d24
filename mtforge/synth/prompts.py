"""Generation prompts as TopXGen builds them: a topic, ``k`` example paragraphs in other
languages, ``m`` example sentences in the target language, and a request for ``n`` numbered
paragraphs in the target language.

The examples come from a multi-way set such as FLORES-200 dev (files ``<lang>.<split>``,
line i of every file the same sentence): consecutive lines form a paragraph, since FLORES
takes several consecutive sentences from each article. What is drawn for batch ``b`` of a
language depends only on (seed, language, b), so a resumed run builds the same prompts.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from mtforge.curate.evalsets import read_sentences
from mtforge.errors import ConfigError, InputNotFoundError
from mtforge.langcodes import english_name, normalise
from mtforge.stage import StageConfig

_FLORES_FILE = re.compile(r"(?P<lang>[a-z]{3}_[A-Za-z]{4})\.[A-Za-z0-9_-]+")

Messages = list[dict[str, str]]


class PromptConfig(StageConfig):
    """How each generation prompt is put together."""

    paragraphs_per_prompt: int = Field(2, ge=1, le=20, description="n: paragraphs asked for in one prompt")
    example_paragraphs: int = Field(4, ge=0, description="k: example paragraphs in other languages")
    example_sentences: int = Field(4, ge=0, description="m: example sentences in the target language")
    example_languages: list[str] = Field(["eng_Latn", "fra_Latn", "spa_Latn", "deu_Latn"],
                                         description="languages the example paragraphs are drawn from (the "
                                                     "target language is skipped)")
    sentences_per_paragraph: int = Field(3, ge=1, description="consecutive example-set lines per example paragraph")


def read_topics(path: str | Path) -> list[str]:
    """The topics of a topic file, one per non-empty line (duplicates kept once, in order).
    Raises :class:`InputNotFoundError` for a missing file and :class:`ConfigError` for a file
    without any topic, naming it."""
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"topic file {path} not found (one topic per line)")
    topics = list(dict.fromkeys(text for _, text in read_sentences(path, "und_Latn")))
    if not topics:
        raise ConfigError(f"topic file {path} has no topics: write one topic per line")
    return topics


@dataclass(frozen=True)
class ExamplePool:
    """Example sentences per language (FLORES-200 style codes) of a multi-way set."""

    sentences: dict[str, list[str]]
    source: str = ""

    @classmethod
    def from_dir(cls, root: str | Path) -> ExamplePool:
        """Read every ``<lang>.<split>`` file of ``root`` (e.g. ``flores200/dev``)."""
        root = Path(root)
        if not root.is_dir():
            raise InputNotFoundError(f"example directory {root} not found (FLORES-200 dev: <lang>.dev files)")
        sentences = {}
        for path in sorted(root.iterdir()):
            found = _FLORES_FILE.fullmatch(path.name)
            if found and path.is_file():
                sentences[normalise(found["lang"])] = [text for _, text in read_sentences(path, found["lang"])]
        if not sentences:
            raise InputNotFoundError(f"{root} has no <lang>.<split> files (e.g. deu_Latn.dev)")
        return cls(sentences, str(root))

    def require(self, lang: str, count: int) -> list[str]:
        """The sentences of ``lang``; raises :class:`ConfigError` when it has fewer than ``count``."""
        found = self.sentences.get(lang, [])
        if len(found) < count:
            raise ConfigError(f"example set {self.source or '(given)'} has {len(found)} sentences of {lang}, "
                              f"{count} needed; languages there: {', '.join(sorted(self.sentences))}")
        return found


def batch_rng(seed: int, lang: str, batch: int) -> random.Random:
    """The random source of one batch: a function of (seed, language, batch) only."""
    return random.Random(f"{seed}:{lang}:{batch}")


def request_seed(seed: int, lang: str, batch: int, index: int) -> int:
    """The sampling seed of prompt ``index`` of a batch (stable across processes and runs)."""
    digest = hashlib.sha256(f"{seed}:{lang}:{batch}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") >> 1


def _paragraph(sentences: list[str], rng: random.Random, size: int) -> str:
    start = rng.randrange(0, max(1, len(sentences) - size + 1))
    return " ".join(sentences[start : start + size])


def build_prompt(topic: str, lang: str, pool: ExamplePool, config: PromptConfig, rng: random.Random) -> Messages:
    """The chat messages asking for ``config.paragraphs_per_prompt`` paragraphs about ``topic``
    in ``lang``, with examples drawn from ``pool`` by ``rng``."""
    name = english_name(lang)
    others = [normalise(code) for code in config.example_languages if normalise(code) != lang]
    parts = [f"You write informative, encyclopedic paragraphs in {name}."]
    if config.example_paragraphs and others:
        parts.append("Here are example paragraphs in other languages:")
        for _ in range(config.example_paragraphs):
            other = rng.choice(others)
            text = _paragraph(pool.require(other, config.sentences_per_paragraph), rng,
                              config.sentences_per_paragraph)
            parts.append(f"[{english_name(other)}] {text}")
    if config.example_sentences:
        own = pool.require(lang, config.example_sentences)
        parts.append(f"Here are example sentences written in {name}:")
        parts.extend(f"- {text}" for text in rng.sample(own, config.example_sentences))
    n = config.paragraphs_per_prompt
    parts.append(f'Write {n} different paragraph{"s" * (n > 1)} in {name} about the topic "{topic}". '
                 f"Each paragraph has several sentences. Answer only with a numbered list, one paragraph per "
                 f"item:\n" + "\n".join(f"{i}. <paragraph {i} in {name}>" for i in range(1, n + 1)))
    return [{"role": "user", "content": "\n\n".join(parts)}]


def batch_prompts(topics: Sequence[str], lang: str, pool: ExamplePool, config: PromptConfig, *, seed: int,
                  batch: int, size: int) -> tuple[list[str], list[Messages], list[int]]:
    """The topics, prompts and sampling seeds of batch ``batch`` of ``lang`` (``size`` prompts)."""
    rng = batch_rng(seed, lang, batch)
    chosen = [rng.choice(topics) for _ in range(size)]
    prompts = [build_prompt(topic, lang, pool, config, rng) for topic in chosen]
    return chosen, prompts, [request_seed(seed, lang, batch, i) for i in range(size)]
