"""Submit pipelines to a Kubeflow Pipelines cluster with ``kfp.Client`` and list their runs.

``mtforge submit PIPELINE --host URL`` compiles the pipeline, uploads it as a *version* of the
KFP pipeline ``mtforge-<PIPELINE>`` and starts a run of that version in an experiment:

* the version is named ``<git describe>-<8 hex of the compiled YAML's sha256>``: the commit
  says which code it is, the hash which spec (image, caching, uncommitted edits). Submitting
  the same spec again reuses the version instead of uploading a duplicate;
* everything that can be wrong is checked before anything is created on the cluster: the
  pipeline name, the parameters (names and types, against the compiled spec), and the API
  itself (reachable, accepting the credentials, really the KFP v2 API) — each with an error
  that says what to do.

``mtforge runs --host URL`` lists the runs of an experiment with their states.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

import pipelines
from mtforge.errors import ConfigError, PipelineServiceError
from mtforge.tracking import git_commit

ROOT = Path(__file__).resolve().parents[1]
HEALTHZ = "/apis/v2beta1/healthz"
#: KFP parameter types (``parameterType`` in a compiled spec) → Python types a value may have.
PARAMETER_TYPES: dict[str, tuple[type, ...]] = {
    "STRING": (str,), "NUMBER_INTEGER": (int,), "NUMBER_DOUBLE": (int, float), "BOOLEAN": (bool,),
    "STRUCT": (dict,), "LIST": (list,),
}
FINAL_STATES = ("SUCCEEDED", "FAILED", "SKIPPED", "CANCELED")
PORT_FORWARD_HINT = "kubectl port-forward -n kubeflow svc/ml-pipeline-ui 8080:80, then --host http://localhost:8080"


@dataclass(frozen=True)
class Endpoint:
    """Where the KFP API is and how to authenticate: a bearer token (e.g. a ServiceAccount
    token) and/or a cookie (a Kubeflow gateway session, ``authservice_session=…``)."""

    host: str
    namespace: str | None = None
    token: str | None = None
    cookie: str | None = None

    @property
    def base(self) -> str:
        return self.host.rstrip("/")

    def headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.cookie:
            headers["Cookie"] = self.cookie
        return headers


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect is an answer here (a login page), not something to follow


def _server_message(body: bytes) -> str:
    """The ``message`` (or ``error``) of a KFP/gRPC-gateway JSON error body, else the text."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text[:300]
    return str(data.get("message") or data.get("error") or text)[:300] if isinstance(data, dict) else text[:300]


def check_endpoint(endpoint: Endpoint, timeout_s: float = 10.0) -> dict[str, Any]:
    """``GET /apis/v2beta1/healthz`` once, without following redirects; return its JSON.

    Raises :class:`PipelineServiceError` saying which of these it is: the host cannot be
    reached, it wants a login (a redirect, as the Kubeflow gateway answers without a
    session), it refused the credentials (401/403), or it is not the KFP v2 API.
    """
    if not endpoint.host.startswith(("http://", "https://")):
        raise ConfigError(f"--host must be an http:// or https:// URL, got {endpoint.host!r}")
    url = endpoint.base + HEALTHZ
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, headers=endpoint.headers()), timeout=timeout_s) as resp:
            body = resp.read()
    except urllib.error.HTTPError as exc:
        where = f"the Kubeflow Pipelines API at {endpoint.base}"
        if 300 <= exc.code < 400:
            raise PipelineServiceError(
                f"{where} redirected to a login page ({exc.headers.get('Location', '?')}): it sits behind "
                "authentication; pass the session cookie (--cookie 'authservice_session=…') or a token (--token)"
            ) from None
        if exc.code in (401, 403):
            raise PipelineServiceError(
                f"{where} refused the credentials (HTTP {exc.code}: {_server_message(exc.read())}); "
                "pass a valid --token or --cookie") from None
        if exc.code == 404:
            raise PipelineServiceError(
                f"{endpoint.base} does not serve the KFP v2 API (GET {HEALTHZ}: 404); point --host at the "
                f"ml-pipeline-ui service or the Kubeflow gateway ({PORT_FORWARD_HINT})") from None
        raise PipelineServiceError(f"{where} answered GET {HEALTHZ} with HTTP {exc.code}: "
                                   f"{_server_message(exc.read())}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PipelineServiceError(
            f"cannot reach the Kubeflow Pipelines API at {endpoint.base}: {reason}. Is the address right and "
            f"the port-forward running? ({PORT_FORWARD_HINT})") from None
    try:
        health = json.loads(body)
    except ValueError:
        health = None
    if not isinstance(health, dict):
        raise PipelineServiceError(f"{endpoint.base}{HEALTHZ} did not answer with JSON: is it the KFP API? "
                                   f"({body[:80]!r})")
    return health


