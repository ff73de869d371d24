"""Back-translation backends: synthetic target-language text → source-language sentences.

A :class:`BackTranslator` translates sentences of one language into another; two kinds,
chosen by a *spec* string (:func:`load_back_translator`):

* ``mtforge:<train stage output dir>``: a model this project trained (its ``checkpoint/``),
  with the SentencePiece vocabulary of the ``spm`` stage output dir given as ``vocab``.
* ``hf:<model dir>``: a local Hugging Face seq2seq model of NLLB style (NLLB-200,
  M2M-style ``forced_bos_token_id``): the tokenizer knows FLORES-200 language codes as tokens,
  the source is tagged by ``tokenizer.src_lang`` and the decoder is forced to start with the
  target language's token.

Both translate in length-sorted batches with beam search and return one translation per
input sentence, in input order. Language codes are FLORES-200 style (``eng_Latn``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path

from tqdm import tqdm

from mtforge.errors import ConfigError, InputNotFoundError

#: The spec prefixes :func:`load_back_translator` accepts, with the form of their argument.
BACKENDS = {"mtforge": "mtforge:<train stage output dir> (with vocab=<spm stage output dir>)",
            "hf": "hf:<seq2seq model dir>"}


class BackTranslator(ABC):
    """A translation model used for back-translation (see the module docstring)."""

    #: The model's short name (``<model dir name>`` for ``hf:``, ``mtforge:<dir name>``):
    #: TopXGen's ``{back-translator}`` folder of the data it produced.
    name: str

    @abstractmethod
    def translate(self, sentences: list[str], src_lang: str, tgt_lang: str, *, beam_size: int = 4,
                  batch_size: int = 32, max_new_tokens: int = 256) -> list[str]:
        """Translations of ``sentences`` from ``src_lang`` into ``tgt_lang``, in input order,
        by beam search with ``beam_size`` beams over batches of ``batch_size`` sentences of
        similar length; a translation has at most ``max_new_tokens`` tokens."""


def length_sorted_batches(lengths: list[int], batch_size: int) -> Iterator[list[int]]:
    """Indices of ``lengths`` in batches of ``batch_size``, longest first (so the first batch
    shows the worst memory use at once and padding stays small)."""
    if batch_size < 1:
        raise ConfigError(f"batch_size must be ≥ 1, got {batch_size}")
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def _progress(total: int, name: str, src_lang: str, tgt_lang: str) -> tqdm:
    return tqdm(total=total, desc=f"back-translate {src_lang}→{tgt_lang} ({name})", unit="sent", leave=False)


class HFBackTranslator(BackTranslator):
    """``AutoModelForSeq2SeqLM.generate`` of an NLLB-style model in a local directory."""

    def __init__(self, model_dir: str | Path, *, device: str | None = None) -> None:
        import torch
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        self.path = Path(model_dir)
        if not self.path.is_dir():
            raise InputNotFoundError(f"back-translation model directory {self.path} does not exist")
        self.name = self.path.name
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        self.model = AutoModelForSeq2SeqLM.from_pretrained(self.path).to(self.device).eval()

    def language_token(self, lang: str) -> int:
        """Id of the token ``lang`` (a FLORES-200 code), else a :class:`ConfigError`."""
        token_id = self.tokenizer.convert_tokens_to_ids(lang)
        if token_id is None or token_id == self.tokenizer.unk_token_id:
            raise ConfigError(f"language {lang!r} is not a token of the tokenizer of {self.path}: the hf back-translator "
                              "needs an NLLB-style model whose tokenizer has FLORES-200 codes (eng_Latn, …) as tokens")
        return token_id

    def translate(self, sentences: list[str], src_lang: str, tgt_lang: str, *, beam_size: int = 4,
                  batch_size: int = 32, max_new_tokens: int = 256) -> list[str]:
        import torch

        self.language_token(src_lang)
        forced_bos = self.language_token(tgt_lang)
        self.tokenizer.src_lang = src_lang
        lengths = [len(ids) for ids in self.tokenizer(sentences).input_ids] if sentences else []
        out = [""] * len(sentences)
        with _progress(len(sentences), self.name, src_lang, tgt_lang) as bar, torch.inference_mode():
            for batch in length_sorted_batches(lengths, batch_size):
                inputs = self.tokenizer([sentences[i] for i in batch], return_tensors="pt", padding=True).to(self.device)
                ids = self.model.generate(**inputs, forced_bos_token_id=forced_bos, num_beams=beam_size,
                                          do_sample=False, max_new_tokens=max_new_tokens)
                for i, text in zip(batch, self.tokenizer.batch_decode(ids, skip_special_tokens=True)):
                    out[i] = text
                bar.update(len(batch))
        return out


class MtforgeBackTranslator(BackTranslator):
    """A checkpoint of mtforge's ``train`` stage (``<model_dir>/checkpoint``) with the ``spm``
    stage's vocabulary (``<vocab_dir>/spm.model``), through :class:`mtforge.translate.Translator`.

    Its beam search bounds a translation by 1.5 × source length + 10 tokens; ``max_new_tokens``
    truncates the source to that many tokens."""

    def __init__(self, model_dir: str | Path, vocab_dir: str | Path) -> None:
        from mtforge.stages.spm import MODEL_FILE
        from mtforge.vocab import Vocab

        self.checkpoint = Path(model_dir) / "checkpoint"
        if not self.checkpoint.is_dir():
            raise InputNotFoundError(f"no checkpoint directory {self.checkpoint}: 'mtforge:<dir>' names the output "
                                     "directory of a train stage")
        spm = Path(vocab_dir) / MODEL_FILE
        if not spm.is_file():
            raise InputNotFoundError(f"no SentencePiece model {spm}: vocab names the output directory of the spm stage")
        self.name = f"mtforge:{Path(model_dir).name}"
        self.vocab = Vocab(spm)

    def translate(self, sentences: list[str], src_lang: str, tgt_lang: str, *, beam_size: int = 4,
                  batch_size: int = 32, max_new_tokens: int = 256) -> list[str]:
        from mtforge.translate import Translator

        translator = Translator(self.checkpoint, self.vocab, src_lang, tgt_lang)
        with _progress(len(sentences), self.name, src_lang, tgt_lang) as bar:
            return translator.translate(sentences, beam_size=beam_size, batch_sentences=batch_size,
                                        max_tokens=max_new_tokens, progress=bar.update)


def load_back_translator(spec: str, *, vocab: str | None = None) -> BackTranslator:
    """The back-translator named by ``spec`` (one of :data:`BACKENDS`); ``vocab`` (the spm
    stage output dir) is required by ``mtforge:`` and refused by ``hf:``."""
    kind, _, arg = spec.partition(":")
    if kind == "mtforge" and arg:
        if not vocab:
            raise ConfigError(f"back-translator {spec!r} needs vocab=<spm stage output dir> (the vocabulary the "
                              "model was trained with)")
        return MtforgeBackTranslator(arg, vocab)
    if kind == "hf" and arg:
        if vocab:
            raise ConfigError(f"back-translator {spec!r} takes its vocabulary from its own tokenizer; "
                              f"vocab={vocab!r} is for 'mtforge:' back-translators")
        return HFBackTranslator(arg)
    raise ConfigError(f"unknown back-translator {spec!r}; use one of: {', '.join(BACKENDS.values())}")
