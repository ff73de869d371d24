"""Run training as a Kubeflow PyTorchJob (Training Operator, ``kubeflow.org/v1``).

:func:`build_pytorchjob` writes the manifest: one ``Master`` replica plus ``nnodes - 1``
``Worker`` replicas, each pod running the same command (``python -m mtforge.train.remote
JOB_URI``) in a container named ``pytorch`` (the name the operator requires); ``nprocPerNode``
tells the operator to set ``PET_NPROC_PER_NODE``, and it sets ``PET_NNODES``,
``PET_NODE_RANK``, ``PET_MASTER_ADDR`` and ``PET_MASTER_PORT`` itself, which torchrun reads.

:func:`run_pytorchjob` creates the job through the ``kubernetes`` client, follows its status
conditions (Created → Running → Succeeded | Failed), streams the master pod's log, raises
:class:`StageFailedError` when the job fails or runs past its timeout, and deletes the job
(and, through garbage collection, its pods) whatever happens once it was created.

Choices:

* ``restartPolicy: Never`` and ``runPolicy.backoffLimit: 0``: a failed pod fails the job at
  once, so the KFP step fails with that pod's log; retrying is the pipeline's business (a new
  job, with a new name). ``OnFailure`` would restart the container in place, where it would
  start over from an empty work directory and hide the first failure.
* ``runPolicy.cleanPodPolicy: Running``: when the job ends, pods still running (workers
  blocked on a dead master) are removed while finished pods keep their logs until we delete
  the job.
* ``activeDeadlineSeconds`` (the timeout) and ``ttlSecondsAfterFinished`` make the cluster
  enforce the timeout and remove the job even if this client dies before its clean-up.
* ``sidecar.istio.io/inject: "false"`` on the pods: in Kubeflow's Istio-injected namespaces a
  sidecar would keep a finished pod running, so the job would never complete.
"""

from __future__ import annotations

import collections
import hashlib
import os
import json
import math
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from pydantic import BaseModel, ConfigDict, Field

from mtforge.errors import ConfigError, StageFailedError

GROUP, VERSION, PLURAL, KIND = "kubeflow.org", "v1", "pytorchjobs", "PyTorchJob"
CONTAINER = "pytorch"
JOB_NAME_LABEL = "training.kubeflow.org/job-name"
REPLICA_TYPE_LABEL = "training.kubeflow.org/replica-type"
#: The cluster deletes a finished job after this long even if :func:`run_pytorchjob` could not.
FINISHED_TTL_S = 3600
#: Job names are kept this short so that the operator's pod and service names
#: (``<job>-worker-<index>``) stay valid DNS-1035 labels (≤ 63 characters).
MAX_NAME_LEN = 50
TAIL_LINES = 30


class PyTorchJobConfig(BaseModel):
    """Where and how a PyTorchJob runs."""

    model_config = ConfigDict(extra="forbid")

    namespace: str = Field("kubeflow", description="namespace the job is created in")
    image: str = Field(description="container image with mtforge installed")
    nnodes: int = Field(1, ge=1, description="pods: 1 Master + nnodes-1 Workers")
    nproc_per_node: int = Field(1, ge=1, description="training processes per pod (nprocPerNode)")
    cpu: str = Field("2", description="CPU request and limit per pod")
    memory: str = Field("8Gi", description="memory request and limit per pod")
    gpus: int = Field(0, ge=0, description="nvidia.com/gpu per pod")
    env: dict[str, str] = Field(default_factory=dict, description="extra environment (MLFLOW_TRACKING_URI, …)")
    secret_name: str | None = Field(None, description="Secret whose keys become environment (object-store keys)")
    service_account: str | None = Field(None, description="service account of the pods")
    timeout_s: float = Field(86400, gt=0, description="fail (and delete the job) after this many seconds")
    poll_s: float = Field(2.0, gt=0, description="seconds between status polls")


#: Where Kubernetes mounts a pod's service-account namespace.
NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
DEFAULT_NAMESPACE = "kubeflow"


