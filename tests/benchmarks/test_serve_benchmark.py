"""``serve_load`` end to end at its quick settings on the tiny pipeline's model: real ``mtforge
serve`` subprocesses, locust in subprocesses, every server configuration measured, no 5xx,
every server shut down cleanly, and a well-formed record. Timings are never asserted: the
machine is shared."""

from __future__ import annotations

import json
import random
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from benchmarks import serve_load
from benchmarks.__main__ import BENCHMARKS
from benchmarks.common import write_result

RESULT_FIELDS = {"name", "description", "mode", "settings", "metrics", "table", "machine", "details"}


def test_traffic_is_seeded_post_length_and_zipf(shared_data: Path) -> None:
    """Posts of 1–3 whole captions (each caption once), some with an entity; the same seed gives
    the same posts and stream; popular posts are viewed far more often than rare ones."""
    lines = serve_load.captions(serve_load.POSTS_SPLIT)
    posts = serve_load.build_posts(lines, 200, 0.5, random.Random(1))
    assert posts == serve_load.build_posts(lines, 200, 0.5, random.Random(1)) and len(posts) == 200
    assert len(set(posts)) == len(posts)
    assert all(5 <= len(p.split()) <= 3 * max(len(line.split()) for line in lines) + 2 for p in posts)
    entities = serve_load.EMOJI + serve_load.HASHTAGS + serve_load.URLS + serve_load.MENTIONS
    assert 50 < sum(any(e in p for e in entities) for p in posts) < 150

    stream = serve_load.view_stream(len(posts), 20_000, 1.0, 0.25, seed=3)
    assert stream == serve_load.view_stream(len(posts), 20_000, 1.0, 0.25, seed=3)
    counts = sorted((sum(1 for p, _ in stream if p == k) for k in range(len(posts))), reverse=True)
    weights = serve_load.zipf_weights(len(posts), 1.0)
    assert counts[0] / len(stream) == pytest.approx(weights[0], abs=0.01)
    assert counts[0] > 20 * counts[len(posts) // 2]
    assert sum(lid for _, lid in stream) / len(stream) == pytest.approx(0.25, abs=0.02)
    assert serve_load.request_body("x", lid=True) == {"texts": ["x"], "target_language": "deu_Latn"}
    assert serve_load.request_body("x", lid=False)["source_language"] == "eng_Latn"


@pytest.mark.slow
def test_quick_run_measures_every_server_without_5xx(tiny_pipeline: dict[str, str], tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(serve_load.MODEL_ENV, raising=False)
    monkeypatch.delenv(serve_load.VOCAB_ENV, raising=False)
    assert BENCHMARKS["serve_load"] is serve_load.BENCHMARK
    quick = serve_load.QUICK
    result = serve_load.run(replace(quick, model=tiny_pipeline["train"], vocab=tiny_pipeline["spm"]), "quick")
    assert "locust" not in sys.modules and "gevent" not in sys.modules  # locust ran in subprocesses only

    data = json.loads(write_result(result, tmp_path).read_text())
    assert RESULT_FIELDS <= set(data) and data["mode"] == "quick"
    assert data["settings"]["model"] == tiny_pipeline["train"] and data["details"]["model_source"] == "settings"
    metrics = data["metrics"]
    assert set(metrics["runs"]) == {f"{server}@{clients}" for server, clients in quick.runs}
    assert metrics["http_5xx"] == 0 and metrics["failures"] == 0 and metrics["servers_exited_cleanly"] is True
    for label, run in metrics["runs"].items():
        assert run["requests"] > 0 and run["req_per_s"] > 0, label
        assert 0 < run["p50_ms"] <= run["p95_ms"] <= run["p99_ms"], label
        assert run["http_5xx"] == 0 and run["no_answer"] == 0 and run["failures"] == 0, label
        assert run["server_exited_cleanly"] is True, label
        cached = "cache" in run["server"]
        assert (run["cache_hit_ratio"] > 0) if cached else run["cache_hit_ratio"] == 0, label
        assert run["mean_batch_sentences"] >= 1 and 0 < run["decoded_share"] <= 1, label

    runs = {f"{r['server']}@{r['clients']}": r for r in data["details"]["runs"]}
    for label, run in runs.items():
        assert run["status_codes"] == {"200": run["requests"]}, label
        window = run["server_metrics"]
        assert window["http_5xx"] == 0 and window["status_codes"].get("200", 0) >= run["requests"], label
        assert window["sentences_decoded"] <= window["sentences_asked"], label
        assert run["locust_csv"]["requests"] is not None and run["locust_csv"]["failures_by_status"] == {}, label
        assert not run["server_log_errors"] and run["server_stop_seconds"] is not None, label
    # one request per forward pass without batching; a post's sentences share it
    per_post = max(runs[f"{s}@4"]["server_metrics"]["mean_batch_sentences"] for s in ("cache", "one-at-a-time"))
    assert per_post <= 3
    assert metrics["speedup_clients"] == 4
    assert set(metrics["speedup_over_one_at_a_time"]) == set(serve_load.SERVERS)
    assert metrics["speedup_over_one_at_a_time"]["one-at-a-time"] == 1.0
    assert all(x > 0 for x in metrics["speedup_over_one_at_a_time"].values())
    assert data["details"]["traffic"]["posts"] == quick.posts
    assert any(label.startswith("throughput ÷ one-at-a-time") for label, _ in data["table"])


def test_serve_quantize_quick_on_the_tiny_model(tiny_pipeline: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """int8 vs float32 through the server's model code: both variants score every sentence,
    int8 modules are smaller, and the quantisation switch does not leak out of the run."""
    import torch

    from benchmarks import serve_quantize

    monkeypatch.setenv(serve_quantize.MODEL_ENV, tiny_pipeline["train"])
    monkeypatch.setenv(serve_quantize.VOCAB_ENV, tiny_pipeline["spm"])
    result = BENCHMARKS["serve_quantize"].run(replace(serve_quantize.QUICK, sentences=12), "quick")
    assert set(result.metrics["sentences_per_s"]) == {"float32", "int8"}
    assert result.metrics["memory_ratio"] < 1 and 0 <= result.metrics["hypotheses_differ"] <= 12
    assert result.details["model"] == f"${serve_quantize.MODEL_ENV}"
    assert torch.backends.mha.get_fastpath_enabled()


def test_decode_speed_quick_finds_identical_hypotheses(tiny_pipeline: dict[str, str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks import decode_speed, serve_quantize

    monkeypatch.setenv(serve_quantize.MODEL_ENV, tiny_pipeline["train"])
    monkeypatch.setenv(serve_quantize.VOCAB_ENV, tiny_pipeline["spm"])
    result = BENCHMARKS["decode_speed"].run(replace(decode_speed.QUICK, sentences=8), "quick")
    assert result.metrics["hypotheses_differ"] == {1: 0, 8: 0}
    assert set(result.metrics["sentences_per_s"][8]) == {"full-prefix", "incremental"}