@contextlib.contextmanager
def _api_errors(what: str, endpoint: Endpoint) -> Iterator[None]:
    """Turn the client's exceptions into a :class:`PipelineServiceError` naming ``what``."""
    import kfp_server_api
    import urllib3

    try:
        yield
    except kfp_server_api.ApiException as exc:
        body = exc.body if isinstance(exc.body, bytes) else str(exc.body or "").encode()
        raise PipelineServiceError(f"{what} failed at {endpoint.base}: HTTP {exc.status} {_server_message(body)}") from None
    except urllib3.exceptions.HTTPError as exc:
        raise PipelineServiceError(f"{what} failed: {endpoint.base} stopped answering ({exc})") from None


def connect(endpoint: Endpoint):
    """A ``kfp.Client`` for ``endpoint``, after :func:`check_endpoint` passed. The client's
    own chatter (deprecation warnings, printed links) is kept off the console."""
    import kfp

    check_endpoint(endpoint)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), _api_errors("connecting", endpoint):
        warnings.simplefilter("ignore")
        return kfp.Client(host=endpoint.base, namespace=endpoint.namespace or "kubeflow",
                          existing_token=endpoint.token, cookies=endpoint.cookie)


# ----------------------------------------------------------------------------- the package


def compile_package(name: str, out_dir: Path, *, caching: bool = True) -> Path:
    """Compile pipeline ``name`` to ``out_dir/<name>.yaml``; with ``caching=False`` every task's
    cache is switched off in the spec (KFP ignores a run-level caching override for runs of
    an uploaded version, so it must be in the version itself)."""
    from pipelines.compile import compile_one

    path = compile_one(name, out_dir)
    if not caching:
        docs = list(yaml.safe_load_all(path.read_text()))
        for component in [docs[0]["root"], *docs[0].get("components", {}).values()]:
            for task in component.get("dag", {}).get("tasks", {}).values():
                task["cachingOptions"] = {}
        path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path


def spec_parameters(package: Path) -> dict[str, dict[str, Any]]:
    """``root.inputDefinitions.parameters`` of a compiled pipeline."""
    spec = next(yaml.safe_load_all(package.read_text()))
    return spec["root"].get("inputDefinitions", {}).get("parameters", {})


def check_parameters(name: str, package: Path, params: dict[str, Any]) -> None:
    """Every value names a parameter of the compiled pipeline and has its type."""
    declared = spec_parameters(package)
    unknown = sorted(set(params) - set(declared))
    if unknown:
        raise ConfigError(f"unknown parameter(s) {', '.join(map(repr, unknown))} for pipeline {name!r}; "
                          f"valid keys: {', '.join(sorted(declared))}")
    for key, value in params.items():
        kind = declared[key]["parameterType"]
        allowed = PARAMETER_TYPES.get(kind, (object,))
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            raise ConfigError(f"parameter {key!r} of pipeline {name!r} is {kind}, got {value!r}")


