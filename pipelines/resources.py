"""Cluster settings of pipeline tasks: what a stage declares (resources, retries, version) and
what every task needs from the cluster (credentials, GPU placement), set through KFP and
``kfp-kubernetes`` so the compiled YAML carries them.

Every container task gets, from Kubernetes Secrets (created by the overlays in
``manifests/``, see ``manifests/README.md``):

* :data:`OBJECT_STORE_SECRET` → ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
  ``MTFORGE_S3_ENDPOINT`` (the data bucket, read by :mod:`mtforge.corpus.remote`);
* :data:`MLFLOW_SECRET` → ``MLFLOW_TRACKING_URI`` (a URI may carry credentials).

A task of a GPU stage also gets a node selector (``MTFORGE_GPU_NODE_SELECTOR`` at compile
time, ``key=value``; default the label NVIDIA's GPU feature discovery puts on GPU nodes) and a
toleration of the ``nvidia.com/gpu`` taint that GPU node pools commonly carry. ``kfp.local``
ignores all of this: local runs take credentials from the environment.
"""

from __future__ import annotations

import os

from kfp import kubernetes
from kfp.dsl import PipelineTask
from kfp.dsl.pipeline_context import Pipeline

from mtforge.errors import ConfigError
from mtforge.stage import get_stage

OBJECT_STORE_SECRET = "mtforge-object-store"
OBJECT_STORE_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "MTFORGE_S3_ENDPOINT")
MLFLOW_SECRET = "mtforge-mlflow"
MLFLOW_KEYS = ("MLFLOW_TRACKING_URI",)
#: Secret name → keys every task reads as environment variables of the same names.
TASK_SECRETS = {OBJECT_STORE_SECRET: OBJECT_STORE_KEYS, MLFLOW_SECRET: MLFLOW_KEYS}
DEFAULT_GPU_NODE_SELECTOR = "nvidia.com/gpu.present=true"
GPU_TAINT = "nvidia.com/gpu"
#: Retries of tasks that only move data over the network (listing shards, logging to MLflow).
IO_RETRIES = 2
RETRY_BACKOFF = "30s"
#: Container argument naming the stage and its version (``--mtforge-stage=<name>@<version>``).
STAGE_ARG = "--mtforge-stage"


def gpu_node_selector() -> tuple[str, str]:
    """``(label, value)`` from ``MTFORGE_GPU_NODE_SELECTOR`` (``key=value``), else the default."""
    text = os.environ.get("MTFORGE_GPU_NODE_SELECTOR") or DEFAULT_GPU_NODE_SELECTOR
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"MTFORGE_GPU_NODE_SELECTOR must be key=value (a node label), got {text!r}")
    return key.strip(), value.strip()


def retry(task: PipelineTask, retries: int = IO_RETRIES) -> PipelineTask:
    """Retry a failed ``task`` up to ``retries`` times, 30 s apart, doubling each time."""
    return task.set_retry(num_retries=retries, backoff_duration=RETRY_BACKOFF, backoff_factor=2)


def apply_stage(task: PipelineTask, stage_name: str) -> PipelineTask:
    """Set what ``mtforge.stages.<stage_name>`` declares on its task: CPU/memory requests (and
    a memory limit equal to the request, so a task that outgrows its profile fails with an
    OOM kill rather than starving its node), a GPU limit with GPU node placement, retries,
    and the stage's version as a container argument (:data:`STAGE_ARG`, which the component's
    executor ignores): a task's command line is part of its cache key both in ``kfp.local``
    and on the KFP backend (whose key leaves the environment out), so bumping a stage's
    version re-runs that stage everywhere."""
    spec = get_stage(stage_name)
    res = spec.resources
    task.container_spec.args = [*(task.container_spec.args or []), f"{STAGE_ARG}={spec.name}@{spec.version}"]
    task.set_cpu_request(res.cpu).set_memory_request(res.memory).set_memory_limit(res.memory)
    if res.gpu:
        task.set_accelerator_type("nvidia.com/gpu").set_accelerator_limit(str(res.gpu))
        label, value = gpu_node_selector()
        kubernetes.add_node_selector(task, label_key=label, label_value=value)
        kubernetes.add_toleration(task, key=GPU_TAINT, operator="Exists", effect="NoSchedule")
    if res.retries:
        retry(task, res.retries)
    return task.set_display_name(stage_name)


def inject_credentials() -> None:
    """Give every container task of the pipeline being defined the :data:`TASK_SECRETS`.

    Call it last in a ``@dsl.pipeline`` function, once all tasks exist (importer tasks have
    no container and are skipped).
    """
    for task in Pipeline.get_default_pipeline().tasks.values():
        if task.container_spec is None:
            continue
        for secret, keys in TASK_SECRETS.items():
            kubernetes.use_secret_as_env(task, secret_name=secret, secret_key_to_env={k: k for k in keys})


def finish_pipeline(track_task: PipelineTask) -> PipelineTask:
    """The last wiring step of every pipeline: the MLflow task is shown as ``track`` and retried
    (it only talks to MLflow), then every task gets the cluster credentials
    (:func:`inject_credentials`)."""
    retry(track_task.set_display_name("track"))
    inject_credentials()
    return track_task
