"""MLflow tracking: where runs are stored, and one MLflow run per pipeline run.

Storage (every function reads the environment at call time):

* ``MTFORGE_HOME`` — the local state directory (default ``./.mtforge``, made absolute);
* ``MLFLOW_TRACKING_URI`` — the tracking store (default: SQLite ``<state dir>/mlflow.db``);
* ``MTFORGE_ARTIFACT_ROOT`` — where a *new* experiment puts its run artifacts (default:
  ``<state dir>/mlartifacts``). An experiment that already exists keeps its own location.

What :func:`log_pipeline_run` records in its run:

* params — the (nested) config flattened to dotted keys, values as strings; a value longer
  than MLflow's limit is truncated, and the untruncated params are also logged as the
  artifact ``params.json``;
* ``<stage>.<metric>`` — one value per stage metric;
* step metrics — e.g. ``train.loss`` at every logged step;
* ``<metric>.<src>-<tgt>.<testset>`` (``bleu``, ``chrf``, ``ter``) per direction and test set,
  with the sacrebleu signatures as tags ``signature.<metric>.<testset>``;
* artifacts — each directory's content under its key as artifact path; a file under its key
  as a folder, or exactly at its key when the key ends with the file's name
  (``evaluation/scores.json``);
* tags — the caller's, plus ``mtforge.version`` and ``mlflow.source.git.commit`` (see
  :func:`git_commit`);
* nested runs — with ``nested=True`` one child run per stage (``<run name>/<stage>``) holding
  that stage's params, metrics and step metrics (those named ``<stage>.…``).

An HTTP tracking server is checked before anything is logged (:func:`require_server`), so a
server that is down fails in seconds with :class:`TrackingUnavailableError` instead of after
MLflow's retries.

Metric, param and tag names are sanitised to what MLflow accepts (letters, digits, ``_ - . /``
and space; anything else becomes ``_``).

This module never imports KFP.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import time
from collections.abc import Iterable, Iterator, Sequence
import subprocess
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from typing import TypeVar

from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, ErrorCode
from mlflow.tracking import MlflowClient
from mlflow.utils.validation import (
    MAX_ENTITY_KEY_LENGTH,
    MAX_METRICS_PER_BATCH,
    MAX_PARAM_VAL_LENGTH,
    MAX_PARAMS_TAGS_PER_BATCH,
    MAX_TAG_VAL_LENGTH,
)

import mtforge
from mtforge.errors import ConfigError, InputNotFoundError, TrackingUnavailableError
from mtforge.evaluation.results import MetricScore
from mtforge.state import state_dir

T = TypeVar("T")

_UNSAFE_NAME_CHARS = re.compile(r"[^\w./\- ]")
_TRUNCATED = "...[truncated]"
# Tracking servers that have an artifact root of their own (MinIO on a cluster): a new
# experiment there uses the server's root unless MTFORGE_ARTIFACT_ROOT says otherwise.
_SERVER_SCHEMES = ("http", "https", "databricks")


def tracking_uri() -> str:
    """``$MLFLOW_TRACKING_URI`` if set, else the SQLite store ``<state dir>/mlflow.db``."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{state_dir()}/mlflow.db"


def artifact_root() -> str:
    """``$MTFORGE_ARTIFACT_ROOT`` if set, else the ``file://`` URI of ``<state dir>/mlartifacts``.

    Used only when an experiment is created (see :func:`ensure_experiment`).
    """
    return os.environ.get("MTFORGE_ARTIFACT_ROOT") or (state_dir() / "mlartifacts").as_uri()


def _client() -> MlflowClient:
    return MlflowClient(tracking_uri=tracking_uri())


def require_server(timeout: float = 5.0) -> None:
    """Raise :class:`TrackingUnavailableError` (naming the URI) unless an ``http(s)`` tracking
    URI answers ``/health`` within ``timeout`` seconds; other stores need no server."""
    uri = tracking_uri()
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout) as reply:
            if reply.status == 200:
                return
            problem = f"HTTP {reply.status}"
    except (urllib.error.URLError, OSError) as exc:
        problem = str(getattr(exc, "reason", exc))
    raise TrackingUnavailableError(f"MLflow tracking server {uri} is not reachable ({problem}); start it or "
                                   "set MLFLOW_TRACKING_URI to a reachable one")


def git_commit(path: str | Path | None = None) -> str | None:
    """The commit of the checkout holding ``path`` (default: this package), else
    ``$MTFORGE_GIT_COMMIT`` (the component images' build argument of that name), else ``None``."""
    where = Path(path) if path else Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=True)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return os.environ.get("MTFORGE_GIT_COMMIT") or None


def _new_experiment_artifact_location() -> str | None:
    """:func:`artifact_root`, or ``None`` (the server's own root) for an unconfigured server."""
    scheme = tracking_uri().split(":", 1)[0]
    if not os.environ.get("MTFORGE_ARTIFACT_ROOT") and scheme in _SERVER_SCHEMES:
        return None
    return artifact_root()


