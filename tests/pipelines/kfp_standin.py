"""A stand-in for the Kubeflow Pipelines v2beta1 REST API, over real HTTP.

No cluster runs here, so ``mtforge submit`` / ``mtforge runs`` tests drive the real
``kfp.Client`` (and its generated ``kfp_server_api``) against this threaded ``http.server``.
It serves the endpoints those commands use — healthz, pipelines (create, list, upload,
upload_version, versions list/get), experiments (create, list), runs (create, list, get) —
and checks what the client sends the way the KFP API server would:

* JSON bodies must deserialize into the ``kfp_server_api`` model of the endpoint: unknown
  fields or values of the wrong type → 400 (checked recursively against the models'
  ``openapi_types``);
* an uploaded package must parse as a KFP ``PipelineSpec`` (and its second document as a
  ``PlatformSpec`` whose ``kubernetes`` executor configs parse as kfp-kubernetes'
  ``KubernetesExecutorConfig``), strictly: unknown fields → 400;
* names are unique (a pipeline per display name, a version name per pipeline) → 409;
* a run must name an existing experiment and pipeline version, and its runtime parameters
  must be inputs of the version's root component with the declared types → 400.

Authentication modes: ``token`` (a bearer token is required: 401 otherwise) or ``gateway``
(like Kubeflow's oauth2-proxy/Dex: without the session cookie a 302 to the login page).
Every request is recorded, so tests can assert what was (not) created.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import kfp_server_api
import yaml
from google.protobuf import json_format
from kfp.kubernetes import kubernetes_executor_config_pb2
from kfp.pipeline_spec import pipeline_spec_pb2

API = "/apis/v2beta1"
#: ``parameterType`` of a PipelineSpec input → JSON types a runtime value may have.
JSON_TYPES: dict[str, tuple[type, ...]] = {
    "STRING": (str,), "NUMBER_INTEGER": (int,), "NUMBER_DOUBLE": (int, float), "BOOLEAN": (bool,),
    "STRUCT": (dict,), "LIST": (list,),
}
_T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


class ApiError(Exception):
    """An error answer: HTTP status and gRPC-gateway style body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def model_violations(data: Any, type_name: str, where: str = "body") -> list[str]:
    """Why ``data`` would not deserialize into the ``kfp_server_api`` type ``type_name``."""
    if type_name == "object":
        return []
    if m := re.fullmatch(r"dict\(str, (.+)\)", type_name):
        if not isinstance(data, dict):
            return [f"{where}: expected an object"]
        return [v for key, value in data.items() for v in model_violations(value, m[1], f"{where}.{key}")]
    if m := re.fullmatch(r"list\[(.+)\]", type_name):
        if not isinstance(data, list):
            return [f"{where}: expected a list"]
        return [v for i, value in enumerate(data) for v in model_violations(value, m[1], f"{where}[{i}]")]
    primitive = {"str": (str,), "int": (int,), "float": (int, float), "bool": (bool,), "datetime": (str,)}
    if type_name in primitive:
        ok = isinstance(data, primitive[type_name]) and not (type_name != "bool" and isinstance(data, bool))
        return [] if ok else [f"{where}: expected {type_name}, got {data!r}"]
    model = getattr(kfp_server_api.models, type_name)
    if not model.openapi_types:  # an enum: a string
        return [] if isinstance(data, str) else [f"{where}: expected a {type_name} name, got {data!r}"]
    if not isinstance(data, dict):
        return [f"{where}: expected a {type_name} object"]
    fields = {json_name: model.openapi_types[attr] for attr, json_name in model.attribute_map.items()}
    out = [f"{where}: unknown field {key!r} for {type_name}" for key in data if key not in fields]
    return out + [v for key, value in data.items() if key in fields and value is not None
                  for v in model_violations(value, fields[key], f"{where}.{key}")]


