"""mtforge.tracking against the real MLflow client and a real SQLite tracking store.

One store serves the whole module (creating an MLflow SQLite schema takes seconds). It is
reached through ``MLFLOW_TRACKING_URI`` — so every test also checks that the override is
honoured — while ``MTFORGE_HOME`` points at a separate state directory that receives the
artifacts.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

from mtforge import tracking
from mtforge.errors import ConfigError, InputNotFoundError, TrackingUnavailableError
from mtforge.evaluation.results import MetricScore
from mtforge.tracking import compare_runs, ensure_experiment, log_pipeline_run


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    """(state dir, tracking URI, working directory) of the module's shared store."""
    root = tmp_path_factory.mktemp("tracking")
    home, db_dir, cwd = root / "home", root / "db", root / "cwd"
    db_dir.mkdir()
    cwd.mkdir()
    uri = f"sqlite:///{db_dir}/override.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MTFORGE_HOME", str(home))
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.delenv("MTFORGE_ARTIFACT_ROOT", raising=False)
        mp.chdir(cwd)
        yield home, uri, cwd


@pytest.fixture(scope="module")
def client(store) -> MlflowClient:
    return MlflowClient(tracking_uri=store[1])


BLEU_SIG = "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0"
CHRF_SIG = "nrefs:1|case:mixed|eff:yes|nc:6|nw:2|space:no|version:2.6.0"


def _score(direction: str, bleu: float, testset: str = "flores200_devtest") -> list[MetricScore]:
    return [MetricScore(testset, direction, "bleu", bleu, BLEU_SIG, 12),
            MetricScore(testset, direction, "chrf", bleu + 20.0, CHRF_SIG, 12)]


@pytest.fixture(scope="module")
def logged(store, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """One fully populated pipeline run; returns (run id, its source artifact folder)."""
    src = tmp_path_factory.mktemp("artifacts")
    (src / "report.html").write_text("<h1>report</h1>")
    (src / "model").mkdir()
    (src / "model" / "frame.json").write_text('{"step": 3}')
    (src / "model" / "spm.vocab").write_text("<unk>\t0\n")
    run_id = log_pipeline_run(
        experiment="full",
        run_name="full-run",
        params={
            "train": {"lr": 0.001, "steps": 3, "sharing": {"encoder": "LANGUAGE"}},
            "langs": ["deu_Latn", "eng_Latn"],
            "note": "x" * (MAX_PARAM_VAL_LENGTH + 100),
            "seed": None,
        },
        stage_metrics={"clean": {"kept": 90.0, "dropped%": 10.0}, "mine": {"pairs": 42}},
        step_metrics={"train.loss": [(1, 3.0), (2, 2.5), (3, 2.25)]},
        scores=_score("deu_Latn-eng_Latn", 21.5) + _score("eng_Latn-deu_Latn", 18.25, "multi30k_test_2016_flickr"),
        artifacts={"report": str(src / "report.html"), "model": str(src / "model")},
        tags={"pipeline": "smoke", "kfp:run": "abc"},
        nested=True,
    )
    return run_id, src


def test_one_run_per_call_with_params_metrics_and_tags(logged, client: MlflowClient) -> None:
    run_id, _ = logged
    experiment = client.get_experiment_by_name("full")
    runs = client.search_runs([experiment.experiment_id])
    assert [r.info.run_id for r in runs if "mlflow.parentRunId" not in r.data.tags] == [run_id]
    run = client.get_run(run_id)
    assert run.info.run_name == "full-run"
    assert run.info.status == "FINISHED"

    params = run.data.params
    assert params["train.lr"] == "0.001"
    assert params["train.steps"] == "3"
    assert params["train.sharing.encoder"] == "LANGUAGE"
    assert json.loads(params["langs"]) == ["deu_Latn", "eng_Latn"]
    assert params["seed"] == "None"
    assert len(params["note"]) <= MAX_PARAM_VAL_LENGTH
    assert params["note"].endswith("[truncated]")

    metrics = run.data.metrics
    assert metrics["clean.kept"] == 90.0
    assert metrics["clean.dropped_"] == 10.0  # '%' is not allowed in an MLflow name
    assert metrics["mine.pairs"] == 42.0
    assert metrics["bleu.deu_Latn-eng_Latn.flores200_devtest"] == 21.5
    assert metrics["chrf.eng_Latn-deu_Latn.multi30k_test_2016_flickr"] == 38.25

    tags = run.data.tags
    assert tags["signature.bleu.flores200_devtest"] == BLEU_SIG
    assert tags["signature.chrf.multi30k_test_2016_flickr"] == CHRF_SIG
    assert tags["pipeline"] == "smoke"
    assert tags["kfp_run"] == "abc"
    assert tags["mtforge.version"]
    assert tags["mlflow.source.git.commit"] == tracking.git_commit() and len(tags["mlflow.source.git.commit"]) == 40


def test_nested_runs_hold_each_stage(logged, client: MlflowClient) -> None:
    """One FINISHED child per stage under the pipeline run, with that stage's params and metrics."""
    run_id, _ = logged
    experiment = client.get_experiment_by_name("full")
    children = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])
                if r.data.tags.get("mlflow.parentRunId") == run_id}
    assert set(children) == {"full-run/clean", "full-run/mine"}
    clean = children["full-run/clean"]
    assert clean.info.status == "FINISHED" and clean.data.metrics == {"kept": 90.0, "dropped_": 10.0}
    assert children["full-run/mine"].data.metrics == {"pairs": 42.0}


