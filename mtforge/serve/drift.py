"""Input drift monitoring: do the posts the service sees still look like the training data?

Two features of every post are compared with a :class:`DriftReference` built from the
training corpus (:func:`reference_from_corpus`, or :func:`reference_from_texts`):

* its **length** in characters (Unicode code points, ``len(text)``), bucketed into
  :data:`LENGTH_BINS`;
* its **detected language**; a language the reference does not know is counted in the
  :data:`OTHER` bucket (probability 0 in the reference, so it shows up as drift).

:class:`DriftMonitor` keeps a sliding window of the last ``window`` observations with
per-bucket counters that are updated as an observation enters and the oldest one leaves, so
:meth:`DriftMonitor.observe` is O(1) and thread-safe. On every Prometheus scrape (it is a
custom collector) it compares the window's distributions with the reference and exports::

    mtforge_drift_psi{feature="length"|"language"}   population stability index
    mtforge_drift_kl{feature="length"|"language"}    KL(window || reference), in nats
    mtforge_drift_window_observations                observations in the window

While the window holds fewer than ``min_observations`` (default :data:`MIN_OBSERVATIONS`)
observations the PSI and KL gauges are **NaN**: the series exist from the start (so
``absent()`` alerts stay quiet and dashboards show a gap, not a spurious value computed from
a handful of posts), and an alert rule such as ``mtforge_drift_psi > 0.25`` does not fire
because every comparison with NaN is false.

Reading PSI, by the usual rule of thumb (:data:`PSI_MODERATE`, :data:`PSI_SIGNIFICANT`):
below 0.1 no significant shift, 0.1 to 0.25 a moderate shift worth a look, above 0.25 a
significant shift.
"""

from __future__ import annotations

import bisect
import math
import os
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow.compute as pc
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mtforge.corpus import Corpus
from mtforge.errors import ConfigError, InputNotFoundError

#: Character-length bin edges of posts: bin ``i`` holds lengths ``edges[i] <= n < edges[i+1]``
#: (0–9, 10–19, 20–39, … 1280–2559, 2560 and longer). Roughly doubling widths, so short chat
#: messages and long documents are both resolved; the last bin is open-ended.
LENGTH_BINS: tuple[float, ...] = (0, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, math.inf)
#: The bucket of languages the reference does not know (a reserved language name).
OTHER = "other"
#: Probability floor for empty buckets in :func:`psi` and :func:`kl_divergence`.
EPS = 1e-4
#: Default sliding-window size of :class:`DriftMonitor` (observations).
DEFAULT_WINDOW = 1000
#: Default minimum window fill below which :class:`DriftMonitor` reports NaN.
MIN_OBSERVATIONS = 50
#: PSI rule-of-thumb thresholds: below ``PSI_MODERATE`` no significant shift, above
#: ``PSI_SIGNIFICANT`` a significant one.
PSI_MODERATE = 0.1
PSI_SIGNIFICANT = 0.25
#: Tolerance on a reference's probabilities summing to 1.
_SUM_TOLERANCE = 1e-6
FEATURES = ("length", "language")


# ----------------------------------------------------------------------------------------------
# Divergences
# ----------------------------------------------------------------------------------------------


def _smoothed(weights: Sequence[float], eps: float, name: str) -> list[float]:
    """``weights`` normalised to sum 1, every proportion floored at ``eps``, renormalised."""
    values = [float(w) for w in weights]
    if not values:
        raise ValueError(f"{name} is empty")
    if any(not math.isfinite(v) or v < 0 for v in values):
        raise ValueError(f"{name} must hold finite non-negative weights, got {values}")
    total = sum(values)
    if total <= 0:
        raise ValueError(f"{name} sums to 0: it is not a distribution")
    floored = [max(v / total, eps) for v in values]
    norm = sum(floored)
    return [v / norm for v in floored]


def _pair(p: Sequence[float], q: Sequence[float], eps: float,
          names: tuple[str, str]) -> tuple[list[float], list[float]]:
    """Both distributions smoothed, after checking ``eps`` and that their lengths agree."""
    if not 0 < eps < 1:
        raise ValueError(f"eps must be in (0, 1), got {eps}")
    if len(p) != len(q):
        raise ValueError(f"{names[0]} and {names[1]} have different numbers of bins ({len(p)} and {len(q)})")
    return _smoothed(p, eps, names[0]), _smoothed(q, eps, names[1])