def current_namespace(path: str = NAMESPACE_FILE) -> str:
    """The namespace this pod runs in (so a pipeline step's PyTorchJob lands beside it, where
    the step's service account may create it), or ``kubeflow`` outside a cluster."""
    try:
        with open(path) as f:
            return f.read().strip() or DEFAULT_NAMESPACE
    except OSError:
        return DEFAULT_NAMESPACE


# ----------------------------------------------------------------------------- manifest


def job_name(prefix: str, run_id: str) -> str:
    """A run-unique PyTorchJob name: ``<prefix>-<8 hex of sha256(run_id)>-<4 random hex>``.

    ``prefix`` is lower-cased, runs of characters other than ``[a-z0-9]`` become ``-``, a
    leading digit gets ``j`` in front and it is cut so the name has at most
    :data:`MAX_NAME_LEN` characters; the result is a DNS-1035 label. The hash ties the name
    to the run, the random part keeps a retried step from colliding with the job of its
    previous attempt.
    """
    stem = re.sub(r"[^a-z0-9]+", "-", prefix.lower()).strip("-") or "job"
    if not stem[0].isalpha():
        stem = "j" + stem
    suffix = f"-{hashlib.sha256(run_id.encode()).hexdigest()[:8]}-{secrets.token_hex(2)}"
    return stem[: MAX_NAME_LEN - len(suffix)].rstrip("-") + suffix


def build_pytorchjob(name: str, command: list[str], cfg: PyTorchJobConfig) -> dict[str, Any]:
    """The PyTorchJob manifest (a plain dict) running ``command`` in every pod.

    Master has 1 replica, Worker ``cfg.nnodes - 1`` (left out for a single node); resources
    are both requested and limited; ``cfg.env`` becomes ``env`` and ``cfg.secret_name`` an
    ``envFrom`` secret reference. See the module docstring for the policies chosen.
    """
    amounts: dict[str, str | int] = {"cpu": cfg.cpu, "memory": cfg.memory}
    if cfg.gpus:
        amounts["nvidia.com/gpu"] = cfg.gpus
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": cfg.image,
        "command": list(command),
        "resources": {"requests": dict(amounts), "limits": dict(amounts)},
        "env": [{"name": k, "value": v} for k, v in sorted(cfg.env.items())],
    }
    if cfg.secret_name:
        container["envFrom"] = [{"secretRef": {"name": cfg.secret_name}}]
    pod_spec: dict[str, Any] = {"containers": [container]}
    if cfg.service_account:
        pod_spec["serviceAccountName"] = cfg.service_account
    template = {"metadata": {"annotations": {"sidecar.istio.io/inject": "false"}}, "spec": pod_spec}
    replicas = {"Master": 1, "Worker": cfg.nnodes - 1}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": {"name": name, "namespace": cfg.namespace, "labels": {"app.kubernetes.io/managed-by": "mtforge"}},
        "spec": {
            "nprocPerNode": str(cfg.nproc_per_node),
            "runPolicy": {
                "cleanPodPolicy": "Running",
                "backoffLimit": 0,
                "activeDeadlineSeconds": math.ceil(cfg.timeout_s),
                "ttlSecondsAfterFinished": FINISHED_TTL_S,
            },
            "pytorchReplicaSpecs": {
                rtype: {"replicas": n, "restartPolicy": "Never", "template": template}
                for rtype, n in replicas.items()
                if n > 0
            },
        },
    }


# ------------------------------------------------------------------------------- status