def ensure_experiment(name: str) -> str:
    """Return the id of experiment ``name``, creating (or restoring a deleted) one if needed.

    A new experiment's artifact location is :func:`artifact_root` — so a local SQLite store
    never falls back to MLflow's ``./mlruns`` in the current directory — except on an HTTP
    tracking server with ``MTFORGE_ARTIFACT_ROOT`` unset, where the server's root is used.
    Safe to call concurrently: a creation race resolves to the experiment that won it.
    """
    client = _client()
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        try:
            return client.create_experiment(
                name, artifact_location=_new_experiment_artifact_location()
            )
        except MlflowException as exc:
            if exc.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
                raise
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise
    if experiment.lifecycle_stage == "deleted":
        client.restore_experiment(experiment.experiment_id)
    return experiment.experiment_id


def _safe_name(name: str) -> str:
    """``name`` reduced to a valid MLflow metric/param/tag key (same name in, same name out)."""
    safe = _UNSAFE_NAME_CHARS.sub("_", name)
    # MLflow also rejects names that change under path normalisation ("a//b", "../x", "/x").
    if posixpath.normpath(safe) != safe or safe.startswith(("/", "..")):
        safe = safe.replace("/", "_")
    if safe in ("", ".") or safe.startswith(".."):
        safe = "_" + safe
    return safe[:MAX_ENTITY_KEY_LENGTH]


def _sanitised(items: Iterable[tuple[str, T]], kind: str) -> dict[str, T]:
    """Map of sanitised name → value; two source names that collide are an error."""
    result: dict[str, T] = {}
    origin: dict[str, str] = {}
    for name, value in items:
        safe = _safe_name(name)
        if safe in origin:
            raise ConfigError(
                f"{kind} names {origin[safe]!r} and {name!r} both become {safe!r} in MLflow; "
                "rename one"
            )
        origin[safe] = name
        result[safe] = value
    return result


def _flatten(params: dict[str, object], prefix: str = "") -> Iterator[tuple[str, str]]:
    """Nested dicts become dotted keys; lists/tuples are JSON; everything else is ``str()``."""
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from _flatten(value, f"{name}.")
        elif isinstance(value, (dict, list, tuple)):
            yield name, json.dumps(value, default=str)
        else:
            yield name, str(value)


def _truncate(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - len(_TRUNCATED)] + _TRUNCATED


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def log_pipeline_run(
    *,
    experiment: str,
    run_name: str,
    params: dict[str, object],
    stage_metrics: dict[str, dict[str, float]],
    step_metrics: dict[str, list[tuple[int, float]]],
    scores: list[MetricScore],
    artifacts: dict[str, str],
    tags: dict[str, str] | None = None,
    nested: bool = False,
) -> str:
    """Record one pipeline run as ONE MLflow run in ``experiment``; return its run id.

    ``params`` is the resolved config (nested dicts allowed); ``stage_metrics`` maps a stage to
    its metrics (logged as ``<stage>.<metric>``); ``step_metrics`` maps a metric name to
    ``(step, value)`` pairs; ``scores`` are the evaluation's tidy rows; ``artifacts`` maps an
    artifact path to a local file or directory.
    Every artifact path is checked before the run is created (:class:`InputNotFoundError`), and
    a name collision after sanitising raises :class:`ConfigError`. The run ends FINISHED, or
    FAILED (and the error propagates) if logging fails part-way.
    """
    missing = {key: path for key, path in artifacts.items() if not Path(path).exists()}
    if missing:
        raise InputNotFoundError(
            "artifact(s) to log do not exist: "
            + ", ".join(f"{key}={path!r}" for key, path in sorted(missing.items()))
        )
    flat_params = list(_flatten(params))
    param_values = _sanitised(flat_params, "param")
    single_metrics = [
        (f"{stage}.{name}", float(value))
        for stage, metrics in stage_metrics.items()
        for name, value in metrics.items()
    ]
    single_metrics += [(score.key, float(score.value)) for score in scores]
    metric_values = _sanitised(single_metrics, "metric")
    step_histories = _sanitised(step_metrics.items(), "metric")
    clash = sorted(set(metric_values) & set(step_histories))
    if clash:
        raise ConfigError(f"metric(s) {clash} are given both as single values and as step metrics")
    tag_items = [("mtforge.version", mtforge.__version__)]
    if commit := git_commit():
        tag_items.append(("mlflow.source.git.commit", commit))
    tag_items += (tags or {}).items()
    tag_items += sorted({(f"signature.{s.metric}.{s.testset}", s.signature) for s in scores})
    tag_values = _sanitised(tag_items, "tag")
    artifact_paths = _sanitised(artifacts.items(), "artifact")

    require_server()
    client = _client()
    experiment_id = ensure_experiment(experiment)
    run = client.create_run(experiment_id, run_name=run_name)
    run_id = run.info.run_id
    try:
        now = int(time.time() * 1000)
        metrics = [Metric(key, value, now, 0) for key, value in metric_values.items()]
        metrics += [
            Metric(key, float(value), now, int(step))
            for key, history in step_histories.items()
            for step, value in history
        ]
        _log_batched(client, run_id, metrics,
                     [Param(k, _truncate(v, MAX_PARAM_VAL_LENGTH)) for k, v in param_values.items()])
        tag_list = [RunTag(k, _truncate(str(v), MAX_TAG_VAL_LENGTH)) for k, v in tag_values.items()]
        for chunk in _chunks(tag_list, MAX_PARAMS_TAGS_PER_BATCH):
            client.log_batch(run_id, tags=chunk)
        full_params = json.dumps(dict(flat_params), indent=2, sort_keys=True)
        client.log_text(run_id, full_params, "params.json")
        for key, path in artifact_paths.items():
            if Path(path).is_dir():
                client.log_artifacts(run_id, path, artifact_path=key)
            elif posixpath.basename(key) == Path(path).name:  # "dir/name.ext" → the file itself
                client.log_artifact(run_id, path, artifact_path=posixpath.dirname(key) or None)
            else:
                client.log_artifact(run_id, path, artifact_path=key)
        if nested:
            _log_stage_children(client, experiment_id, run_id, run_name, params, stage_metrics, step_histories)
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
    return run_id


