"""The curation benchmarks in their quick form: the noisy-bitext set is built as documented
and curation removes the rule-detectable noise (a quality check, not a timing); the speed
benchmarks record well-formed results."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from benchmarks import filter_throughput, lid_speed, noisy_bitext
from benchmarks.common import write_result
from tests.benchmarks.test_benchmarks import read_result


def test_noisy_set_has_every_noise_type_and_keeps_duplicates_after_their_originals(shared_data: Path) -> None:
    settings = noisy_bitext.Settings(multi30k_clean=300, tatoeba_clean=50, per_noise=20)
    rows = noisy_bitext.build_noisy_bitext(settings, shared_data)
    counts = Counter(label for *_, label in rows)
    assert counts == {"clean": 350, **{noise: 20 for noise in noisy_bitext.NOISE_TYPES}}
    first = {}
    for index, (src, tgt, label) in enumerate(rows):
        first.setdefault((src, tgt), (index, label))
    assert all(first[(src, tgt)][1] == "clean" for src, tgt, label in rows if label == "duplicate")
    assert all(any(ord(c) > 127 for c in tgt) for _, tgt, label in rows if label == "encoding")


def test_curation_removes_rule_detectable_noise_and_keeps_clean_pairs(shared_data: Path, tmp_path: Path) -> None:
    result = noisy_bitext.run(noisy_bitext.BENCHMARK.quick, "quick")
    scores = result.metrics["scores"]
    assert scores["clean"]["dropped_share"] <= 0.02
    for noise in noisy_bitext.RULE_DETECTABLE:
        assert scores[noise]["recall"] >= 0.95, (noise, scores[noise])
        assert scores[noise]["precision"] >= 0.95, (noise, scores[noise])
    write_result(result, tmp_path)
    assert read_result(tmp_path, "noisy_bitext")["mode"] == "quick"


@pytest.mark.parametrize("module", [filter_throughput, lid_speed], ids=["filter_throughput", "lid_speed"])
def test_speed_benchmarks_record_positive_rates(module, shared_data: Path, tmp_path: Path) -> None:
    result = module.run(module.QUICK, "quick")
    write_result(result, tmp_path)
    data = read_result(tmp_path, module.NAME)
    assert data["mode"] == "quick" and data["table"]


def test_precision_counts_clean_pairs_removed_by_the_same_filters() -> None:
    labels = ["clean", "clean", "clean", "copy", "copy", "truncated"]
    removed = {0: "length_ratio", 3: "identical", 4: "identical", 5: "length_ratio"}
    scores = noisy_bitext.score_removal(labels, removed)
    assert scores["copy"]["recall"] == 1 and scores["copy"]["precision"] == 1
    assert scores["truncated"]["precision"] == 0.5
    assert scores["clean"]["dropped_share"] == 1 / 3 and scores["all"]["precision"] == 0.75