def test_a_tracking_server_that_is_down_fails_fast_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket
    import time

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    start = time.monotonic()
    with pytest.raises(TrackingUnavailableError, match=f"http://127.0.0.1:{port} is not reachable"):
        log_pipeline_run(experiment="x", run_name="r", params={}, stage_metrics={}, step_metrics={}, scores=[],
                         artifacts={})
    assert time.monotonic() - start < 30  # MLflow's own retries would take minutes


def test_step_metric_history(logged, client: MlflowClient) -> None:
    history = client.get_metric_history(logged[0], "train.loss")
    assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == [
        (1, 3.0),
        (2, 2.5),
        (3, 2.25),
    ]


def test_artifacts_land_in_the_state_dir_not_cwd(store, logged, client: MlflowClient) -> None:
    home, _, cwd = store
    run_id, _ = logged
    listed = {a.path for a in client.list_artifacts(run_id)}
    assert listed == {"report", "model", "params.json"}
    assert {a.path for a in client.list_artifacts(run_id, "model")} == {
        "model/frame.json",
        "model/spm.vocab",
    }
    artifact_uri = client.get_run(run_id).info.artifact_uri
    assert artifact_uri.startswith((home / "mlartifacts").as_uri())
    on_disk = home / "mlartifacts" / run_id / "artifacts"
    assert (on_disk / "report" / "report.html").read_text() == "<h1>report</h1>"
    assert (on_disk / "model" / "frame.json").read_text() == '{"step": 3}'
    full = json.loads((on_disk / "params.json").read_text())
    assert full["note"] == "x" * (MAX_PARAM_VAL_LENGTH + 100)
    assert not (cwd / "mlruns").exists()


def test_tracking_uri_override_is_honoured(store, logged) -> None:
    home, uri, _ = store
    assert tracking.tracking_uri() == uri
    assert Path(uri.removeprefix("sqlite:///")).is_file()
    assert not (home / "mlflow.db").exists()