def job_phase(job: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    """The phase of a PyTorchJob object and the condition that says so.

    ``Failed`` or ``Succeeded`` when such a condition is ``"True"`` (terminal, they win),
    else the type of the last ``"True"`` condition in ``status.conditions`` (the operator
    appends them in order: Created, Running, Restarting, Suspended), else ``"Pending"``.
    """
    conditions = [c for c in (job.get("status") or {}).get("conditions") or [] if c.get("status") == "True"]
    for terminal in ("Failed", "Succeeded"):
        for cond in conditions:
            if cond.get("type") == terminal:
                return terminal, cond
    return (conditions[-1]["type"], conditions[-1]) if conditions else ("Pending", None)


# ---------------------------------------------------------------------------------- logs


def _lines(resp: urllib3.BaseHTTPResponse) -> Iterator[str]:
    """Text lines of a streamed HTTP body as they arrive (the last one even without ``\\n``)."""
    buffer = b""
    for chunk in resp.stream(amt=None, decode_content=True):
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            yield line.decode("utf-8", errors="replace")
    if buffer:
        yield buffer.decode("utf-8", errors="replace")


class _MasterLog:
    """The master pod's log: followed in a thread once the pod runs, passed line by line to
    ``echo``; the last :data:`TAIL_LINES` lines are kept for error messages."""

    def __init__(self, core: client.CoreV1Api, namespace: str, job: str, echo: Callable[[str], None]) -> None:
        self.core, self.namespace, self.job, self.echo = core, namespace, job, echo
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self.thread: threading.Thread | None = None
        self.resp: urllib3.BaseHTTPResponse | None = None

    def _pod(self) -> Any | None:
        """The master pod once its container has started (its log exists), else None."""
        selector = f"{JOB_NAME_LABEL}={self.job},{REPLICA_TYPE_LABEL}=master"
        pods = self.core.list_namespaced_pod(self.namespace, label_selector=selector).items
        started = [p for p in pods if p.status and p.status.phase in ("Running", "Succeeded", "Failed")]
        return started[0] if started else None

    def _read(self, pod: str, follow: bool) -> None:
        try:
            self.resp = self.core.read_namespaced_pod_log(
                pod, self.namespace, container=CONTAINER, follow=follow, _preload_content=False)
            for line in _lines(self.resp):
                self.tail.append(line)
                self.echo(line)
        except (ApiException, urllib3.exceptions.HTTPError) as exc:
            self.echo(f"[mtforge] log of pod {pod} ended: {exc}")

    def poll(self) -> None:
        """Start following the log if the master pod has started and we do not yet."""
        if self.thread is None and (pod := self._pod()) is not None:
            self.thread = threading.Thread(target=self._read, args=(pod.metadata.name, True), daemon=True)
            self.thread.start()

    def finish(self, wait_s: float) -> None:
        """Let the log stream end (up to ``wait_s``); if it was never followed, read it once."""
        if self.thread is None:
            if (pod := self._pod()) is not None:
                self._read(pod.metadata.name, follow=False)
            return
        self.thread.join(wait_s)

    def close(self) -> None:
        """Stop following (the job is going away): unblock the reading thread and let it end."""
        if self.thread is not None and self.thread.is_alive() and self.resp is not None:
            self.resp.shutdown()
            self.thread.join(1.0)

    def tail_text(self) -> str:
        return "\n".join(["--- master log (last lines) ---", *self.tail]) if self.tail else "(no master log)"


# ------------------------------------------------------------------------------------ run


def _echo(line: str) -> None:
    print(line, flush=True)  # flushed: our stdout is often a pipe (a KFP task's log)


def default_api_client() -> client.ApiClient:
    """An API client from the in-cluster service account, else from the kubeconfig
    (``$KUBECONFIG`` as it is now, else ``~/.kube/config``); :class:`ConfigError` when there
    is neither."""
    try:
        config.load_incluster_config()
    except config.ConfigException:
        try:
            # the client reads $KUBECONFIG once, at import; read it at call time instead
            config.load_kube_config(config_file=os.environ.get("KUBECONFIG"))
        except config.ConfigException as exc:
            raise ConfigError(f"no Kubernetes credentials: not in a cluster and no usable kubeconfig ({exc})") from None
    return client.ApiClient()


def _api_error(exc: ApiException) -> str:
    """The ``message`` of a Kubernetes ``Status`` body, else the raw body."""
    try:
        return json.loads(exc.body)["message"]
    except (TypeError, ValueError, KeyError):
        return str(exc.body or exc.reason)


def run_pytorchjob(
    manifest: dict[str, Any],
    cfg: PyTorchJobConfig,
    *,
    api_client: client.ApiClient | None = None,
    echo: Callable[[str], None] = _echo,
) -> None:
    """Create the PyTorchJob ``manifest`` in ``cfg.namespace``, wait for it and delete it.

    Returns when the job's ``Succeeded`` condition is true. Phase changes and the master
    pod's log lines go to ``echo``. Raises :class:`StageFailedError` when the API server
    rejects the job (its reason, e.g. the schema violations), when the job fails (the
    condition's reason and message plus the log tail), when it has not finished after
    ``cfg.timeout_s`` seconds, or when it disappears. Once created, the job is deleted on
    every way out (a missing job is fine). ``api_client`` defaults to
    :func:`default_api_client`. Transient API errors (5xx, connection) while polling are
    echoed and retried until the timeout.
    """
    api_client = api_client or default_api_client()
    custom, core = client.CustomObjectsApi(api_client), client.CoreV1Api(api_client)
    name, ns = manifest["metadata"]["name"], cfg.namespace
    ref = f"PyTorchJob {ns}/{name}"
    try:
        custom.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, manifest, field_validation="Strict")
    except ApiException as exc:
        raise StageFailedError(f"{ref} was rejected ({exc.status} {exc.reason}): {_api_error(exc)}") from None
    echo(f"[mtforge] created {ref}")
    log = _MasterLog(core, ns, name, echo)
    try:
        _wait(custom, log, name, cfg, ref, echo)
    finally:
        log.close()
        _delete(custom, name, ns, ref, echo)


