"""Drift monitoring: PSI/KL, the training-data reference, the sliding window and its metrics."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from mtforge.corpus import CorpusWriter
from mtforge.errors import ConfigError, InputNotFoundError
from mtforge.serve.drift import (
    LENGTH_BINS,
    OTHER,
    PSI_MODERATE,
    PSI_SIGNIFICANT,
    DriftMonitor,
    DriftReference,
    kl_divergence,
    length_bin,
    psi,
    reference_from_corpus,
    reference_from_texts,
)
from tests.conftest import DE, EN, multi30k_rows


@pytest.fixture(scope="module")
def multi30k(shared_data: Path) -> dict[str, list[str]]:
    """The multi30k training sentences, English and German."""
    root = shared_data / "multi30k"
    return {lang: (root / f"train.{ext}").read_text(encoding="utf-8").splitlines()
            for lang, ext in ((EN, "en"), (DE, "de"))}


def posts(multi30k: dict[str, list[str]], start: int, stop: int, join: int = 1) -> list[tuple[str, str]]:
    """(text, language) pairs from lines [start, stop) of both languages, interleaved; with
    ``join`` > 1 every ``join`` consecutive sentences form one (long) post."""
    out = []
    for i in range(start, stop, join):
        for lang in (EN, DE):
            out.append((" ".join(multi30k[lang][i:i + join]), lang))
    return out


@pytest.fixture(scope="module")
def reference(multi30k: dict[str, list[str]]) -> DriftReference:
    """The reference of multi30k lines 0..5000 (10 000 texts)."""
    return reference_from_texts(posts(multi30k, 0, 5000), source="multi30k train[0:5000]")


def monitor_of(reference: DriftReference, observations: list[tuple[str, str]], **kwargs: object) -> DriftMonitor:
    monitor = DriftMonitor(reference, window=len(observations), **kwargs)
    for text, lang in observations:
        monitor.observe_text(text, lang)
    return monitor


def two_bins(probs: list[float], languages: dict[str, float] | None = None) -> DriftReference:
    """A hand-made reference with two length bins: [0, 10) and [10, inf)."""
    return DriftReference(length_bins=[0, 10, math.inf], length_probs=probs,
                          languages=languages or {EN: 0.5, DE: 0.5}, source="hand", count=100)


# ---------------------------------------------------------------------------------------------
# Bins and divergences
# ---------------------------------------------------------------------------------------------


def test_length_bins_cover_every_length_in_doubling_bins() -> None:
    assert LENGTH_BINS[0] == 0 and LENGTH_BINS[-1] == math.inf
    assert all(b > a for a, b in zip(LENGTH_BINS, LENGTH_BINS[1:]))
    last = len(LENGTH_BINS) - 2
    lengths = (0, 9, 10, 19, 20, 79, 80, 2559, 2560, 10**7)
    assert [length_bin(n) for n in lengths] == [0, 0, 1, 1, 2, 3, 4, last - 1, last, last]
    with pytest.raises(ValueError, match=">= 0"):
        length_bin(-1)


def test_psi_and_kl_match_hand_computed_values() -> None:
    # PSI = (0.25 - 0.5) ln(0.25/0.5) + (0.75 - 0.5) ln(0.75/0.5) = 0.25 (ln 2 + ln 1.5) = 0.25 ln 3
    assert psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.25 * math.log(3))
    assert psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.274653, abs=1e-6)
    # KL(actual || reference) = 0.25 ln(0.25/0.5) + 0.75 ln(0.75/0.5)
    assert kl_divergence([0.25, 0.75], [0.5, 0.5]) == pytest.approx(0.75 * math.log(1.5) - 0.25 * math.log(2))
    assert kl_divergence([0.25, 0.75], [0.5, 0.5]) == pytest.approx(0.130812, abs=1e-6)
    # Counts are normalised: the same distributions as above.
    assert psi([2, 2], [10, 30]) == pytest.approx(0.25 * math.log(3))
    assert kl_divergence([10, 30], [2, 2]) == pytest.approx(kl_divergence([0.25, 0.75], [0.5, 0.5]))
    # PSI is symmetric and equals KL both ways.
    p, q = [0.1, 0.2, 0.7], [0.3, 0.3, 0.4]
    assert psi(p, q) == pytest.approx(psi(q, p))
    assert psi(p, q) == pytest.approx(kl_divergence(p, q) + kl_divergence(q, p))


def test_an_empty_bin_is_floored_at_eps_and_renormalised() -> None:
    eps = 0.01
    e = [1 / 1.01, 0.01 / 1.01]  # expected [1, 0]: 0 raised to eps, then renormalised
    a = [0.5, 0.5]
    by_hand = (a[0] - e[0]) * math.log(a[0] / e[0]) + (a[1] - e[1]) * math.log(a[1] / e[1])
    assert psi([1, 0], [0.5, 0.5], eps=eps) == pytest.approx(by_hand)
    kl_by_hand = a[0] * math.log(a[0] / e[0]) + a[1] * math.log(a[1] / e[1])
    assert kl_divergence([0.5, 0.5], [1, 0], eps=eps) == pytest.approx(kl_by_hand)
    # The default eps keeps it finite, and large.
    assert math.isfinite(psi([1, 0], [0.5, 0.5])) and psi([1, 0], [0.5, 0.5]) > 3


@pytest.mark.parametrize("dist", [[1.0], [0.5, 0.5], [0.2, 0.0, 0.8, 0.0], [3, 1, 0, 7]])
def test_identical_distributions_have_no_drift(dist: list[float]) -> None:
    assert psi(dist, dist) == pytest.approx(0, abs=1e-12)
    assert kl_divergence(dist, dist) == pytest.approx(0, abs=1e-12)


@pytest.mark.parametrize(
    ("expected", "actual", "eps", "message"),
    [
        ([0.5, 0.5], [1.0], 1e-4, "different numbers of bins"),
        ([], [], 1e-4, "empty"),
        ([0, 0], [0.5, 0.5], 1e-4, "sums to 0"),
        ([0.5, 0.5], [1.5, -0.5], 1e-4, "non-negative"),
        ([0.5, 0.5], [math.nan, 1], 1e-4, "finite"),
        ([0.5, 0.5], [0.5, 0.5], 0, "eps"),
    ],
)
def test_bad_distributions_are_rejected(expected: list[float], actual: list[float], eps: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        psi(expected, actual, eps=eps)
    with pytest.raises(ValueError):
        kl_divergence(actual, expected, eps=eps)


# ---------------------------------------------------------------------------------------------
# The monitor on real data
# ---------------------------------------------------------------------------------------------


def test_a_sample_of_the_training_distribution_shows_no_drift(reference: DriftReference,
                                                              multi30k: dict[str, list[str]]) -> None:
    snap = monitor_of(reference, posts(multi30k, 20000, 20500)).snapshot()
    assert snap["window_observations"] == 1000 and snap["ready"]
    for feature in ("length", "language"):
        assert snap["psi"][feature] < PSI_MODERATE, snap
        assert 0 <= snap["kl"][feature] < PSI_MODERATE, snap


def test_long_posts_are_a_significant_length_shift(reference: DriftReference, multi30k: dict[str, list[str]]) -> None:
    snap = monitor_of(reference, posts(multi30k, 20000, 21500, join=3)).snapshot()  # 3 sentences a post
    assert snap["psi"]["length"] > PSI_SIGNIFICANT, snap
    assert snap["kl"]["length"] > PSI_MODERATE, snap
    assert snap["psi"]["language"] < PSI_MODERATE, snap  # the languages did not change


def test_one_language_only_is_a_significant_language_shift(reference: DriftReference,
                                                           multi30k: dict[str, list[str]]) -> None:
    snap = monitor_of(reference, [(t, EN) for t in multi30k[EN][20000:21000]]).snapshot()
    assert snap["psi"]["language"] > PSI_SIGNIFICANT
    # KL(all eng || half eng) = ln 2, less a little for the eps floors of the empty buckets.
    assert snap["kl"]["language"] == pytest.approx(math.log(2), rel=1e-2)
    assert snap["psi"]["length"] < PSI_MODERATE


def test_the_sliding_window_forgets_old_observations(reference: DriftReference,
                                                     multi30k: dict[str, list[str]]) -> None:
    monitor = DriftMonitor(reference, window=1000)
    for text, lang in posts(multi30k, 20000, 21500, join=3):  # 1000 long posts: drift
        monitor.observe_text(text, lang)
    assert monitor.snapshot()["psi"]["length"] > PSI_SIGNIFICANT
    for text, lang in posts(multi30k, 22000, 22500):  # 1000 ordinary posts push them out
        monitor.observe_text(text, lang)
    snap = monitor.snapshot()
    assert snap["window_observations"] == 1000
    assert snap["psi"]["length"] < PSI_MODERATE


def test_window_counts_follow_what_enters_and_leaves() -> None:
    monitor = DriftMonitor(two_bins([0.5, 0.5]), window=3, min_observations=1)
    for length in (1, 2, 30):
        monitor.observe(length, EN)
    assert monitor.snapshot()["counts"] == {"length": [2, 1], "language": {EN: 3, DE: 0, OTHER: 0}}
    monitor.observe(40, DE)  # the first (1, EN) leaves
    monitor.observe(50, DE)  # then (2, EN)
    assert monitor.snapshot()["counts"] == {"length": [0, 3], "language": {EN: 1, DE: 2, OTHER: 0}}


def test_unknown_languages_go_to_other() -> None:
    monitor = DriftMonitor(two_bins([0.5, 0.5]), window=100, min_observations=10)
    for i in range(100):
        monitor.observe(5 if i % 2 else 50, ["fra_Latn", "und", EN, DE][i % 4])
    snap = monitor.snapshot()
    assert snap["counts"]["language"] == {EN: 25, DE: 25, OTHER: 50}
    assert snap["psi"]["length"] == pytest.approx(0, abs=1e-12)
    # Half the posts in a language the reference does not know (eps in the reference): significant.
    assert snap["psi"]["language"] > PSI_SIGNIFICANT


def test_below_the_minimum_fill_the_divergences_are_nan() -> None:
    monitor = DriftMonitor(two_bins([0.5, 0.5]), window=100, min_observations=50)
    for i in range(49):
        monitor.observe(5 if i % 2 else 50, EN)  # 25 long, 24 short
    snap = monitor.snapshot()
    assert snap["window_observations"] == 49 and not snap["ready"]
    assert all(math.isnan(snap[m][f]) for m in ("psi", "kl") for f in ("length", "language"))
    monitor.observe(5, EN)
    snap = monitor.snapshot()
    assert snap["ready"] and snap["psi"]["length"] == pytest.approx(0, abs=1e-12)
    assert snap["psi"]["language"] == pytest.approx(psi([0.5, 0.5, 0], [1, 0, 0]))


@pytest.mark.parametrize(("window", "minimum"), [(0, 1), (10, 11), (10, 0)])
def test_bad_window_settings_are_config_errors(window: int, minimum: int) -> None:
    with pytest.raises(ConfigError):
        DriftMonitor(two_bins([0.5, 0.5]), window=window, min_observations=minimum)


def test_observe_rejects_a_negative_length() -> None:
    with pytest.raises(ValueError):
        DriftMonitor(two_bins([0.5, 0.5])).observe(-1, EN)


# ---------------------------------------------------------------------------------------------
# Prometheus metrics
# ---------------------------------------------------------------------------------------------


def scrape(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
    """Samples of the exposition text as {(name, feature label or ""): value}."""
    text = generate_latest(registry).decode()
    return {(s.name, s.labels.get("feature", "")): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_gauges_are_exported_with_the_monitors_values() -> None:
    registry = CollectorRegistry()
    reference = two_bins([0.8, 0.2], {EN: 0.7, DE: 0.3})
    monitor = DriftMonitor(reference, window=200, registry=registry, min_observations=50)
    text = generate_latest(registry).decode()
    assert "# TYPE mtforge_drift_psi gauge" in text and "# TYPE mtforge_drift_kl gauge" in text
    samples = scrape(registry)
    assert samples[("mtforge_drift_window_observations", "")] == 0
    assert all(math.isnan(samples[(m, f)]) for m in ("mtforge_drift_psi", "mtforge_drift_kl")
               for f in ("length", "language"))

    for i in range(100):  # lengths 50/50 short/long, languages 50/50
        monitor.observe(3 if i % 2 else 300, EN if i < 50 else DE)
    samples = scrape(registry)
    assert samples[("mtforge_drift_window_observations", "")] == 100
    assert samples[("mtforge_drift_psi", "length")] == pytest.approx(psi([0.8, 0.2], [0.5, 0.5]))
    # By hand: (0.5 - 0.2) ln(0.5 / 0.2) + (0.5 - 0.8) ln(0.5 / 0.8)
    assert samples[("mtforge_drift_psi", "length")] == pytest.approx(0.3 * math.log(2.5) - 0.3 * math.log(0.625))
    assert samples[("mtforge_drift_psi", "language")] == pytest.approx(psi([0.7, 0.3, 0], [0.5, 0.5, 0]))
    assert samples[("mtforge_drift_kl", "length")] == pytest.approx(kl_divergence([0.5, 0.5], [0.8, 0.2]))
    assert samples[("mtforge_drift_kl", "language")] == pytest.approx(kl_divergence([0.5, 0.5, 0], [0.7, 0.3, 0]))
    snap = monitor.snapshot()
    assert samples[("mtforge_drift_psi", "length")] == pytest.approx(snap["psi"]["length"])


def test_without_a_registry_nothing_is_registered_until_asked() -> None:
    monitor = DriftMonitor(two_bins([0.5, 0.5]))
    registry = CollectorRegistry()
    assert "mtforge_drift" not in generate_latest(registry).decode()
    registry.register(monitor)
    assert ("mtforge_drift_window_observations", "") in scrape(registry)


def test_concurrent_observations_keep_the_counts_consistent() -> None:
    reference = two_bins([0.5, 0.5])
    threads_n, per_thread = 8, 5000
    languages = [EN, DE, "fra_Latn"]

    def run(monitor: DriftMonitor, seed: int) -> None:
        for i in range(per_thread):
            monitor.observe((seed + i) % 20, languages[(seed + i) % 3])

    def hammer(monitor: DriftMonitor) -> None:
        threads = [threading.Thread(target=run, args=(monitor, k)) for k in range(threads_n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    # A window larger than everything observed: exact totals.
    whole = DriftMonitor(reference, window=threads_n * per_thread)
    hammer(whole)
    expected_lengths = [0, 0]
    expected_languages = {EN: 0, DE: 0, OTHER: 0}
    for k in range(threads_n):
        for i in range(per_thread):
            expected_lengths[length_bin((k + i) % 20, [0, 10, math.inf])] += 1
            lang = languages[(k + i) % 3]
            expected_languages[lang if lang in (EN, DE) else OTHER] += 1
    assert whole.snapshot()["counts"] == {"length": expected_lengths, "language": expected_languages}

    # A small window under eviction: the counters always add up to the fill, and once the
    # window has been refilled with one known observation nothing else is left over.
    small = DriftMonitor(reference, window=500)
    hammer(small)
    snap = small.snapshot()
    assert snap["window_observations"] == 500
    assert sum(snap["counts"]["length"]) == 500 == sum(snap["counts"]["language"].values())
    for _ in range(500):
        small.observe(15, DE)
    assert small.snapshot()["counts"] == {"length": [0, 500], "language": {EN: 0, DE: 500, OTHER: 0}}


# ---------------------------------------------------------------------------------------------
# The reference: building, saving, loading
# ---------------------------------------------------------------------------------------------


def test_reference_from_texts_counts_lengths_and_languages() -> None:
    ref = reference_from_texts([("a" * 5, EN), ("b" * 15, EN), ("c" * 3000, DE), ("ü" * 9, DE)], source="hand")
    assert ref.count == 4 and ref.source == "hand" and ref.length_bins == list(LENGTH_BINS)
    assert ref.length_probs == [0.5, 0.25, 0, 0, 0, 0, 0, 0, 0, 0.25]  # "ü"*9 is 9 characters
    assert ref.languages == {DE: 0.5, EN: 0.5}
    custom = reference_from_texts([("abc", EN), ("abcdef", EN)], source="hand", length_bins=[0, 5, math.inf])
    assert custom.length_probs == [0.5, 0.5]


@pytest.mark.parametrize(
    ("texts", "bins", "message"),
    [
        ([], LENGTH_BINS, "no texts"),
        ([("x", OTHER)], LENGTH_BINS, "reserved"),
        ([("x", EN)], [0, 10], "infinity"),
        ([("x", EN)], [0, 10, 10, math.inf], "increasing"),
    ],
)
def test_bad_reference_inputs_are_config_errors(texts: list[tuple[str, str]], bins: list[float], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        reference_from_texts(texts, source="hand", length_bins=bins)


def test_reference_round_trips_through_standard_json(reference: DriftReference, tmp_path: Path) -> None:
    path = reference.save(tmp_path / "drift.json")
    assert DriftReference.load(path) == reference

    def no_constants(name: str) -> None:
        raise AssertionError(f"non-standard JSON constant {name}")

    data = json.loads(path.read_text(), parse_constant=no_constants)
    assert data["length_bins"][-1] == "Infinity" and data["count"] == 10000


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "Invalid JSON"),
        ('{"length_probs": [1.0], "languages": {"eng_Latn": 1.0}, "source": "s", "count": 1}', "length_probs"),
        ('{"length_bins": [0, "Infinity"], "length_probs": [0.5], "languages": {"eng_Latn": 1.0}, '
         '"source": "s", "count": 1}', "sum to 1"),
        ('{"length_bins": [0, "Infinity"], "length_probs": [1.0], "languages": {"other": 1.0}, '
         '"source": "s", "count": 1}', "reserved"),
        ('{"length_bins": [0, "Infinity"], "length_probs": [1.0], "languages": {"eng_Latn": 1.0}, '
         '"source": "s", "count": 0}', "count"),
        ('{"length_bins": [0, "Infinity"], "length_probs": [1.0], "languages": {"eng_Latn": 1.0}, '
         '"source": "s", "count": 1, "extra": 1}', "extra"),
    ],
)
def test_a_bad_reference_file_is_a_config_error_naming_it(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "drift.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message) as err:
        DriftReference.load(path)
    assert str(path) in str(err.value)


def test_a_missing_reference_file_is_input_not_found(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match="nope.json"):
        DriftReference.load(tmp_path / "nope.json")


def test_reference_from_a_real_corpus(shared_data: Path, tmp_path: Path) -> None:
    rows = multi30k_rows(shared_data, "train", 0, 300)
    with CorpusWriter(tmp_path / "both") as writer:
        writer.write(rows)
    ref = reference_from_corpus(writer.corpus.path)
    assert ref.count == 600 and ref.languages == {DE: 0.5, EN: 0.5}
    assert str(writer.corpus.path) in ref.source and "src side" in ref.source
    by_texts = reference_from_texts([(r["src"], r["src_lang"]) for r in rows], source="rows")
    assert ref.length_probs == pytest.approx(by_texts.length_probs)
    # A monitor fed the same rows sees no drift.
    snap = monitor_of(ref, [(r["src"], r["src_lang"]) for r in rows]).snapshot()
    assert snap["psi"] == pytest.approx({"length": 0, "language": 0}, abs=1e-12)

    # One direction only: the src side is English, the tgt side German.
    with CorpusWriter(tmp_path / "en-de") as writer:
        writer.write([r for r in rows if r["src_lang"] == EN])
    assert reference_from_corpus(writer.corpus.path).languages == {EN: 1.0}
    tgt = reference_from_corpus(writer.corpus.path, side="tgt")
    assert tgt.languages == {DE: 1.0} and "tgt side" in tgt.source
    assert tgt.length_probs == pytest.approx(
        reference_from_texts([(r["tgt"], DE) for r in rows if r["src_lang"] == EN], source="rows").length_probs)


def test_reference_from_corpus_errors(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError):
        reference_from_corpus(tmp_path / "absent")
    with pytest.raises(ConfigError, match="side"):
        reference_from_corpus(tmp_path / "absent", side="both")
    with CorpusWriter(tmp_path / "empty") as writer:
        writer.write([])
    with pytest.raises(ConfigError, match="no texts"):
        reference_from_corpus(writer.corpus.path)
