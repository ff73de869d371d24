"""track(): the pipeline's MLflow run, its registered model and the promotion gate, and the
pending record + ``mtforge track --resume`` when the tracking server is down."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from mtforge.cli import main
from mtforge.errors import InputNotFoundError, TrackingUnavailableError
from mtforge.track_pipeline import TrackRequest, pending_dir, track

STAGES = ("spm", "train", "evaluate")


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MTFORGE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MTFORGE_ARTIFACT_ROOT", raising=False)
    return uri


def request(tiny_pipeline: dict[str, str], **extra) -> TrackRequest:
    return TrackRequest(experiment="tracked", run_name="tiny", stage_dirs={s: tiny_pipeline[s] for s in STAGES},
                        **extra)


def test_the_first_model_is_registered_and_becomes_champion(store: str, tiny_pipeline: dict[str, str],
                                                            tmp_path: Path) -> None:
    result = track(request(tiny_pipeline, register_as="tiny-model"))
    client = MlflowClient(store)
    assert result.model_version == "1" and result.decision.promoted
    assert str(client.get_model_version_by_alias("tiny-model", "champion").version) == "1"
    tags = client.get_run(result.run_id).data.tags
    assert tags["registry.version"] == "tiny-model/1" and tags["registry.decision"] == "promoted"
    # The same pipeline outputs tracked again: a second run, but still one registered model version
    # per run, and an identical candidate does not regress against the champion.
    assert "Nothing compared: first champion" in result.comparison_html
    again = track(request(tiny_pipeline, register_as="tiny-model"))
    assert again.run_id != result.run_id
    versions = client.search_model_versions("name='tiny-model'")
    assert sorted(v.run_id for v in versions) == sorted([result.run_id, again.run_id])
    # The second version is compared with the champion: the page and table are in the run.
    assert again.decision.promoted and again.decision.previous_champion == "1"
    assert 'id="comparison"' in again.comparison_html and "champion v1" in again.comparison_html
    listed = {a.path for a in client.list_artifacts(again.run_id, "comparison")}
    assert {"comparison/report.html", "comparison/comparisons.csv", "comparison/heatmaps"} <= listed
    table = client.download_artifacts(again.run_id, "comparison/comparisons.csv", str(tmp_path))
    rows = Path(table).read_text().splitlines()
    assert rows[0].startswith("testset,direction,metric,baseline,candidate") and len(rows) == 1 + 4


def test_a_down_server_keeps_the_request_and_resume_logs_it(store: str, tiny_pipeline: dict[str, str],
                                                            monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    with pytest.raises(TrackingUnavailableError) as failure:
        track(request(tiny_pipeline, tags={"pipeline": "tiny"}))
    message = str(failure.value)
    [record] = pending_dir().glob("*.json")
    assert f"127.0.0.1:{port} is not reachable" in message and str(record) in message
    assert "mtforge track --resume" in message
    saved = json.loads(record.read_text())
    assert saved["request"]["stage_dirs"]["train"] == tiny_pipeline["train"]

    assert main(["track", "--resume"]) == 2  # still down: the record stays
    assert record.exists() and "still pending" in capsys.readouterr().err

    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)  # the server is back
    assert main(["track", "--resume"]) == 0
    out = capsys.readouterr().out
    run_id = out.split("logged as MLflow run ")[1].split()[0]
    run = MlflowClient(store).get_run(run_id)
    assert run.data.tags["pipeline"] == "tiny" and any(k.startswith("bleu.") for k in run.data.metrics)
    assert not record.exists()
    assert main(["track", "--resume"]) == 0 and "nothing pending" in capsys.readouterr().out


def test_missing_stage_output_is_named(store: str, tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match="train="):
        track(TrackRequest(experiment="x", run_name="r", stage_dirs={"train": str(tmp_path / "gone")}))
