"""Trained models as teacher and student: a ``train`` stage output directory (``checkpoint/``)
with the ``spm`` stage output directory of its vocabulary (``spm.model``)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from mtforge.corpus import remote
from mtforge.errors import ConfigError, InputNotFoundError
from mtforge.fingerprint import content_hash
from mtforge.train import checkpoint
from mtforge.translate import Translator
from mtforge.vocab import Vocab


def spm_file(vocab: str) -> Path:
    """The SentencePiece model in an spm stage output directory."""
    from mtforge.stages.spm import MODEL_FILE  # not at the top: importing mtforge.stages imports this module

    return Path(vocab) / MODEL_FILE


def check_model(model: str, vocab: str, *, role: str = "teacher") -> None:
    """Raise :class:`ConfigError` for an empty path and :class:`InputNotFoundError` naming the
    path unless ``model`` holds a complete checkpoint and ``vocab`` a SentencePiece model
    (``role`` names them in the message: ``teacher_model``, ``teacher_vocab``)."""
    for key, path in ((f"{role}_model", model), (f"{role}_vocab", vocab)):
        if not path.strip():
            raise ConfigError(f"{key} is empty: give the {'train' if key.endswith('model') else 'spm'} stage "
                              f"output directory of the {role}")
    if checkpoint.read_frame(Path(model) / "checkpoint") is None:
        raise InputNotFoundError(f"{role}_model {model!r} has no complete checkpoint (no "
                                 f"checkpoint/{checkpoint.FRAME}): give a train stage output directory")
    if not spm_file(vocab).is_file():
        raise InputNotFoundError(f"{role}_vocab {vocab!r} has no {spm_file(vocab).name}: give an spm stage output "
                                 "directory")


def model_fingerprint(model: str, vocab: str, *, role: str = "teacher") -> str:
    """Content fingerprint of a model and its vocabulary, checked first with :func:`check_model`
    (``s3://`` ones: their ETags, unchecked)."""
    if not any(path.startswith(remote.S3_SCHEME) for path in (model, vocab)):
        check_model(model, vocab, role=role)
    parts = [remote.s3_fingerprint(path) if path.startswith(remote.S3_SCHEME) else content_hash(path)
             for path in (model, vocab)]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


class Translators:
    """The translators of one model, one per direction, each loaded on first use."""

    def __init__(self, model: str, vocab: str, *, role: str = "teacher", beam_size: int = 4,
                 batch_sentences: int = 64) -> None:
        check_model(model, vocab, role=role)
        self.model, self.spm = Path(model), Vocab(spm_file(vocab))
        self.beam_size, self.batch_sentences = beam_size, batch_sentences
        self._loaded: dict[tuple[str, str], Translator] = {}

    def get(self, src_lang: str, tgt_lang: str) -> Translator:
        """The translator of ``src_lang``→``tgt_lang`` (only that direction's modules)."""
        if (src_lang, tgt_lang) not in self._loaded:
            self._loaded[src_lang, tgt_lang] = Translator(self.model / "checkpoint", self.spm, src_lang, tgt_lang)
        return self._loaded[src_lang, tgt_lang]

    def translate(self, texts: list[str], src_lang: str, tgt_lang: str) -> list[str]:
        """``texts`` translated by beam search (a :data:`mtforge.synth.qe.BackTranslate`)."""
        return self.get(src_lang, tgt_lang).translate(texts, beam_size=self.beam_size,
                                                      batch_sentences=self.batch_sentences)