def _wait(custom: client.CustomObjectsApi, log: _MasterLog, name: str, cfg: PyTorchJobConfig, ref: str,
          echo: Callable[[str], None]) -> None:
    """Poll the job until it succeeds (return) or fails or times out (StageFailedError)."""
    deadline = time.monotonic() + cfg.timeout_s
    phase = None
    while True:
        try:
            new_phase, cond = job_phase(custom.get_namespaced_custom_object(GROUP, VERSION, cfg.namespace, PLURAL, name))
            log.poll()
        except ApiException as exc:
            if exc.status == 404:
                raise StageFailedError(f"{ref} disappeared while running (deleted by someone else?)") from None
            if exc.status < 500:
                raise
            echo(f"[mtforge] {ref}: API error {exc.status} {exc.reason}; retrying")
        except urllib3.exceptions.HTTPError as exc:
            echo(f"[mtforge] {ref}: API unreachable ({exc}); retrying")
        else:
            if new_phase != phase:
                phase = new_phase
                echo(f"[mtforge] {ref}: {phase}")
            if phase in ("Succeeded", "Failed"):
                log.finish(wait_s=max(10 * cfg.poll_s, 5.0))
                if phase == "Succeeded":
                    return
                assert cond is not None
                raise StageFailedError(
                    f"{ref} failed: {cond.get('reason', '?')}: {cond.get('message', '')}\n{log.tail_text()}")
        if time.monotonic() >= deadline:
            raise StageFailedError(
                f"{ref} did not finish within its timeout of {cfg.timeout_s:g} s (last phase: {phase})\n"
                f"{log.tail_text()}")
        time.sleep(cfg.poll_s)


def _delete(custom: client.CustomObjectsApi, name: str, ns: str, ref: str, echo: Callable[[str], None]) -> None:
    """Delete the job and (in the background) its pods; a job already gone is fine."""
    try:
        custom.delete_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name,
                                               body=client.V1DeleteOptions(propagation_policy="Background"))
        echo(f"[mtforge] deleted {ref}")
    except ApiException as exc:
        if exc.status != 404:
            echo(f"[mtforge] WARNING: could not delete {ref} ({exc.status} {exc.reason}); delete it by hand")
    except urllib3.exceptions.HTTPError as exc:
        echo(f"[mtforge] WARNING: could not delete {ref} ({exc}); delete it by hand")
