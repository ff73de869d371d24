"""The curate-bitext and curate-mono pipelines run for real with kfp.local: one task per
shard (ParallelFor), merged; adding a shard re-runs only that shard and what follows."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from mtforge.corpus import Corpus
from mtforge.tracking import tracking_uri
from pipelines.runner import RunReport, resolve_params, run_pipeline
from tests.pipelines.conftest import FAST


def run(name: str, home: Path, monkeypatch: pytest.MonkeyPatch, *sets: str) -> RunReport:
    monkeypatch.setenv("MTFORGE_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return run_pipeline(name, resolve_params(name, None, list(sets)), home, echo=lambda line: None)


def shard_tasks(report: RunReport, status: str) -> int:
    return sum(t.status == status and t.name.startswith("curate-bitext-shard") for t in report.tasks.values())


@pytest.fixture(scope="module")
def raw(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three pair shards of 100 real Multi30k lines each."""
    root = tmp_path_factory.mktemp("raw-shards")
    for lang in ("en", "de"):
        text = (shared_data / "multi30k" / f"train.{lang}").read_text(encoding="utf-8").splitlines()
        for k in range(4):
            (root / f"part{k}.{lang}").write_text("\n".join(text[100 * k:100 * (k + 1)]) + "\n", encoding="utf-8")
    shutil.move(root / "part3.en", root.parent / f"{root.name}-part3.en")
    shutil.move(root / "part3.de", root.parent / f"{root.name}-part3.de")
    return root


def test_adding_a_shard_reruns_only_that_shard_and_the_merge(raw: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    sets = [f"source={raw}", "merge_config={benchmarks: [multi30k-test_2016_flickr]}", "run_name=first"]
    first = run("curate-bitext", tmp_path, monkeypatch, *sets)
    assert shard_tasks(first, "executed") == 3
    run_id = first.output
    metrics = MlflowClient(tracking_uri()).get_run(run_id).data.metrics
    assert metrics["curate.rows_in"] == 300 == metrics["curate.rows_out"] + metrics["curate.excluded"]
    assert metrics["curate.shards"] == 3

    for lang in ("en", "de"):
        shutil.copy(raw.parent / f"{raw.name}-part3.{lang}", raw / f"part3.{lang}")
    second = run("curate-bitext", tmp_path, monkeypatch, *sets)
    assert shard_tasks(second, "cached") == 3
    assert shard_tasks(second, "executed") == 1
    assert {"list-shards", "curate-bitext-merge", "track"} <= {t.name for t in second.tasks.values()
                                                             if t.status == "executed"}
    metrics = MlflowClient(tracking_uri()).get_run(second.output).data.metrics
    assert metrics["curate.rows_in"] == 400 and metrics["curate.shards"] == 4


def test_curate_mono_runs_end_to_end(shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    for lang in ("eng_Latn", "hin_Deva"):
        text = (shared_data / "flores200" / "dev" / f"{lang}.dev").read_text(encoding="utf-8").splitlines()
        (raw / f"news.{lang}").write_text("\n".join(" ".join(text[i:i + 2]) for i in range(0, 40, 2)) + "\n",
                                          encoding="utf-8")
    report = run("curate-mono", tmp_path / "home", monkeypatch, f"source={raw}", "eval_data=",
                 "shard_config={lid: {languages: [eng_Latn, hin_Deva]}}")
    metrics = MlflowClient(tracking_uri()).get_run(report.output).data.metrics
    assert metrics["curate.shards"] == 2
    assert metrics["curate.rows_out"] >= 70     # 40 sentences per language, a few may be dropped
    assert metrics["curate.rows_in"] == metrics["curate.rows_out"] + metrics["curate.excluded"]
    assert json.loads(json.dumps(report.params))["languages"] == ""


def test_a_curated_corpus_is_what_baseline_trains_on(raw: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch, small_multi30k: Path) -> None:
    curated = run("curate-bitext", tmp_path, monkeypatch, f"source={raw}", "eval_data=")
    output = MlflowClient(tracking_uri()).get_run(curated.output).data.tags["mtforge.output"]
    kept = MlflowClient(tracking_uri()).get_run(curated.output).data.metrics["curate.rows_out"]
    monkeypatch.setenv("MTFORGE_HOME", str(tmp_path))
    params = resolve_params("baseline", "tiny", [f"data={small_multi30k}", f"train_corpus={output}", *FAST])
    assert params["train_fingerprint"] == Corpus.open(output).content_hash
    trained = run_pipeline("baseline", params, tmp_path, echo=lambda line: None)
    assert "ingest-train" in trained.executed
    metrics = MlflowClient(tracking_uri()).get_run(trained.output).data.metrics
    assert metrics["ingest.rows"] == kept          # one direction, en-de, as curated


def test_a_named_config_passes_sections_as_yaml_the_stages_accept(tmp_path: Path) -> None:
    import yaml

    from mtforge.stages.curate_bitext import CurateShardConfig
    from mtforge.stages.curate_merge import MergeConfig

    params = resolve_params("curate-bitext", "strict", [f"source={tmp_path}"], fingerprint=False)
    shard = CurateShardConfig.parse(yaml.safe_load(params["shard_config"]))
    assert shard.normalise.unicode_form == "NFKC" and next(iter(shard.filters[-1])) == "language_id"
    assert MergeConfig.parse(yaml.safe_load(params["merge_config"])).dedup_keys == ["pair", "src", "tgt"]
