"""A stand-in for the few Kubernetes API endpoints a PyTorchJob client uses, over real HTTP.

There is no cluster here, so tests run the real ``kubernetes`` client against this threaded
``http.server``. It serves

* ``POST/GET/DELETE /apis/kubeflow.org/v1/namespaces/{ns}/pytorchjobs[/{name}]``,
* ``GET /api/v1/namespaces/{ns}/pods?labelSelector=k=v,…``,
* ``GET /api/v1/namespaces/{ns}/pods/{name}/log[?follow=true]`` (plain text, chunked when
  following).

On create it checks the object the way a cluster with the Training Operator would, in the
same order: the CRD's ``openAPIV3Schema`` (vendored from kubeflow/training-operator
release-1.9, see ``data/README.md``; unknown fields are rejected only with
``fieldValidation=Strict``, as the API server does) → 422 ``Invalid`` or 400; then the
operator's validating webhook rules (replica types Master/Worker, a container named
``pytorch`` with an image, one Master replica, a DNS-1035 name) → 403; a name already taken →
409. Accepted jobs are walked through the operator's conditions Created → Running →
Succeeded | Failed (or left Running: ``Scenario.outcome="Hang"``), with master/worker pods
carrying the operator's labels and the scenario's log lines. Every request is recorded.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import os
import re
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema
import kubernetes.client
import yaml

CRD_FILE = Path(__file__).parent / "data" / "kubeflow.org_pytorchjobs.yaml"
JOBS = re.compile(r"^/apis/kubeflow\.org/v1/namespaces/([^/]+)/pytorchjobs(?:/([^/]+))?$")
PODS = re.compile(r"^/api/v1/namespaces/([^/]+)/pods$")
POD_LOG = re.compile(r"^/api/v1/namespaces/([^/]+)/pods/([^/]+)/log$")
DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
WEBHOOK = "validator.pytorchjob.training-operator.kubeflow.org"


@dataclass
class Scenario:
    """What the stand-in's "operator" does with the next jobs."""

    outcome: str = "Succeeded"  # "Succeeded", "Failed" or "Hang" (stays Running)
    master_log: list[str] = field(default_factory=lambda: ["training started", "step 1 loss 9.0", "done"])
    step_s: float = 0.02  # between condition changes and between log lines
    #: Act as the kubelet too: run the Master container's command here (single-node jobs),
    #: with its env, the env of ``secrets[name]`` for each ``envFrom`` secret, and the PET_*
    #: variables the operator sets; its output is the pod log and its exit code the outcome.
    execute: bool = False
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _status(code: int, reason: str, message: str, details: dict | None = None) -> dict:
    """A Kubernetes ``Status`` object."""
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure" if code >= 400 else "Success",
            "message": message, "reason": reason, "details": details or {}, "code": code}


# ------------------------------------------------------------------------------ validation


