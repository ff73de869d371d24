"""log_stage_outputs over the real output directories of the tiny pipeline run: one MLflow run
(in a throw-away SQLite store) with the stages' params, metrics, curves, scores and artifacts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from mtforge.registry import download_evaluation
from mtforge.evaluation.results import Evaluation
from mtforge.fingerprint import content_hash
from mtforge.stage import read_stage_record
from mtforge.tracking_report import log_stage_outputs, stage_artifacts, training_curves

EN, DE = "eng_Latn", "deu_Latn"
STAGES = ("spm", "train", "translate", "evaluate")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("report-tracking")
    uri = f"sqlite:///{root}/mlflow.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MTFORGE_HOME", str(root / "home"))
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.delenv("MTFORGE_ARTIFACT_ROOT", raising=False)
        yield root / "home", uri


@pytest.fixture(scope="module")
def logged(store, tiny_pipeline: dict[str, str]):
    """(run id, Markdown summary, client, stage dirs) of one logged pipeline run."""
    stage_dirs = {name: tiny_pipeline[name] for name in STAGES}
    run_id, summary = log_stage_outputs(experiment="tiny", run_name="tiny-run", stage_dirs=stage_dirs,
                                        tags={"pipeline": "tiny"})
    return run_id, summary, MlflowClient(tracking_uri=store[1]), stage_dirs


def test_one_finished_run_in_the_experiment(logged) -> None:
    run_id, _, client, _ = logged
    experiment = client.get_experiment_by_name("tiny")
    runs = client.search_runs([experiment.experiment_id])
    assert [r.info.run_id for r in runs if "mlflow.parentRunId" not in r.data.tags] == [run_id]
    run = client.get_run(run_id)
    assert run.info.run_name == "tiny-run" and run.info.status == "FINISHED"
    assert run.data.tags["pipeline"] == "tiny"
    children = {r.info.run_name: r for r in runs if r.data.tags.get("mlflow.parentRunId") == run_id}
    assert set(children) == {f"tiny-run/{stage}" for stage in STAGES}
    assert children["tiny-run/train"].data.params["sharing"] == "independent"
    assert len(client.get_metric_history(children["tiny-run/train"].info.run_id, "step.loss")) == 4


def test_params_are_each_stages_config_under_its_name(logged) -> None:
    run_id, _, client, stage_dirs = logged
    params = client.get_run(run_id).data.params
    expected = {f"{stage}.{key}": str(value) for stage in STAGES
                for key, value in read_stage_record(stage_dirs[stage])["config"].items()
                if not isinstance(value, dict)}
    assert expected.items() <= params.items()
    assert params["spm.vocab_size"] == "300"
    assert params["train.sharing"] == "independent" and params["train.nproc"] == "2"
    assert params["train.cluster.staging_uri"] == "s3://mtforge/staging"  # nested config, flattened


def test_the_meta_config_and_the_resolved_plan_are_params(logged) -> None:
    run_id, _, client, stage_dirs = logged
    params = client.get_run(run_id).data.params
    assert params["meta_config.enc_sharing"] == params["meta_config.dec_sharing"] == '["LANGUAGE"]'
    assert params[f"plan.tasks.{EN}-{DE}"] == "embeddings/shared encoder/0/eng_Latn decoder/0/deu_Latn"
    assert {params["plan.ranks.0"], params["plan.ranks.1"]} == {f"{EN}-{DE}", f"{DE}-{EN}"}
    assert params["plan.modules"] == "5" and len(params["plan.fingerprint"]) == 64
    assert params["translate.beam_size"] == "2" and params["evaluate.tokenize"] == "13a"


def test_stage_stats_step_curves_and_scores_are_metrics(logged) -> None:
    run_id, _, client, stage_dirs = logged
    metrics = client.get_run(run_id).data.metrics
    summary = json.loads((Path(stage_dirs["train"]) / "train_summary.json").read_text())
    assert metrics["train.steps"] == 20.0
    assert metrics["train.final_loss"] == pytest.approx(summary["final_loss"])
    assert metrics["spm.languages"] == 2.0
    assert metrics[f"translate.sentences.{EN}-{DE}"] == 6.0

    rows = [json.loads(line) for line in (Path(stage_dirs["train"]) / "metrics.jsonl").read_text().splitlines()]
    history = client.get_metric_history(run_id, "train.step.loss")
    assert sorted((m.step, m.value) for m in history) == [(r["step"], pytest.approx(r["loss"])) for r in rows
                                                           if "loss" in r]
    assert [m.step for m in sorted(history, key=lambda m: m.step)] == [5, 10, 15, 20]
    valid = client.get_metric_history(run_id, f"train.step.valid_loss.{DE}-{EN}")
    assert sorted(m.step for m in valid) == [10, 20]

    evaluation = Evaluation(stage_dirs["evaluate"])
    tags = client.get_run(run_id).data.tags
    assert len(evaluation.scores) == 6
    for s in evaluation.scores:  # bleu/chrf/ter.<direction>.tiny
        assert metrics[s.key] == s.value == metrics[f"evaluate.{s.key}"]
        assert metrics[f"evaluate.segments.{s.direction}.tiny"] == 6.0
        assert tags[f"signature.{s.metric}.tiny"] == s.signature
    assert tags["data.evaluate.testsets"] == content_hash(str(Path(stage_dirs["evaluate"]) / "texts"))
    assert tags["data.translate"] == content_hash(str(Path(stage_dirs["translate"]) / "corpus"))


def test_vocab_checkpoint_metrics_report_and_translations_are_artifacts(logged, store) -> None:
    run_id, _, client, stage_dirs = logged
    top = {a.path for a in client.list_artifacts(run_id)}
    assert top == {"vocab", "checkpoint", "train_metrics", "plan", "evaluation", "translations", "params.json"}
    assert {a.path for a in client.list_artifacts(run_id, "evaluation")} == {
        f"evaluation/{name}" for name in ("scores.json", "scores.csv", "report.html", "report.md", "texts",
                                          "heatmaps")}  # not the imported test-set corpora
    assert not next(a for a in client.list_artifacts(run_id, "evaluation") if a.path.endswith(".json")).is_dir
    downloaded = download_evaluation(run_id, store[0] / "downloaded")  # what compare and the gate read back
    original = Evaluation(stage_dirs["evaluate"])
    assert downloaded.scores == original.scores
    assert all(downloaded.texts(*pair) == original.texts(*pair) for pair in original.pairs())
    assert {a.path for a in client.list_artifacts(run_id, "plan")} == {
        "plan/meta_config.yaml", "plan/plan.yaml", "plan/modules.json"}
    assert {a.path for a in client.list_artifacts(run_id, "vocab")} == {"vocab/spm.model"}
    assert {a.path for a in client.list_artifacts(run_id, "translations")} == {
        f"translations/{EN}-{DE}", f"translations/{DE}-{EN}"}
    modules = {a.path for a in client.list_artifacts(run_id, "checkpoint/step-00000020")}
    assert modules == {f"checkpoint/step-00000020/{m}.pt" for m in (
        "embeddings__shared", "encoder__0__eng_Latn", "encoder__0__deu_Latn", "decoder__0__eng_Latn",
        "decoder__0__deu_Latn")}

    on_disk = store[0] / "mlartifacts"
    [artifacts] = list(on_disk.glob(f"*/{run_id}/artifacts")) or list(on_disk.glob(f"{run_id}/artifacts"))
    assert (artifacts / "vocab" / "spm.model").read_bytes() == (Path(stage_dirs["spm"]) / "spm.model").read_bytes()
    assert (artifacts / "checkpoint" / "frame.json").read_text() == (
        Path(stage_dirs["train"]) / "checkpoint" / "frame.json").read_text()
    hyp = f"{EN}-{DE}.txt"
    assert (artifacts / "translations" / f"{EN}-{DE}" / hyp).read_text() == (
        Path(stage_dirs["translate"]) / hyp).read_text()


def test_summary_is_the_markdown_score_table(logged) -> None:
    _, summary, _, stage_dirs = logged
    evaluation = Evaluation(stage_dirs["evaluate"])
    assert "| direction | BLEU | chrF++ | TER | segments |" in summary
    for testset, direction in evaluation.pairs():
        bleu, chrf, ter = (evaluation.value(m, testset, direction) for m in ("bleu", "chrf", "ter"))
        assert f"| {direction} | {bleu:.2f} | {chrf:.2f} | {ter:.2f} | 6 |" in summary


def test_curves_and_artifacts_of_a_partial_set_of_stages(tmp_path: Path, tiny_pipeline: dict[str, str]) -> None:
    """Only the stages given are looked at; a missing metrics file is no curve."""
    assert stage_artifacts({"spm": tiny_pipeline["spm"]}) == {"vocab": str(Path(tiny_pipeline["spm"]) / "spm.model")}
    assert training_curves(tmp_path / "absent.jsonl") == {}
    (tmp_path / "m.jsonl").write_text('{"step": 2, "loss": 1.5, "lr": 0.1}\n{"step": 4, "loss": 1.0, "lr": 0.2}\n')
    assert training_curves(tmp_path / "m.jsonl") == {"train.step.loss": [(2, 1.5), (4, 1.0)],
                                                     "train.step.lr": [(2, 0.1), (4, 0.2)]}