def parse_package(text: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(pipeline spec, platform spec)`` of an uploaded YAML package, parsed strictly into
    KFP's protobuf messages (as the API server does); ``ApiError(400)`` if it is not one."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise ApiError(400, f"invalid pipeline package: not YAML ({exc})") from None
    if not docs or len(docs) > 2 or not all(isinstance(d, dict) for d in docs):
        raise ApiError(400, "invalid pipeline package: expected a PipelineSpec and an optional PlatformSpec")
    try:
        json_format.ParseDict(docs[0], pipeline_spec_pb2.PipelineSpec())
        platform = docs[1] if len(docs) == 2 else {}
        json_format.ParseDict(platform, pipeline_spec_pb2.PlatformSpec())
        for name, config in platform.get("platforms", {}).get("kubernetes", {}).get("deploymentSpec", {}) \
                .get("executors", {}).items():
            if name not in docs[0].get("deploymentSpec", {}).get("executors", {}):
                raise ApiError(400, f"invalid platform spec: executor {name!r} is not in the pipeline spec")
            json_format.ParseDict(config, kubernetes_executor_config_pb2.KubernetesExecutorConfig())
    except json_format.ParseError as exc:
        raise ApiError(400, f"invalid pipeline package: {exc}") from None
    for key in ("pipelineInfo", "root", "schemaVersion", "deploymentSpec"):
        if key not in docs[0]:
            raise ApiError(400, f"invalid pipeline package: no {key}")
    return docs[0], platform


def parameter_violations(spec: dict[str, Any], values: dict[str, Any]) -> list[str]:
    """Runtime parameters that are not root inputs, have the wrong type, or are missing."""
    declared = spec["root"].get("inputDefinitions", {}).get("parameters", {})
    out = [f"unknown parameter {key!r}" for key in values if key not in declared]
    for key, decl in declared.items():
        if key in values:
            value, kind = values[key], decl["parameterType"]
            allowed = JSON_TYPES[kind]
            if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
                out.append(f"parameter {key!r} is {kind}, got {value!r}")
        elif "defaultValue" not in decl and not decl.get("isOptional"):
            out.append(f"parameter {key!r} is required")
    return out


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any


@dataclass
class KfpStandIn:
    """The server's state and settings; ``start()`` serves it on 127.0.0.1."""

    auth: str = "none"  # none | token | gateway
    token: str = "good-token"
    session_cookie: str = "authservice_session=good"
    multi_user: bool = False
    pipelines: dict[str, dict] = field(default_factory=dict)
    versions: dict[str, dict] = field(default_factory=dict)  # version id → version (with "_spec")
    experiments: dict[str, dict] = field(default_factory=dict)
    runs: dict[str, dict] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._clock = itertools.count()
        self.server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> str:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_port}"

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def writes(self) -> list[Request]:
        """Requests that would create something."""
        return [r for r in self.requests if r.method in ("POST", "PATCH", "DELETE")]

    def set_state(self, run_id: str, state: str) -> None:
        with self._lock:
            self.runs[run_id]["state"] = state
            if state in ("SUCCEEDED", "FAILED", "CANCELED", "SKIPPED"):
                self.runs[run_id]["finished_at"] = self._now()

    # ------------------------------------------------------------------ helpers
    def _now(self) -> str:
        return (_T0 + timedelta(seconds=next(self._clock))).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _authorised(self, headers) -> tuple[int, dict[str, str], dict] | None:
        if self.auth == "token" and headers.get("Authorization") != f"Bearer {self.token}":
            return 401, {}, {"error": "Unauthenticated", "code": 16,
                             "message": "Request header error: there is no user identity header or bad token"}
        if self.auth == "gateway" and self.session_cookie not in (headers.get("Cookie") or ""):
            return 302, {"Location": "/dex/auth?client_id=kubeflow-oidc-authservice"}, {}
        return None

    @staticmethod
    def _filter(items: list[dict], query: dict[str, list[str]]) -> list[dict]:
        if "filter" not in query:
            return items
        predicates = json.loads(query["filter"][0]).get("predicates", [])
        for p in predicates:
            if p.get("operation") not in ("EQUALS", 1):  # protojson: enum name or number
                raise ApiError(400, f"unsupported filter operation {p.get('operation')!r}")
            value = p.get("string_value", p.get("stringValue"))
            items = [i for i in items if i.get(p["key"]) == value]
        return items

    @staticmethod
    def _page(items: list[dict], query: dict[str, list[str]], key: str) -> dict:
        if query.get("sort_by", [""])[0] == "created_at desc":
            items = sorted(items, key=lambda i: i["created_at"], reverse=True)
        start = int(query.get("page_token", ["0"])[0] or 0)
        size = int(query.get("page_size", ["10"])[0] or 10)
        page = items[start:start + size]
        out: dict[str, Any] = {"total_size": len(items)}
        if page:
            out[key] = [{k: v for k, v in i.items() if not k.startswith("_")} for i in page]
        if start + size < len(items):
            out["next_page_token"] = str(start + size)
        return out

    @staticmethod
    def _public(item: dict) -> dict:
        return {k: v for k, v in item.items() if not k.startswith("_")}

    def _check(self, body: Any, model: str) -> dict:
        problems = model_violations(body, model)
        if problems:
            raise ApiError(400, "; ".join(problems))
        return body

    # ------------------------------------------------------------------ endpoints
    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any, files: dict[str, bytes]):
        with self._lock:
            if path == f"{API}/healthz" and method == "GET":
                return {"commit_sha": "standin", "tag_name": "2.5.0", "multi_user": self.multi_user}
            if path == f"{API}/pipelines" and method == "POST":
                return self._create_pipeline(self._check(body, "V2beta1Pipeline"))
            if path == f"{API}/pipelines" and method == "GET":
                items = [p for p in self.pipelines.values()
                         if p.get("namespace", "") == query.get("namespace", [""])[0]]
                return self._page(self._filter(items, query), query, "pipelines")
            if path == f"{API}/pipelines/upload_version" and method == "POST":
                return self._upload_version(query, files)
            if m := re.fullmatch(rf"{API}/pipelines/([^/]+)/versions", path):
                if m[1] not in self.pipelines:
                    raise ApiError(404, f"pipeline {m[1]} not found")
                items = [v for v in self.versions.values() if v["pipeline_id"] == m[1]]
                return self._page(self._filter(items, query), query, "pipeline_versions")
            if m := re.fullmatch(rf"{API}/pipelines/([^/]+)/versions/([^/]+)", path):
                version = self.versions.get(m[2])
                if not version or version["pipeline_id"] != m[1]:
                    raise ApiError(404, f"pipeline version {m[2]} not found")
                return {**self._public(version), "pipeline_spec": version["_spec"]}
            if path == f"{API}/experiments" and method == "POST":
                return self._create_experiment(self._check(body, "V2beta1Experiment"))
            if path == f"{API}/experiments" and method == "GET":
                items = list(self.experiments.values())
                if "namespace" in query:
                    items = [e for e in items if e.get("namespace", "") == query["namespace"][0]]
                return self._page(self._filter(items, query), query, "experiments")
            if path == f"{API}/runs" and method == "POST":
                return self._create_run(self._check(body, "V2beta1Run"))
            if path == f"{API}/runs" and method == "GET":
                items = list(self.runs.values())
                if "experiment_id" in query:
                    items = [r for r in items if r["experiment_id"] == query["experiment_id"][0]]
                return self._page(self._filter(items, query), query, "runs")
            if (m := re.fullmatch(rf"{API}/runs/([^/:]+)", path)) and method == "GET":
                if m[1] not in self.runs:
                    raise ApiError(404, f"run {m[1]} not found")
                return self._public(self.runs[m[1]])
            raise ApiError(404, f"{method} {path}: not served by the stand-in")

    def _create_pipeline(self, body: dict) -> dict:
        name = body.get("display_name") or body.get("name")
        if not name:
            raise ApiError(400, "pipeline display_name is required")
        namespace = body.get("namespace") or ""
        if any(p["display_name"] == name and p.get("namespace", "") == namespace for p in self.pipelines.values()):
            raise ApiError(409, f"Failed to create a pipeline: a pipeline named {name!r} already exists")
        pipeline = {"pipeline_id": str(uuid.uuid4()), "display_name": name, "name": body.get("name") or name,
                    "description": body.get("description", ""), "namespace": namespace, "created_at": self._now()}
        self.pipelines[pipeline["pipeline_id"]] = pipeline
        return pipeline

    def _upload_version(self, query: dict[str, list[str]], files: dict[str, bytes]) -> dict:
        pipeline_id = query.get("pipelineid", [""])[0]
        name = query.get("name", [""])[0]
        if pipeline_id not in self.pipelines:
            raise ApiError(404, f"pipeline {pipeline_id!r} not found")
        if not name:
            raise ApiError(400, "pipeline version name is required")
        if "uploadfile" not in files:
            raise ApiError(400, "no file 'uploadfile' in the multipart body")
        spec, platform = parse_package(files["uploadfile"].decode())
        if any(v["pipeline_id"] == pipeline_id and v["display_name"] == name for v in self.versions.values()):
            raise ApiError(409, f"Failed to create a pipeline version: {name!r} already exists")
        version = {"pipeline_id": pipeline_id, "pipeline_version_id": str(uuid.uuid4()), "display_name": name,
                   "name": name, "description": query.get("description", [""])[0], "created_at": self._now(),
                   "_spec": spec, "_platform": platform}
        self.versions[version["pipeline_version_id"]] = version
        return self._public(version)

    def _create_experiment(self, body: dict) -> dict:
        name = body.get("display_name")
        if not name:
            raise ApiError(400, "experiment display_name is required")
        namespace = body.get("namespace") or ""
        if self.multi_user and not namespace:
            raise ApiError(400, "multi-user mode: an experiment needs a namespace")
        if any(e["display_name"] == name and e.get("namespace", "") == namespace for e in self.experiments.values()):
            raise ApiError(409, f"experiment {name!r} already exists")
        experiment = {"experiment_id": str(uuid.uuid4()), "display_name": name, "namespace": namespace,
                      "description": body.get("description") or "", "created_at": self._now(),
                      "storage_state": "AVAILABLE"}
        self.experiments[experiment["experiment_id"]] = experiment
        return experiment

    def _create_run(self, body: dict) -> dict:
        if body.get("experiment_id") not in self.experiments:
            raise ApiError(400, f"Failed to create a run: experiment {body.get('experiment_id')!r} not found")
        ref = body.get("pipeline_version_reference") or {}
        version = self.versions.get(ref.get("pipeline_version_id", ""))
        if body.get("pipeline_spec") is not None:
            spec = body["pipeline_spec"].get("pipeline_spec", body["pipeline_spec"])
        elif version and version["pipeline_id"] == ref.get("pipeline_id"):
            spec = version["_spec"]
        else:
            raise ApiError(400, f"Failed to create a run: pipeline version {ref!r} not found")
        problems = parameter_violations(spec, (body.get("runtime_config") or {}).get("parameters") or {})
        if problems:
            raise ApiError(400, "Failed to create a run: " + "; ".join(problems))
        run = {**body, "run_id": str(uuid.uuid4()), "state": "PENDING", "storage_state": "AVAILABLE",
               "created_at": self._now(), "scheduled_at": self._now(), "finished_at": "1970-01-01T00:00:00Z"}
        self.runs[run["run_id"]] = run
        return run


def _multipart(content_type: str, raw: bytes) -> dict[str, bytes]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    return {part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
            for part in message.iter_parts()}


def _handler(standin: KfpStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def _serve(self, method: str) -> None:
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            content_type = self.headers.get("Content-Type") or ""
            body, files = None, {}
            if content_type.startswith("multipart/form-data"):
                files = _multipart(content_type, raw)
            elif raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode("utf-8", "replace")
            standin.requests.append(Request(method, url.path, query, body if body is not None else sorted(files)))
            denied = standin._authorised(self.headers)
            if denied:
                return self._send(*denied)
            try:
                self._send(200, {}, standin.handle(method, url.path, query, body, files))
            except ApiError as exc:
                self._send(exc.status, {}, {"error": exc.message, "message": exc.message,
                                            "code": {400: 3, 404: 5, 409: 6}.get(exc.status, 2)})

        def _send(self, status: int, headers: dict[str, str], payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

    return Handler
