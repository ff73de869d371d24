"""The mining benchmarks end to end at toy sizes: the numbers they report are the ones the
README quotes, so the comparisons behind them must hold where they are exact."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import encode_speed, mining_speed


def test_mining_speed_flat_and_an_all_lists_ivf_match_the_numpy_reference_fewer_lists_do_not() -> None:
    settings = mining_speed.Settings(n=3000, dim=64, factories=("IVF16,Flat",), nprobes=(1, 16), sample_size=1000,
                                     shards=3, threads=1)
    result = mining_speed.run(settings)
    metrics = result.metrics
    # exact search: the same pairs (their order may differ where float32 scores tie)
    assert metrics["pair_precision_vs_reference"]["mtforge Flat"] == metrics["pair_recall_vs_reference"]["mtforge Flat"] == 1.0
    # nprobe = nlist visits every list: exact search, whatever the clustering
    assert metrics["knn_recall_vs_exact"]["mtforge IVF16,Flat nprobe 16"] > 0.999
    assert metrics["pair_recall_vs_reference"]["mtforge IVF16,Flat nprobe 16"] > 0.999
    assert metrics["knn_recall_vs_exact"]["mtforge IVF16,Flat nprobe 1"] < 0.999
    # the planted translations are found by the margin (the benchmark's data means something)
    assert metrics["planted_recall"][mining_speed.REFERENCE] > 0.5
    assert set(metrics["speedup_over_reference"]) == {mining_speed.REFERENCE, "mtforge Flat",
                                                          "mtforge IVF16,Flat nprobe 1", "mtforge IVF16,Flat nprobe 16"}


def test_encode_speed_measures_every_encoder_and_search_recall(shared_data: Path) -> None:
    settings = encode_speed.Settings(sentences=16, batch_sizes=(8,), repeats=1, index_size=2000, queries=100,
                                     factory="IVF16,Flat", sample_size=1000, nprobes=(1, 16))
    result = encode_speed.run(settings)
    speeds = result.metrics["sentences_per_s"]
    assert any(name.startswith("student (random init, 4 layers, width 256") for name in speeds)
    assert len(speeds) == 4 and min(speeds.values()) > 0
    recall = result.metrics["search_recall_vs_flat"]
    assert recall["Flat"] == 1.0 and recall["IVF16,Flat nprobe 16"] == pytest.approx(1.0, abs=1e-3)
