"""Joint SentencePiece vocabulary with language tags.

Ids 0–3 are fixed: ``<pad>``=0, ``<unk>``=1, ``<s>``=2, ``</s>``=3. Every language that the
model translates into gets a user-defined symbol ``__xxx_Scrp__`` (NLLB style); the decoder
starts from the target language's tag instead of ``<s>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import sentencepiece as spm

PAD, UNK, BOS, EOS = 0, 1, 2, 3


def lang_tag(lang: str) -> str:
    """The vocabulary symbol of a FLORES-200 language code."""
    return f"__{lang}__"


def train_vocab(
    sentences: Iterator[str],
    model_prefix: Path,
    *,
    vocab_size: int,
    languages: Iterable[str],
    model_type: str = "unigram",
    character_coverage: float = 1.0,
    input_sentence_size: int = 2_000_000,
) -> Path:
    """Train a joint SentencePiece model on ``sentences``; returns the ``.model`` path.

    Deterministic for the same sentences in the same order and the same settings.
    """
    model_prefix.parent.mkdir(parents=True, exist_ok=True)
    spm.SentencePieceTrainer.train(
        sentence_iterator=sentences,
        model_prefix=str(model_prefix),
        vocab_size=vocab_size,
        model_type=model_type,
        character_coverage=character_coverage,
        input_sentence_size=input_sentence_size,
        shuffle_input_sentence=False,
        seed_sentencepiece_size=1_000_000,
        pad_id=PAD, unk_id=UNK, bos_id=BOS, eos_id=EOS,
        user_defined_symbols=[lang_tag(lang) for lang in sorted(set(languages))],
        num_threads=1,
        minloglevel=2,
    )
    return model_prefix.with_suffix(".model")


class Vocab:
    """A loaded SentencePiece model with language-tag lookups."""

    def __init__(self, model_path: str | Path) -> None:
        self.path = Path(model_path)
        self.sp = spm.SentencePieceProcessor(model_file=str(self.path))
        self.special_ids = {i for i in range(len(self)) if i <= EOS or _is_tag(self.sp.id_to_piece(i))}

    def __len__(self) -> int:
        return self.sp.get_piece_size()

    def tag_id(self, lang: str) -> int:
        """Id of the language tag of ``lang``; KeyError if the vocabulary lacks it."""
        piece = lang_tag(lang)
        idx = self.sp.piece_to_id(piece)
        if idx == UNK:
            raise KeyError(f"language {lang!r} has no tag {piece!r} in vocabulary {self.path}")
        return idx

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Batch-encode to piece ids (no BOS/EOS)."""
        return self.sp.encode(texts, out_type=int)

    def decode(self, ids: list[list[int]]) -> list[str]:
        """Batch-decode piece ids, dropping special and language-tag ids."""
        return self.sp.decode([[i for i in seq if i not in self.special_ids] for seq in ids])


def _is_tag(piece: str) -> bool:
    return len(piece) > 4 and piece.startswith("__") and piece.endswith("__")
