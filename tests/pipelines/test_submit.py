"""``mtforge submit`` / ``mtforge runs``: the real kfp.Client against the KFP API stand-in."""

from __future__ import annotations

import re
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml

from mtforge.cli import main
from pipelines.runner import resolve_params
from pipelines.submit import Endpoint, check_parameters, compile_package, version_name
from tests.pipelines.kfp_standin import ApiError, KfpStandIn, parse_package

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def kfp_api():
    standin = KfpStandIn()
    url = standin.start()
    standin.url = url
    yield standin
    standin.stop()


def _described() -> str:
    return subprocess.run(["git", "describe", "--tags", "--always", "--dirty"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout.strip()


def test_submit_uploads_a_git_versioned_pipeline_and_runs_it_with_the_resolved_parameters(kfp_api, capsys):
    assert main(["submit", "baseline", "--host", kfp_api.url, "--set", "max_steps=50", "--set", "lr=0.001"]) == 0

    (pipeline,) = kfp_api.pipelines.values()
    assert pipeline["display_name"] == "mtforge-baseline"
    (version,) = kfp_api.versions.values()
    assert re.fullmatch(re.escape(_described()) + r"-[0-9a-f]{8}", version["display_name"])
    assert version["_spec"]["pipelineInfo"]["name"] == "baseline"
    executors = version["_platform"]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert {s["secretName"] for s in executors["exec-train"]["secretAsEnv"]} == {"mtforge-object-store",
                                                                                  "mtforge-mlflow"}
    (experiment,) = kfp_api.experiments.values()
    assert experiment["display_name"] == "mtforge-baseline"  # the pipeline's MLflow experiment parameter
    (run,) = kfp_api.runs.values()
    assert run["experiment_id"] == experiment["experiment_id"]
    assert run["pipeline_version_reference"] == {"pipeline_id": pipeline["pipeline_id"],
                                                 "pipeline_version_id": version["pipeline_version_id"]}
    expected = resolve_params("baseline", None, ["max_steps=50", "lr=0.001"], fingerprint=False, local=False)
    assert run["runtime_config"]["parameters"] == expected
    assert run["runtime_config"]["parameters"]["data"] == "s3://mtforge/data/multi30k"  # no local paths
    out = capsys.readouterr().out
    assert f"{kfp_api.url}/#/runs/details/{run['run_id']}" in out and "uploaded" in out


def test_the_same_spec_reuses_its_version_and_no_cache_uploads_a_version_without_caching(kfp_api, capsys):
    assert main(["submit", "train-lid", "--host", kfp_api.url]) == 0
    assert main(["submit", "train-lid", "--host", kfp_api.url, "--run-name", "second"]) == 0
    assert len(kfp_api.versions) == 1 and len(kfp_api.runs) == 2 and len(kfp_api.experiments) == 1
    assert sum(r.path.endswith("/upload_version") for r in kfp_api.requests) == 1
    assert "already there, reused" in capsys.readouterr().out

    assert main(["submit", "train-lid", "--host", kfp_api.url, "--no-cache"]) == 0
    assert len(kfp_api.versions) == 2
    no_cache = max(kfp_api.versions.values(), key=lambda v: v["created_at"])
    tasks = no_cache["_spec"]["root"]["dag"]["tasks"]
    assert tasks and all(not t.get("cachingOptions", {}).get("enableCache") for t in tasks.values())
    first = min(kfp_api.versions.values(), key=lambda v: v["created_at"])
    assert any(t.get("cachingOptions", {}).get("enableCache") for t in first["_spec"]["root"]["dag"]["tasks"].values())


def test_runs_lists_states_and_versions_and_wait_follows_a_run_to_its_end(kfp_api, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    assert main(["submit", "train-lid", "--host", kfp_api.url, "--run-name", "lid-a"]) == 0
    (run_id,) = kfp_api.runs
    kfp_api.set_state(run_id, "FAILED")
    kfp_api.runs[run_id]["error"] = {"code": 2, "message": "train-lid: OOMKilled"}
    capsys.readouterr()
    assert main(["runs", "--host", kfp_api.url, "--experiment", "mtforge-lid"]) == 0  # the MLflow experiment
    out = capsys.readouterr().out
    (version,) = kfp_api.versions.values()
    assert run_id in out and "lid-a" in out and "FAILED" in out and version["display_name"] in out
    assert "OOMKilled" in out
    assert main(["runs", "--host", kfp_api.url, "--experiment", "nope"]) == 2
    assert "no experiment named 'nope'" in capsys.readouterr().err

    def finish_later():
        time.sleep(0.5)
        kfp_api.set_state(max(kfp_api.runs.values(), key=lambda r: r["created_at"])["run_id"], "SUCCEEDED")

    threading.Thread(target=finish_later, daemon=True).start()
    assert main(["submit", "train-lid", "--host", kfp_api.url, "--wait", "--poll", "0.1"]) == 0
    out = capsys.readouterr().out
    assert ": PENDING" in out and ": SUCCEEDED" in out


def test_the_kfp_experiment_follows_the_runs_mlflow_experiment_unless_named(kfp_api, capsys):
    assert main(["submit", "baseline", "--host", kfp_api.url, "--config", "tiny"]) == 0
    assert [e["display_name"] for e in kfp_api.experiments.values()] == ["mtforge-tiny"]
    assert "in experiment 'mtforge-tiny'" in capsys.readouterr().out
    assert main(["submit", "baseline", "--host", kfp_api.url, "--config", "tiny", "--experiment", "mine"]) == 0
    assert sorted(e["display_name"] for e in kfp_api.experiments.values()) == ["mine", "mtforge-tiny"]
    assert all(r["runtime_config"]["parameters"]["experiment"] == "mtforge-tiny" for r in kfp_api.runs.values())


def test_a_namespace_puts_pipeline_experiment_and_runs_in_a_multi_user_profile(kfp_api):
    kfp_api.multi_user = True
    assert main(["submit", "train-lid", "--host", kfp_api.url, "--namespace", "team-a"]) == 0
    (pipeline,), (experiment,) = kfp_api.pipelines.values(), kfp_api.experiments.values()
    assert pipeline["namespace"] == experiment["namespace"] == "team-a"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("case, args, message", [
    ("unreachable", ["baseline", "--host", "http://127.0.0.1:{port}"], "cannot reach the Kubeflow Pipelines API"),
    ("not kfp", ["baseline", "--host", "{url}/not-kfp"], "does not serve the KFP v2 API"),
    ("unknown pipeline", ["baseline-xl", "--host", "{url}"], "unknown pipeline 'baseline-xl'; pipelines: baseline"),
    ("wrong type", ["baseline", "--host", "{url}", "--set", "max_steps=many"],
     "parameter 'max_steps' of pipeline 'baseline' expects Integer, got 'many' (from --set)"),
    ("fraction for integer", ["baseline", "--host", "{url}", "--set", "nproc=1.5"], "expects Integer, got '1.5'"),
    ("not a boolean", ["distill", "--host", "{url}", "--set", "sample_with_replacement=maybe"], "expects Boolean, got 'maybe'"),
    ("unknown parameter", ["baseline", "--host", "{url}", "--set", "max_step=5"], "unknown parameter(s) 'max_step'"),
    ("no scheme", ["baseline", "--host", "localhost:8080"], "--host must be an http:// or https:// URL"),
])
def test_bad_input_is_a_clear_error_before_anything_is_created(kfp_api, capsys, case, args, message):
    args = [a.format(url=kfp_api.url, port=_closed_port()) for a in args]
    assert main(["submit", *args]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert kfp_api.writes() == []


def test_wrong_credentials_are_refused_before_anything_is_created(kfp_api, capsys):
    kfp_api.auth = "token"
    assert main(["submit", "train-lid", "--host", kfp_api.url, "--token", "stale"]) == 2
    assert "refused the credentials (HTTP 401" in capsys.readouterr().err
    assert main(["runs", "--host", kfp_api.url]) == 2
    assert "refused the credentials" in capsys.readouterr().err
    assert kfp_api.writes() == []
    assert main(["submit", "train-lid", "--host", kfp_api.url, "--token", "good-token"]) == 0
    assert len(kfp_api.runs) == 1


def test_a_gateway_login_redirect_asks_for_the_session_cookie(kfp_api, capsys, monkeypatch):
    kfp_api.auth = "gateway"
    assert main(["submit", "train-lid", "--host", kfp_api.url]) == 2
    err = capsys.readouterr().err
    assert "redirected to a login page (/dex/auth" in err and "--cookie" in err
    assert kfp_api.writes() == []
    monkeypatch.setenv("MTFORGE_KFP_COOKIE", "authservice_session=good")
    assert main(["submit", "train-lid", "--host", kfp_api.url]) == 0


def test_server_side_rejections_name_what_failed(kfp_api, capsys):
    """A run the server rejects (here: its experiment was deleted meanwhile) surfaces the
    server's message, not a stack trace."""
    assert main(["submit", "train-lid", "--host", kfp_api.url]) == 0
    kfp_api.experiments.clear()
    original = kfp_api._create_experiment
    kfp_api._create_experiment = lambda body: {**original(body), "experiment_id": "gone"}
    assert main(["submit", "train-lid", "--host", kfp_api.url]) == 2
    err = capsys.readouterr().err
    assert "creating run" in err and "HTTP 400" in err and "experiment 'gone' not found" in err


# ----------------------------------------------------------------------------- the pieces


def test_parameters_are_checked_against_the_compiled_spec(tmp_path):
    package = compile_package("baseline", tmp_path)
    check_parameters("baseline", package, resolve_params("baseline", local=False, fingerprint=False))
    with pytest.raises(ValueError, match="parameter 'seed' of pipeline 'baseline' is NUMBER_INTEGER, got True"):
        check_parameters("baseline", package, {"seed": True})
    with pytest.raises(ValueError, match="parameter 'lr' of pipeline 'baseline' is NUMBER_DOUBLE, got '0.1'"):
        check_parameters("baseline", package, {"lr": "0.1"})
    with pytest.raises(ValueError, match="unknown parameter"):
        check_parameters("baseline", package, {"sed": 1})


def test_version_name_outside_git_uses_the_package_version(tmp_path):
    package = tmp_path / "p.yaml"
    package.write_text("a: 1\n")
    name = version_name(package, root=tmp_path)
    assert re.fullmatch(r"v\d+\.\d+\.\d+.*-[0-9a-f]{8}", name)
    package.write_text("a: 2\n")
    assert version_name(package, root=tmp_path) != name


def test_the_standin_rejects_what_the_server_would(tmp_path):
    """The stand-in is strict where the API server is: a package with an unknown field, a
    platform spec naming a missing executor, a run parameter of the wrong type."""
    text = compile_package("baseline", tmp_path).read_text()
    spec, platform = parse_package(text)
    docs = list(yaml.safe_load_all(text))
    docs[0]["root"]["dag"]["tasks"]["train"]["cachingOption"] = {}
    with pytest.raises(ApiError, match="cachingOption"):
        parse_package(yaml.safe_dump_all(docs))
    docs = list(yaml.safe_load_all(text))
    docs[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-nope"] = {}
    with pytest.raises(ApiError, match="exec-nope"):
        parse_package(yaml.safe_dump_all(docs))
    from tests.pipelines.kfp_standin import parameter_violations

    assert parameter_violations(spec, {"seed": "1"}) == ["parameter 'seed' is NUMBER_INTEGER, got '1'"]
    assert parameter_violations(spec, {"lr": 1, "seed": 2, "sed": 3}) == ["unknown parameter 'sed'"]


def test_endpoint_headers_carry_token_and_cookie():
    headers = Endpoint("http://h", token="t", cookie="c=1").headers()
    assert headers["Authorization"] == "Bearer t" and headers["Cookie"] == "c=1"


def test_fingerprint_fills_content_hashes_from_the_object_store(kfp_api, s3, tmp_path, shared_data):
    """`--fingerprint` reads the S3 data the cluster will read (ETags), so the cluster's cache
    key follows content; a changed object changes the submitted fingerprint."""
    from mtforge.corpus import fingerprint_source

    s3.make_bucket("fp-data")
    for split in ("train", "val", "test_2016_flickr"):
        for lang in ("en", "de"):
            s3.fput_object("fp-data", f"data/multi30k/{split}.{lang}", str(shared_data / "multi30k" / f"{split}.{lang}"))
    sets = ["--set", "data=s3://fp-data/data/multi30k", "--set", "testsets_root=s3://fp-data/data"]
    assert main(["submit", "baseline", "--host", kfp_api.url, "--fingerprint", *sets]) == 0
    (run,) = kfp_api.runs.values()
    params = run["runtime_config"]["parameters"]
    assert params["train_fingerprint"] == fingerprint_source("s3://fp-data/data/multi30k", "train") != ""
    assert params["valid_fingerprint"] and params["test_fingerprint"]

    changed = tmp_path / "train.de"
    changed.write_text("Ein Hund.\n")
    s3.fput_object("fp-data", "data/multi30k/train.de", str(changed))
    assert main(["submit", "baseline", "--host", kfp_api.url, "--fingerprint", *sets]) == 0
    newest = max(kfp_api.runs.values(), key=lambda r: r["created_at"])
    assert newest["runtime_config"]["parameters"]["train_fingerprint"] != params["train_fingerprint"]


def test_fingerprint_without_the_object_store_is_a_clear_error(kfp_api, capsys, monkeypatch):
    monkeypatch.setenv("MTFORGE_S3_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    assert main(["submit", "baseline", "--host", kfp_api.url, "--fingerprint"]) == 2
    err = capsys.readouterr().err
    assert "s3://mtforge/data/multi30k: cannot reach the S3 endpoint" in err and "MTFORGE_S3_ENDPOINT" in err
    assert kfp_api.requests == []