def version_name(package: Path, root: Path = ROOT) -> str:
    """``<git describe --tags --always --dirty>-<8 hex of the package's sha256>``; outside a
    git checkout the installed mtforge version stands in for ``git describe``."""
    digest = hashlib.sha256(package.read_bytes()).hexdigest()[:8]
    try:
        described = subprocess.run(["git", "describe", "--tags", "--always", "--dirty"], cwd=root, check=True,
                                   capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        described = ""
    if not described:
        from importlib.metadata import version

        described = f"v{version('mtforge')}"
    return f"{described}-{digest}"


# ----------------------------------------------------------------------------- submission


def _equals(key: str, value: str) -> str:
    return json.dumps({"predicates": [{"operation": "EQUALS", "key": key, "string_value": value}]})


@dataclass
class Submission:
    """What :func:`submit` created or reused."""

    pipeline_id: str
    version_id: str
    version: str
    version_uploaded: bool
    experiment_id: str
    run_id: str
    run_url: str
    client: Any  # the connected kfp.Client, for following the run


def upload_version(client, endpoint: Endpoint, display_name: str, package: Path, version: str,
                   description: str) -> tuple[str, str, bool]:
    """``(pipeline id, version id, uploaded?)``: the pipeline ``display_name`` is created if
    missing (empty, so its first version is ``version``), and ``version`` uploaded unless a
    version of that name exists (same name, same spec hash: reused)."""
    with _api_errors(f"looking up pipeline {display_name!r}", endpoint):
        found = client.list_pipelines(filter=_equals("display_name", display_name), page_size=2,
                                      namespace=endpoint.namespace).pipelines or []
    if len(found) > 1:
        raise PipelineServiceError(f"{endpoint.base} has {len(found)} pipelines named {display_name!r}; "
                                   "delete or rename all but one")
    if found:
        pipeline_id = found[0].pipeline_id
        with _api_errors(f"listing versions of {display_name!r}", endpoint):
            versions = client.list_pipeline_versions(pipeline_id, filter=_equals("display_name", version),
                                                     page_size=1).pipeline_versions or []
        if versions:
            return pipeline_id, versions[0].pipeline_version_id, False
    else:
        body = client.api_models.V2beta1Pipeline(display_name=display_name, name=display_name,
                                                 description=description, namespace=endpoint.namespace)
        with _api_errors(f"creating pipeline {display_name!r}", endpoint):
            pipeline_id = client.pipelines.pipeline_service_create_pipeline(body).pipeline_id
    with _api_errors(f"uploading version {version!r} of {display_name!r}", endpoint), \
            contextlib.redirect_stdout(io.StringIO()):
        uploaded = client.upload_pipeline_version(str(package), version, pipeline_id=pipeline_id,
                                                  description=description)
    return pipeline_id, uploaded.pipeline_version_id, True


def submit(name: str, params: dict[str, Any], endpoint: Endpoint, *, experiment: str, run_name: str | None = None,
           caching: bool = True, service_account: str | None = None, echo: Callable[[str], None] = print,
           ) -> Submission:
    """Upload pipeline ``name`` as a version and start a run of it with ``params``.

    Order: pipeline name, compile, parameters, API reachable and credentials accepted — only
    then is anything created (pipeline if missing, version if new, experiment if missing, run).
    """
    module = pipelines.load(name)
    with tempfile.TemporaryDirectory(prefix="mtforge-submit-") as tmp:
        package = compile_package(name, Path(tmp), caching=caching)
        check_parameters(name, package, params)
        client = connect(endpoint)
        version = version_name(package)
        description = f"{module.pipeline.component_spec.description or name} (mtforge commit {git_commit(ROOT) or 'unknown'})"
        display_name = f"mtforge-{name}"
        pipeline_id, version_id, uploaded = upload_version(client, endpoint, display_name, package, version,
                                                           description)
    echo(f"pipeline {display_name}, version {version} ({'uploaded' if uploaded else 'already there, reused'})")
    with _api_errors(f"creating experiment {experiment!r}", endpoint), contextlib.redirect_stdout(io.StringIO()):
        experiment_id = client.create_experiment(experiment, namespace=endpoint.namespace).experiment_id
    run_name = run_name or f"{name} {version} {time.strftime('%Y-%m-%d %H:%M:%S')}"
    with _api_errors(f"creating run {run_name!r}", endpoint), contextlib.redirect_stdout(io.StringIO()):
        run = client.run_pipeline(experiment_id, run_name, params=params, pipeline_id=pipeline_id,
                                  version_id=version_id, service_account=service_account)
    url = f"{endpoint.base}/#/runs/details/{run.run_id}"
    echo(f"run {run.run_id} in experiment {experiment!r}: {url}")
    return Submission(pipeline_id, version_id, version, uploaded, experiment_id, run.run_id, url, client)


def wait(client, endpoint: Endpoint, run_id: str, *, timeout_s: float, poll_s: float = 10.0,
         echo: Callable[[str], None] = print) -> str:
    """Poll the run until it reaches a final state (returned); echo each state change."""
    deadline = time.monotonic() + timeout_s
    state = None
    while True:
        with _api_errors(f"reading run {run_id}", endpoint):
            new_state = client.get_run(run_id).state
        if new_state != state:
            state = new_state
            echo(f"run {run_id}: {state}")
        if state in FINAL_STATES:
            return state
        if time.monotonic() >= deadline:
            raise PipelineServiceError(f"run {run_id} is still {state} after {timeout_s:g} s "
                                       f"(it keeps running; follow it with `mtforge runs`)")
        time.sleep(poll_s)


# ----------------------------------------------------------------------------- runs


@dataclass
class RunRow:
    run_id: str
    name: str
    state: str
    created: str
    finished: str
    version: str
    error: str


def list_runs(client, endpoint: Endpoint, experiment: str | None, limit: int = 20) -> list[RunRow]:
    """The newest ``limit`` runs (of ``experiment`` if given), newest first, with the name of
    the pipeline version each ran."""
    experiment_id = None
    if experiment:
        with _api_errors(f"looking up experiment {experiment!r}", endpoint):
            found = client.list_experiments(filter=_equals("display_name", experiment), page_size=1,
                                            namespace=endpoint.namespace).experiments or []
        if not found:
            raise ConfigError(f"no experiment named {experiment!r} at {endpoint.base}")
        experiment_id = found[0].experiment_id
    with _api_errors("listing runs", endpoint):
        runs = client.list_runs(experiment_id=experiment_id, namespace=endpoint.namespace, page_size=limit,
                                sort_by="created_at desc").runs or []
    versions: dict[tuple[str, str], str] = {}
    rows = []
    for run in runs:
        ref = run.pipeline_version_reference
        version = ""
        if ref and ref.pipeline_id and ref.pipeline_version_id:
            key = (ref.pipeline_id, ref.pipeline_version_id)
            if key not in versions:
                with _api_errors(f"reading pipeline version {key[1]}", endpoint):
                    versions[key] = client.get_pipeline_version(*key).display_name or ""
            version = versions[key]
        rows.append(RunRow(run.run_id, run.display_name or "", run.state or "", _time(run.created_at),
                           _time(run.finished_at), version, (run.error.message or "") if run.error else ""))
    return rows


def _time(value: Any) -> str:
    """A timestamp for a table; KFP's zero time (an unfinished run) shows as empty."""
    if value is None or getattr(value, "year", 1970) <= 1970:
        return ""
    return value.strftime("%Y-%m-%d %H:%M:%S")
