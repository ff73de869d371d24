"""``spm``: train the joint SentencePiece vocabulary of a corpus (with language tags)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

from pydantic import Field

from mtforge.corpus import Corpus
from mtforge.stage import Resources, StageConfig, stage
from mtforge.vocab import Vocab, train_vocab

MODEL_FILE = "spm.model"


class SpmConfig(StageConfig):
    """SentencePiece settings."""

    vocab_size: int = Field(8000, description="vocabulary size including special and language-tag symbols")
    model_type: str = Field("unigram", description="unigram or bpe")
    character_coverage: float = Field(1.0, description="fraction of characters covered")
    max_sentences: int = Field(2_000_000, description="sentences sampled for training")


def unique_sentences(corpus: Corpus) -> Iterator[str]:
    """Each distinct (language, sentence) of both sides once, in corpus order."""
    seen: set[bytes] = set()
    for batch in corpus.iter_batches():
        cols = batch.to_pydict()
        for side in ("src", "tgt"):
            for text, lang in zip(cols[side], cols[f"{side}_lang"]):
                key = hashlib.blake2b(f"{lang}\t{text}".encode(), digest_size=12).digest()
                if key not in seen:
                    seen.add(key)
                    yield text


@stage("spm", version="1", config=SpmConfig, resources=Resources(cpu="1", memory="4Gi"))
def train_spm(*, corpus: str, out_dir: str, config: SpmConfig) -> dict[str, float]:
    """Train ``out_dir/spm.model`` on both sides of ``corpus``; tags for every language in it."""
    data = Corpus.open(corpus)
    languages = {lang for direction in data.directions() for lang in direction}
    model = train_vocab(unique_sentences(data), Path(out_dir) / "spm", vocab_size=config.vocab_size,
                        languages=languages, model_type=config.model_type,
                        character_coverage=config.character_coverage, input_sentence_size=config.max_sentences)
    return {"vocab_size": float(len(Vocab(model))), "languages": float(len(languages))}