def psi(expected: Sequence[float], actual: Sequence[float], eps: float = EPS) -> float:
    """Population stability index of ``actual`` against ``expected``:
    ``sum((a_i - e_i) * ln(a_i / e_i))``, which equals ``KL(a||e) + KL(e||a)`` and is >= 0.

    Both arguments are non-negative weights over the same bins (probabilities or counts); each
    is normalised to sum 1. Smoothing: a proportion below ``eps`` (an empty bin) is raised to
    ``eps`` and the distribution renormalised, so an empty bin on one side adds a large but
    finite term instead of an infinite one. Raises ValueError for different lengths, an
    empty or all-zero distribution, negative or non-finite weights, or ``eps`` outside (0, 1).
    """
    e, a = _pair(expected, actual, eps, ("expected", "actual"))
    return sum((ai - ei) * math.log(ai / ei) for ei, ai in zip(e, a))


def kl_divergence(p: Sequence[float], q: Sequence[float], eps: float = EPS) -> float:
    """Kullback–Leibler divergence ``KL(p||q) = sum(p_i * ln(p_i / q_i))`` in nats, >= 0.

    For drift, ``p`` is the actual (window) distribution and ``q`` the reference. Inputs,
    normalisation, ``eps`` smoothing and errors are as in :func:`psi`.
    """
    ps, qs = _pair(p, q, eps, ("p", "q"))
    return sum(pi * math.log(pi / qi) for pi, qi in zip(ps, qs))


# ----------------------------------------------------------------------------------------------
# The reference
# ----------------------------------------------------------------------------------------------


def _check_edges(edges: Sequence[float]) -> None:
    """ValueError unless ``edges`` start at 0, increase strictly and end at infinity."""
    if len(edges) < 2 or edges[0] != 0 or edges[-1] != math.inf:
        raise ValueError(f"length bins must have at least 2 edges, start at 0 and end at infinity, got {list(edges)}")
    if any(b <= a for a, b in zip(edges, edges[1:])):
        raise ValueError(f"length bins must be strictly increasing, got {list(edges)}")


def _check_distribution(values: Iterable[float], what: str) -> None:
    values = list(values)
    if any(not math.isfinite(v) or v < 0 for v in values):
        raise ValueError(f"{what} must be finite and non-negative")
    if abs(sum(values) - 1.0) > _SUM_TOLERANCE:
        raise ValueError(f"{what} must sum to 1, not {sum(values)!r}")