def _log_batched(client: MlflowClient, run_id: str, metrics: list[Metric], params: list[Param]) -> None:
    for chunk in _chunks(metrics, MAX_METRICS_PER_BATCH):
        client.log_batch(run_id, metrics=chunk)
    for chunk in _chunks(params, MAX_PARAMS_TAGS_PER_BATCH):
        client.log_batch(run_id, params=chunk)


def _log_stage_children(client: MlflowClient, experiment_id: str, parent_id: str, run_name: str,
                        params: dict[str, object], stage_metrics: dict[str, dict[str, float]],
                        step_histories: dict[str, list[tuple[int, float]]]) -> None:
    """One FINISHED child run per stage: its config as params, its stats and step metrics."""
    now = int(time.time() * 1000)
    for stage, metrics in stage_metrics.items():
        child = client.create_run(experiment_id, run_name=f"{run_name}/{stage}",
                                  tags={"mlflow.parentRunId": parent_id, "mtforge.stage": stage})
        config = params.get(stage)
        stage_params = _sanitised(_flatten(config), "param") if isinstance(config, dict) else {}
        values = [Metric(k, float(v), now, 0) for k, v in _sanitised(metrics.items(), "metric").items()]
        values += [Metric(key.removeprefix(f"{stage}."), float(value), now, int(step))
                   for key, history in step_histories.items() if key.startswith(f"{stage}.")
                   for step, value in history]
        _log_batched(client, child.info.run_id, values,
                     [Param(k, _truncate(v, MAX_PARAM_VAL_LENGTH)) for k, v in stage_params.items()])
        client.set_terminated(child.info.run_id, "FINISHED")


def find_runs(experiment: str | None = None, run_ids: Sequence[str] = (), max_runs: int = 20) -> list:
    """The runs to compare: ``run_ids`` in the order given, else the newest ``max_runs`` top-level
    (not per-stage child) active runs of ``experiment``.

    Raises :class:`ConfigError` naming an unknown run id, or an unknown experiment (listing the
    experiments there).
    """
    client = _client()
    if run_ids:
        runs = []
        for run_id in run_ids:
            try:
                runs.append(client.get_run(run_id))
            except MlflowException:
                raise ConfigError(f"no MLflow run {run_id!r} at {tracking_uri()}") from None
        return runs
    found = client.get_experiment_by_name(experiment or "")
    if found is None or found.lifecycle_stage == "deleted":
        names = sorted(e.name for e in client.search_experiments())
        raise ConfigError(
            f"no MLflow experiment {experiment!r} at {tracking_uri()}; "
            f"experiments: {', '.join(names) or 'none'}"
        )
    runs = client.search_runs([found.experiment_id], order_by=["attributes.start_time DESC"],
                              max_results=max_runs * 10)
    return [run for run in runs if "mlflow.parentRunId" not in run.data.tags][:max_runs]


def compare_runs(experiment: str | None = None, metric: str = "bleu", max_runs: int = 20,
                 run_ids: Sequence[str] = ()) -> list[dict]:
    """Rows for a comparison table of the runs :func:`find_runs` picks (newest first, or in the
    order of ``run_ids``).

    Each row::

        {"run_id": str, "run_name": str, "status": str,
         "start_time": ISO-8601 UTC str,
         "metrics": {"<direction>.<testset>": value},  # every metric "<metric>.<direction>.<testset>"
         "params": {key: value}}                         # the params whose values differ among the rows
    """
    runs = find_runs(experiment, run_ids, max_runs)
    prefix = f"{metric}."
    all_keys = {key for run in runs for key in run.data.params}
    differing = sorted(k for k in all_keys if len({run.data.params.get(k) for run in runs}) > 1)
    return [
        {
            "run_id": run.info.run_id,
            "run_name": run.info.run_name,
            "status": run.info.status,
            "start_time": datetime.fromtimestamp(
                run.info.start_time / 1000, tz=timezone.utc
            ).isoformat(timespec="seconds"),
            "metrics": {
                key[len(prefix) :]: value
                for key, value in sorted(run.data.metrics.items())
                if key.startswith(prefix)
            },
            "params": {key: run.data.params[key] for key in differing if key in run.data.params},
        }
        for run in runs
    ]