def test_default_locations(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MTFORGE_HOME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MTFORGE_ARTIFACT_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    home = tmp_path / ".mtforge"
    assert tracking.state_dir() == home and home.is_dir()
    assert tracking.tracking_uri() == f"sqlite:///{home}/mlflow.db"
    assert tracking.artifact_root() == (home / "mlartifacts").as_uri()
    monkeypatch.setenv("MTFORGE_ARTIFACT_ROOT", "s3://mlflow/artifacts")
    assert tracking.artifact_root() == "s3://mlflow/artifacts"


def test_new_experiments_on_a_server_use_its_artifact_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.kubeflow:5000")
    monkeypatch.delenv("MTFORGE_ARTIFACT_ROOT", raising=False)
    assert tracking._new_experiment_artifact_location() is None
    monkeypatch.setenv("MTFORGE_ARTIFACT_ROOT", "s3://mlflow/artifacts")
    assert tracking._new_experiment_artifact_location() == "s3://mlflow/artifacts"


def test_ensure_experiment_is_idempotent_and_restores_deleted(store, client: MlflowClient) -> None:
    first = ensure_experiment("idempotent")
    assert ensure_experiment("idempotent") == first
    assert client.get_experiment(first).artifact_location == tracking.artifact_root()
    client.delete_experiment(first)
    assert ensure_experiment("idempotent") == first
    assert client.get_experiment(first).lifecycle_stage == "active"


def test_compare_runs_lists_runs_with_their_bleu(store) -> None:
    common = dict(stage_metrics={}, step_metrics={}, artifacts={})
    old = log_pipeline_run(
        experiment="cmp",
        run_name="small",
        params={"train": {"layers": 2}, "seed": 1},
        scores=_score("deu_Latn-eng_Latn", 10.0),
        **common,
    )
    new = log_pipeline_run(
        experiment="cmp",
        run_name="big",
        params={"train": {"layers": 6}, "seed": 1},
        scores=_score("deu_Latn-eng_Latn", 20.0) + _score("eng_Latn-deu_Latn", 15.0),
        **common,
    )
    rows = compare_runs("cmp")
    assert [(r["run_id"], r["run_name"]) for r in rows] == [(new, "big"), (old, "small")]
    d = ".flores200_devtest"
    assert rows[0]["metrics"] == {f"deu_Latn-eng_Latn{d}": 20.0, f"eng_Latn-deu_Latn{d}": 15.0}
    assert rows[1]["metrics"] == {f"deu_Latn-eng_Latn{d}": 10.0}
    assert rows[0]["params"] == {"train.layers": "6"}  # only the params that differ
    assert rows[0]["status"] == "FINISHED" and rows[0]["start_time"].endswith("+00:00")
    assert [r["metrics"] for r in compare_runs("cmp", metric="chrf", max_runs=1)] == [
        {f"deu_Latn-eng_Latn{d}": 40.0, f"eng_Latn-deu_Latn{d}": 35.0}
    ]
    assert [r["run_id"] for r in compare_runs(run_ids=[old, new])] == [old, new]  # ids: in the order given
    with pytest.raises(ConfigError, match="no MLflow run 'feedbeef'"):
        compare_runs(run_ids=["feedbeef"])


def test_compare_runs_unknown_experiment_names_the_known_ones(store, logged) -> None:
    with pytest.raises(ConfigError, match="no MLflow experiment 'nope'.*full"):
        compare_runs("nope")


def test_missing_artifact_fails_before_a_run_exists(store, client: MlflowClient) -> None:
    with pytest.raises(InputNotFoundError, match="model="):
        log_pipeline_run(
            experiment="missing",
            run_name="r",
            params={},
            stage_metrics={},
            step_metrics={},
            scores=[],
            artifacts={"model": "/nonexistent/model"},
        )
    assert client.get_experiment_by_name("missing") is None


def test_names_colliding_after_sanitising_are_an_error(store) -> None:
    with pytest.raises(ConfigError, match="'a:b' and 'a_b'"):
        log_pipeline_run(
            experiment="collide",
            run_name="r",
            params={"a:b": 1, "a_b": 2},
            stage_metrics={},
            step_metrics={},
            scores=[],
            artifacts={},
        )


def test_git_commit_outside_a_checkout_comes_from_the_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In a container image there is no checkout: the commit is the image's build argument."""
    monkeypatch.delenv("MTFORGE_GIT_COMMIT", raising=False)
    assert tracking.git_commit(tmp_path) is None
    monkeypatch.setenv("MTFORGE_GIT_COMMIT", "a" * 40)
    assert tracking.git_commit(tmp_path) == "a" * 40