class DriftReference(BaseModel):
    """The training-data distributions a :class:`DriftMonitor` compares posts with.

    ``length_bins`` are the bin edges (start at 0, strictly increasing, end at infinity;
    :data:`LENGTH_BINS` by default) and ``length_probs`` the share of texts in each of the
    ``len(length_bins) - 1`` bins; ``languages`` maps each language to its share (the name
    :data:`OTHER` is reserved). Both sum to 1. ``source`` says where the reference came from
    and ``count`` how many texts it was built from. Saved as JSON (infinity as the string
    ``"Infinity"``, so the file stays standard JSON).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_inf_nan="strings")

    format: Literal["mtforge-drift-reference"] = "mtforge-drift-reference"
    length_bins: list[float] = Field(default_factory=lambda: list(LENGTH_BINS))
    length_probs: list[float]
    languages: dict[str, float]
    source: str
    count: int = Field(ge=1)

    @model_validator(mode="after")
    def _consistent(self) -> DriftReference:
        _check_edges(self.length_bins)
        if len(self.length_probs) != len(self.length_bins) - 1:
            raise ValueError(
                f"length_probs has {len(self.length_probs)} values for {len(self.length_bins) - 1} length bins"
            )
        _check_distribution(self.length_probs, "length_probs")
        if not self.languages:
            raise ValueError("languages is empty")
        if OTHER in self.languages or "" in self.languages:
            raise ValueError(f"languages may not contain {OTHER!r} (reserved) or an empty name")
        _check_distribution(self.languages.values(), "languages")
        return self

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the reference as JSON to ``path`` (atomically: a temporary file is renamed
        over it), creating its folder; returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> DriftReference:
        """Read a reference written by :meth:`save`. Raises :class:`InputNotFoundError` when
        ``path`` is not a file and :class:`ConfigError` naming the file and the problem when it
        is not valid JSON or not a consistent drift reference."""
        path = Path(path)
        if not path.is_file():
            raise InputNotFoundError(f"drift reference {path} does not exist")
        try:
            return cls.model_validate_json(path.read_bytes())
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(document)'}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"{path} is not a valid drift reference: {problems}") from None


def length_bin(length: int, edges: Sequence[float] = LENGTH_BINS) -> int:
    """Index of the bin of ``edges`` that holds ``length`` (>= 0; ValueError otherwise)."""
    if length < 0:
        raise ValueError(f"a length must be >= 0, got {length}")
    return bisect.bisect_right(edges, length) - 1


def _edges(length_bins: Sequence[float]) -> list[float]:
    """``length_bins`` as a list, or ConfigError when they are not valid bin edges."""
    edges = [float(e) for e in length_bins]
    try:
        _check_edges(edges)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return edges


def _reference(length_counts: Sequence[int], language_counts: dict[str, int], edges: Sequence[float],
               source: str) -> DriftReference:
    """The reference of per-bin length counts and per-language counts (ConfigError when empty)."""
    count = int(sum(length_counts))
    if count == 0:
        raise ConfigError(f"no texts to build a drift reference from ({source})")
    languages = {lang: n / count for lang, n in sorted(language_counts.items()) if n}
    try:
        return DriftReference(length_bins=list(edges), length_probs=[n / count for n in length_counts],
                              languages=languages, source=source, count=count)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(reference)'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"cannot build a drift reference from {source}: {problems}") from None


def reference_from_texts(texts: Iterable[tuple[str, str]], source: str, *,
                         length_bins: Sequence[float] = LENGTH_BINS) -> DriftReference:
    """The reference of ``(text, language)`` pairs: their ``len(text)`` distribution over
    ``length_bins`` and their language shares. ``source`` is recorded as provenance. Raises
    :class:`ConfigError` when there are no texts, a language is empty or :data:`OTHER`, or
    ``length_bins`` is not valid (see :class:`DriftReference`)."""
    edges = _edges(length_bins)
    counts = [0] * (len(edges) - 1)
    languages: dict[str, int] = {}
    for text, lang in texts:
        counts[length_bin(len(text), edges)] += 1
        languages[lang] = languages.get(lang, 0) + 1
    return _reference(counts, languages, edges, source)


def reference_from_corpus(corpus_path: str | os.PathLike[str], *, side: str = "src",
                          length_bins: Sequence[float] = LENGTH_BINS) -> DriftReference:
    """The reference of one side of an mtforge corpus: the ``src`` texts with ``src_lang``
    (the default: the service translates posts written in the source languages) or the
    ``tgt`` texts with ``tgt_lang``. A ``mono`` corpus always uses ``text`` and ``lang``.
    Rows whose text or language is null are skipped. Lengths are code points, as ``len(text)``.

    Raises :class:`InputNotFoundError` / :class:`~mtforge.errors.CorpusFormatError` from
    :meth:`Corpus.open`, and :class:`ConfigError` for a ``side`` other than ``src``/``tgt``
    or a corpus without rows.
    """
    if side not in ("src", "tgt"):
        raise ConfigError(f"side must be 'src' or 'tgt', got {side!r}")
    edges = _edges(length_bins)
    corpus = Corpus.open(corpus_path)
    text_col, lang_col = ("text", "lang") if corpus.kind == "mono" else (side, f"{side}_lang")
    nbins = len(edges) - 1
    counts = np.zeros(nbins, dtype=np.int64)
    languages: dict[str, int] = {}
    for batch in corpus.iter_batches():
        texts, langs = batch.column(text_col), batch.column(lang_col)
        valid = pc.and_(pc.is_valid(texts), pc.is_valid(langs))
        texts, langs = pc.filter(texts, valid), pc.filter(langs, valid)
        if len(texts) == 0:
            continue
        lengths = pc.utf8_length(texts).to_numpy(zero_copy_only=False)
        bins = np.searchsorted(np.asarray(edges), lengths, side="right") - 1
        counts += np.bincount(bins, minlength=nbins)
        for item in pc.value_counts(langs).to_pylist():
            languages[item["values"]] = languages.get(item["values"], 0) + int(item["counts"])
    label = "text" if corpus.kind == "mono" else f"{side} side"
    source = f"corpus {corpus.path} ({label}, content_hash {corpus.content_hash[:12]})"
    return _reference(counts.tolist(), languages, edges, source)


# ----------------------------------------------------------------------------------------------
# The monitor
# ----------------------------------------------------------------------------------------------


class DriftMonitor(Collector):
    """Sliding-window drift of post lengths and languages against ``reference``.

    :meth:`observe` records one post (O(1), thread-safe); the window keeps the last
    ``window`` observations. :meth:`snapshot` and every Prometheus scrape compare the window
    with the reference (O(bins + languages)). The monitor is a Prometheus collector: it is
    registered in ``registry`` when one is given (``None`` registers it nowhere, as in
    ``prometheus_client``; register it later with ``registry.register(monitor)``). Below
    ``min_observations`` in the window, PSI and KL are NaN (see the module docstring).
    Raises :class:`ConfigError` for ``window < 1`` or ``min_observations`` outside
    ``1..window``.
    """

    def __init__(self, reference: DriftReference, *, window: int = DEFAULT_WINDOW,
                 registry: CollectorRegistry | None = None, min_observations: int = MIN_OBSERVATIONS) -> None:
        if window < 1:
            raise ConfigError(f"drift window must be >= 1 observation, got {window}")
        if not 1 <= min_observations <= window:
            raise ConfigError(f"min_observations must be in 1..window ({window}), got {min_observations}")
        self.reference = reference
        self.window = window
        self.min_observations = min_observations
        self._edges = list(reference.length_bins)
        self._languages = [*reference.languages, OTHER]
        self._language_index = {lang: i for i, lang in enumerate(reference.languages)}
        self._reference_languages = [*reference.languages.values(), 0.0]
        self._lock = threading.Lock()
        self._items: deque[tuple[int, int]] = deque()
        self._length_counts = [0] * len(reference.length_probs)
        self._language_counts = [0] * len(self._languages)
        if registry is not None:
            registry.register(self)

    def observe(self, length: int, language: str) -> None:
        """Record a post of ``length`` characters (>= 0; ValueError otherwise) in detected
        ``language``; a language the reference lacks counts as :data:`OTHER`. When the window
        is full the oldest observation leaves it."""
        item = (length_bin(length, self._edges), self._language_index.get(language, len(self._languages) - 1))
        with self._lock:
            self._items.append(item)
            self._length_counts[item[0]] += 1
            self._language_counts[item[1]] += 1
            if len(self._items) > self.window:
                old_bin, old_lang = self._items.popleft()
                self._length_counts[old_bin] -= 1
                self._language_counts[old_lang] -= 1

    def observe_text(self, text: str, language: str) -> None:
        """:meth:`observe` of ``len(text)``."""
        self.observe(len(text), language)

    def snapshot(self) -> dict[str, Any]:
        """The current drift: ``{"window_observations": n, "window": size, "min_observations": m,
        "ready": n >= m, "psi": {"length": x, "language": y}, "kl": {...}, "counts":
        {"length": [per bin], "language": {lang: n, ..., "other": n}}}``. PSI and KL compare the
        window with the reference (KL is KL(window || reference)); they are NaN while not
        ``ready``."""
        with self._lock:
            n = len(self._items)
            length_counts = list(self._length_counts)
            language_counts = list(self._language_counts)
        ready = n >= self.min_observations
        nan = float("nan")
        reference = {"length": self.reference.length_probs, "language": self._reference_languages}
        actual = {"length": length_counts, "language": language_counts}
        return {
            "window_observations": n,
            "window": self.window,
            "min_observations": self.min_observations,
            "ready": ready,
            "psi": {f: psi(reference[f], actual[f]) if ready else nan for f in FEATURES},
            "kl": {f: kl_divergence(actual[f], reference[f]) if ready else nan for f in FEATURES},
            "counts": {"length": length_counts, "language": dict(zip(self._languages, language_counts))},
        }

    def _families(self, snap: dict[str, Any] | None) -> list[Metric]:
        psi_family = GaugeMetricFamily(
            "mtforge_drift_psi",
            "Population stability index of the sliding window of posts against the training data "
            "(NaN until the window holds min_observations)",
            labels=["feature"],
        )
        kl_family = GaugeMetricFamily(
            "mtforge_drift_kl",
            "KL divergence KL(window || training data) in nats (NaN until the window holds min_observations)",
            labels=["feature"],
        )
        fill = GaugeMetricFamily("mtforge_drift_window_observations",
                                 "Posts in the drift monitor's sliding window",
                                 value=snap["window_observations"] if snap else None)
        if snap is not None:
            for feature in FEATURES:
                psi_family.add_metric([feature], snap["psi"][feature])
                kl_family.add_metric([feature], snap["kl"][feature])
        return [psi_family, kl_family, fill]

    def describe(self) -> list[Metric]:
        """The metric families, without samples (for registration; no computation)."""
        return self._families(None)

    def collect(self) -> Iterator[Metric]:
        """The metric families with their current values (computed on each scrape)."""
        yield from self._families(self.snapshot())


__all__ = [
    "DEFAULT_WINDOW",
    "EPS",
    "FEATURES",
    "LENGTH_BINS",
    "MIN_OBSERVATIONS",
    "OTHER",
    "PSI_MODERATE",
    "PSI_SIGNIFICANT",
    "DriftMonitor",
    "DriftReference",
    "kl_divergence",
    "length_bin",
    "psi",
    "reference_from_corpus",
    "reference_from_texts",
]