@functools.cache
def crd_schema() -> dict:
    """The ``openAPIV3Schema`` of version v1 of the vendored PyTorchJob CRD."""
    crd = yaml.load(CRD_FILE.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return version["schema"]["openAPIV3Schema"]


def _closed(schema: Any) -> Any:
    """``schema`` with ``additionalProperties: false`` on every object that lists its properties
    (and does not preserve unknown fields): what ``fieldValidation=Strict`` enforces."""
    if isinstance(schema, list):
        return [_closed(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _closed(v) for k, v in schema.items()}
    if "properties" in schema and "additionalProperties" not in schema \
            and not schema.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


def _path(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "<root>"


@functools.cache
def _validator(strict: bool) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(_closed(crd_schema()) if strict else crd_schema())


def schema_violations(obj: dict, strict: bool) -> tuple[list[str], list[str]]:
    """``(unknown fields, invalid values)`` of ``obj`` under the CRD schema, in the API
    server's wording; unknown fields are looked for only when ``strict``."""
    unknown, invalid = [], []
    for error in sorted(_validator(strict).iter_errors(obj), key=_path):
        if error.validator == "additionalProperties":
            extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
            prefix = "" if not error.absolute_path else _path(error) + "."
            unknown += [f'unknown field "{prefix}{name}"' for name in extra]
        else:
            invalid.append(f"{_path(error)}: Invalid value: {json.dumps(error.instance)[:80]}: {error.message}")
    return unknown, invalid


def webhook_violations(obj: dict) -> list[str]:
    """The Training Operator's validating webhook rules (pkg/webhooks/pytorch, release-1.9)."""
    errors = []
    name = obj.get("metadata", {}).get("name", "")
    if len(name) > 63 or not DNS1035.match(name):
        errors.append(f"metadata.name: Invalid value: {name!r}: should match a DNS-1035 label")
    specs = obj.get("spec", {}).get("pytorchReplicaSpecs")
    if not specs:
        errors.append("spec.pytorchReplicaSpecs: Required value: must be required")
    for rtype, rspec in (specs or {}).items():
        path = f"spec.pytorchReplicaSpecs[{rtype}]"
        if rtype not in ("Master", "Worker"):
            errors.append(f'{path}: Unsupported value: "{rtype}": supported values: "Master", "Worker"')
        containers = rspec.get("template", {}).get("spec", {}).get("containers") or []
        if not containers:
            errors.append(f"{path}.template.spec.containers: Required value: must be specified")
        for i, c in enumerate(containers):
            if not c.get("image"):
                errors.append(f"{path}.template.spec.containers[{i}].image: Required value: must be required")
        if not any(c.get("name") == "pytorch" for c in containers):
            errors.append(f"{path}.template.spec.containers: Required value: "
                          "must have at least one container with name pytorch")
        if rtype == "Master" and rspec.get("replicas") != 1:
            errors.append(f"{path}.replicas: Forbidden: must be 1")
        elif rspec.get("replicas") is not None and rspec["replicas"] < 1:
            errors.append(f"{path}.replicas: Forbidden: must be at least 1")
    return errors


def admission(obj: dict, strict: bool) -> tuple[int, dict] | None:
    """``(code, Status)`` when the API server (and the operator's webhook) would refuse
    ``obj``; None when it is accepted."""
    name = obj.get("metadata", {}).get("name", "")
    unknown, invalid = schema_violations(obj, strict)
    if unknown:
        return 400, _status(400, "BadRequest", "strict decoding error: " + ", ".join(unknown))
    if invalid:
        causes = [{"reason": "FieldValueInvalid", "message": m, "field": m.split(":")[0]} for m in invalid]
        return 422, _status(422, "Invalid", f'PyTorchJob.kubeflow.org "{name}" is invalid: [{", ".join(invalid)}]',
                            {"name": name, "group": "kubeflow.org", "kind": "PyTorchJob", "causes": causes})
    if denied := webhook_violations(obj):
        return 403, _status(403, "Forbidden", f'admission webhook "{WEBHOOK}" denied the request: [{", ".join(denied)}]')
    return None


# ---------------------------------------------------------------------------------- server


class K8sStandIn:
    """The stand-in server; use as a context manager. ``scenario`` applies to jobs created
    after it is set. ``fail_gets`` answers that many next job GETs with 500 (a flaky API
    server). Jobs, pods (with a ``log`` list) and requests are kept in attributes."""

    def __init__(self, scenario: Scenario | None = None) -> None:
        self.scenario = scenario or Scenario()
        self.fail_gets = 0
        self.jobs: dict[tuple[str, str], dict] = {}
        self.pods: dict[tuple[str, str], dict] = {}
        self.requests: list[Request] = []
        self.changed = threading.Condition()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.closed = False

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def api_client(self) -> kubernetes.client.ApiClient:
        """A real ``kubernetes`` client pointed at this server."""
        return kubernetes.client.ApiClient(kubernetes.client.Configuration(host=self.host))

    def __enter__(self) -> K8sStandIn:
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self.changed:
            self.closed = True
            self.changed.notify_all()
        self.server.shutdown()
        self.server.server_close()

    def requests_for(self, method: str, pattern: str = "") -> list[Request]:
        return [r for r in self.requests if r.method == method and pattern in r.path]

    # ---------------------------------------------------------------- the "operator"

    def create(self, ns: str, obj: dict) -> dict:
        name = obj["metadata"]["name"]
        obj = copy.deepcopy(obj)
        obj["metadata"].update(namespace=ns, uid=f"uid-{name}", creationTimestamp=_now())
        obj["status"] = {"conditions": []}
        self.jobs[ns, name] = obj
        self._condition(obj, "Created", "PyTorchJobCreated", f"PyTorchJob {name} is created.")
        threading.Thread(target=self._walk, args=(ns, name, self.scenario), daemon=True).start()
        return obj

    def _condition(self, job: dict, ctype: str, reason: str, message: str) -> None:
        conditions = job["status"]["conditions"]
        if ctype in ("Succeeded", "Failed"):
            for cond in conditions:
                if cond["type"] == "Running":
                    cond["status"] = "False"
        conditions.append({"type": ctype, "status": "True", "reason": reason, "message": message,
                           "lastUpdateTime": _now(), "lastTransitionTime": _now()})

    def _walk(self, ns: str, name: str, sc: Scenario) -> None:
        """Created → pods Pending → Running (log lines appear) → Succeeded | Failed."""
        job = self.jobs[ns, name]

        def step(change) -> bool:
            time.sleep(sc.step_s)
            with self.changed:
                if self.jobs.get((ns, name)) is not job:  # deleted meanwhile
                    return False
                change()
                self.changed.notify_all()
            return True

        def make_pods() -> None:
            for rtype, rspec in job["spec"]["pytorchReplicaSpecs"].items():
                for i in range(rspec.get("replicas", 1)):
                    pod = f"{name}-{rtype.lower()}-{i}"
                    labels = {"training.kubeflow.org/job-name": name, "training.kubeflow.org/replica-type": rtype.lower(),
                              "training.kubeflow.org/replica-index": str(i),
                              "training.kubeflow.org/operator-name": "pytorchjob-controller"}
                    self.pods[ns, pod] = {
                        "apiVersion": "v1", "kind": "Pod",
                        "metadata": {"name": pod, "namespace": ns, "labels": labels},
                        "spec": copy.deepcopy(rspec["template"]["spec"]), "status": {"phase": "Pending"},
                        "log": [] if rtype == "Master" else [f"{pod}: worker output"],
                    }

        def set_phase(phase: str) -> None:
            for pod in self._job_pods(ns, name):
                pod["status"]["phase"] = phase

        def running() -> None:
            set_phase("Running")
            self._condition(job, "Running", "PyTorchJobRunning", f"PyTorchJob {ns}/{name} is running.")

        def finish() -> None:
            set_phase(sc.outcome)
            if sc.outcome == "Succeeded":
                self._condition(job, "Succeeded", "PyTorchJobSucceeded", f"PyTorchJob {ns}/{name} successfully completed.")
            else:
                self._condition(job, "Failed", "PyTorchJobFailed",
                                f"PyTorchJob {name} is failed because 1 Master replica(s) failed.")

        if not (step(make_pods) and step(running)):
            return
        master = self.pods[ns, f"{name}-master-0"]
        if sc.execute:
            code = self._execute(master, sc)
            sc = dataclasses.replace(sc, outcome="Succeeded" if code == 0 else "Failed", master_log=[])
        for line in sc.master_log:
            if not step(lambda line=line: master["log"].append(line)):
                return
        if sc.outcome != "Hang":
            step(finish)

    def _execute(self, pod: dict, sc: Scenario) -> int:
        """Run the pod's ``pytorch`` container command as a local process; its exit code."""
        (container,) = [c for c in pod["spec"]["containers"] if c["name"] == "pytorch"]
        env = dict(os.environ)
        for source in container.get("envFrom", []):
            env.update(sc.secrets[source["secretRef"]["name"]])
        env.update({e["name"]: e["value"] for e in container.get("env", [])})
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        env.update(PET_NNODES="1", PET_NODE_RANK="0", PET_MASTER_ADDR="127.0.0.1", PET_MASTER_PORT=str(port))
        with subprocess.Popen(container["command"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                with self.changed:
                    pod["log"].append(line.rstrip("\n"))
                    self.changed.notify_all()
            return proc.wait()

    def _job_pods(self, ns: str, name: str) -> list[dict]:
        return [p for (pns, _), p in self.pods.items()
                if pns == ns and p["metadata"]["labels"]["training.kubeflow.org/job-name"] == name]

    def delete(self, ns: str, name: str) -> dict:
        """Remove the job and its pods (as garbage collection would); returns the job."""
        with self.changed:
            for pod in self._job_pods(ns, name):
                del self.pods[ns, pod["metadata"]["name"]]
            self.changed.notify_all()
            return self.jobs.pop((ns, name))


def _handler(standin: K8sStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # quiet
            pass

        def _send(self, code: int, body: Any, content_type: str = "application/json") -> None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _request(self) -> tuple[str, dict[str, str], Any]:
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            standin.requests.append(Request(self.command, url.path, query, body))
            return url.path, query, body

        def do_POST(self) -> None:
            path, query, body = self._request()
            if not (m := JOBS.match(path)) or m[2]:
                return self._send(404, _status(404, "NotFound", f"no route for POST {path}"))
            ns = m[1]
            if refused := admission(body, query.get("fieldValidation") == "Strict"):
                return self._send(*refused)
            name = body["metadata"]["name"]
            with standin.changed:
                if (ns, name) in standin.jobs:
                    return self._send(409, _status(409, "AlreadyExists", f'pytorchjobs.kubeflow.org "{name}" already exists'))
                self._send(201, standin.create(ns, body))

        def do_GET(self) -> None:
            path, query, _ = self._request()
            if (m := JOBS.match(path)) and m[2]:
                if standin.fail_gets > 0:
                    standin.fail_gets -= 1
                    return self._send(500, _status(500, "InternalError", "etcdserver: request timed out"))
                with standin.changed:
                    job = copy.deepcopy(standin.jobs.get((m[1], m[2])))
                return self._send(200, job) if job else self._not_found("pytorchjobs.kubeflow.org", m[2])
            if m := PODS.match(path):
                wanted = dict(kv.split("=", 1) for kv in query.get("labelSelector", "").split(",") if kv)
                with standin.changed:
                    items = [{k: v for k, v in p.items() if k != "log"} for (ns, _), p in standin.pods.items()
                             if ns == m[1] and wanted.items() <= p["metadata"]["labels"].items()]
                    return self._send(200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": copy.deepcopy(items)})
            if m := POD_LOG.match(path):
                return self._log(m[1], m[2], query.get("follow", "").lower() in ("true", "1"))
            self._send(404, _status(404, "NotFound", f"no route for GET {path}"))

        def do_DELETE(self) -> None:
            path, _, _ = self._request()
            if not (m := JOBS.match(path)) or not m[2]:
                return self._send(404, _status(404, "NotFound", f"no route for DELETE {path}"))
            if (m[1], m[2]) not in standin.jobs:
                return self._not_found("pytorchjobs.kubeflow.org", m[2])
            self._send(200, standin.delete(m[1], m[2]))

        def _not_found(self, kind: str, name: str) -> None:
            self._send(404, _status(404, "NotFound", f'{kind} "{name}" not found'))

        def _log(self, ns: str, name: str, follow: bool) -> None:
            with standin.changed:
                pod = standin.pods.get((ns, name))
                if pod is None:
                    return self._not_found("pods", name)
                if pod["status"]["phase"] == "Pending":
                    return self._send(400, _status(400, "BadRequest",
                                                   f'container "pytorch" in pod "{name}" is waiting to start: ContainerCreating'))
                if not follow:
                    return self._send(200, "".join(f"{line}\n" for line in pod["log"]), "text/plain")
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            sent = 0
            try:
                while True:
                    with standin.changed:
                        while (not standin.closed and (ns, name) in standin.pods and sent == len(pod["log"])
                               and pod["status"]["phase"] == "Running"):
                            standin.changed.wait(0.5)
                        lines, sent = pod["log"][sent:], len(pod["log"])
                        ended = standin.closed or (ns, name) not in standin.pods or pod["status"]["phase"] != "Running"
                    for line in lines:
                        data = f"{line}\n".encode()
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    self.wfile.flush()
                    if ended:
                        break
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

    return Handler
