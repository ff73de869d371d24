"""Run a :class:`TrainJob` whose data lives in an S3-compatible object store.

A PyTorchJob's pods share no disk with the KFP step that starts them, so the step stages the
job under a run-unique ``s3://`` prefix and every pod runs
``python -m mtforge.train.remote <prefix>/job.json``. The layout under the prefix::

    job.json                      the job, its paths replaced by s3 URIs
    inputs/<field>/<name>         corpus / vocab / valid as uploaded (local name kept)
    inputs/tasks/<task>/<side>/<name>   a plan task's template file (src / tgt)
    output/…                      out_dir of the finished training
    nodes/<rank>.done             written by each node after it uploaded its part of output/

The trainer saves each module on the node of its lowest holder, so with several nodes the
output is spread over the nodes: each uploads its own part, and node 0 waits for the others'
``.done`` markers before it exits; the operator counts the job as succeeded when the master
(node 0) exits, so the output is complete once the job has succeeded. S3 settings come from
the environment, as in :mod:`mtforge.corpus.remote`.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from minio import Minio
from minio.error import S3Error

from mtforge.corpus.remote import S3_SCHEME, list_objects, s3_client, s3_upload, split_s3_uri
from mtforge.errors import ConfigError, InputNotFoundError, MtforgeError, StageFailedError
from mtforge.train.launcher import run_torchrun
from mtforge.train.trainer import TrainJob

INPUT_FIELDS = ("corpus", "vocab", "valid")
#: How long node 0 waits for the other nodes' outputs after its own training finished.
NODE_WAIT_S = 600.0


def _join(prefix: str, *parts: str) -> str:
    return "/".join([prefix.rstrip("/"), *parts])


def download(uri: str, dest: Path, client: Minio | None = None) -> Path:
    """Download what ``uri`` names (see :func:`mtforge.corpus.remote.list_objects`) into
    ``dest`` and return the local path that stands for ``uri``.

    ``s3://b/p/name`` (an object, or objects under ``name/``) lands as ``dest/name``; a URI
    ending in ``/`` is a directory whose contents land directly in ``dest``.
    :class:`InputNotFoundError` when nothing is there.
    """
    client = client or s3_client()
    bucket, key = split_s3_uri(uri)
    base = key[: key.rfind("/") + 1]  # "a/b/name" → "a/b/"; "a/dir/" → "a/dir/"
    root = dest.resolve()
    for obj in list_objects(uri, client):
        path = (root / obj.object_name[len(base):]).resolve()
        if not path.is_relative_to(root):
            raise MtforgeError(f"refusing S3 key {obj.object_name!r}: it escapes {dest}")
        client.fget_object(bucket, obj.object_name, str(path))
    return root / key[len(base):]


def job_inputs(job: TrainJob) -> dict[str, str]:
    """Every input path of ``job`` by a key that names its place: ``corpus``, ``vocab``,
    ``valid`` and ``tasks/<task>/src`` / ``tasks/<task>/tgt`` (a plan task's template files)."""
    paths = {field: getattr(job, field) for field in INPUT_FIELDS if getattr(job, field)}
    for task in job.plan.tasks:
        for side in ("src", "tgt"):
            if (path := getattr(task, f"{side}_path")) is not None:
                paths[f"tasks/{task.name}/{side}"] = path
    return paths


def with_inputs(job: TrainJob, paths: dict[str, str], out_dir: str) -> TrainJob:
    """``job`` with the inputs named in ``paths`` (keys as in :func:`job_inputs`) replaced
    and ``out_dir`` set."""
    tasks = [task.model_copy(update={f"{side}_path": paths.get(f"tasks/{task.name}/{side}", getattr(task, f"{side}_path"))
                                     for side in ("src", "tgt")}) for task in job.plan.tasks]
    fields = {field: paths[field] for field in INPUT_FIELDS if field in paths}
    return job.model_copy(update={**fields, "out_dir": out_dir, "plan": job.plan.model_copy(update={"tasks": tasks})})


def _map_paths(paths: dict[str, str], convert: Callable[[str, str], str]) -> dict[str, str]:
    """``{key: convert(key, path)}``, converting each distinct path once (symmetric corpus
    templates give two tasks the same files)."""
    done: dict[str, str] = {}
    return {key: done[path] if path in done else done.setdefault(path, convert(key, path)) for key, path in paths.items()}


def stage_job(job: TrainJob, prefix: str) -> str:
    """Upload ``job``'s local inputs (:func:`job_inputs`) under ``prefix`` (an ``s3://`` URI,
    unique to the run) and the job rewritten to point at them, with ``out_dir`` =
    ``<prefix>/output``; returns the URI of the uploaded ``job.json``. Inputs that already
    are ``s3://`` URIs stay as they are. :class:`InputNotFoundError` names an input that
    does not exist.
    """
    client = s3_client()
    split_s3_uri(prefix)  # a ConfigError for anything but s3://bucket/…

    def put(key: str, value: str) -> str:
        if value.startswith(S3_SCHEME):
            return value
        path = Path(value)
        if not path.exists():
            raise InputNotFoundError(f"training input {key} {value!r} does not exist")
        uri = _join(prefix, "inputs", key, path.name)
        s3_upload(path, uri, client)
        return uri

    staged = with_inputs(job, _map_paths(job_inputs(job), put), _join(prefix, "output"))
    job_uri = _join(prefix, "job.json")
    data = staged.model_dump_json(indent=2).encode()
    bucket, key = split_s3_uri(job_uri)
    client.put_object(bucket, key, io.BytesIO(data), len(data), content_type="application/json")
    return job_uri


def _read_job(job_uri: str, client: Minio) -> TrainJob:
    bucket, key = split_s3_uri(job_uri)
    try:
        resp = client.get_object(bucket, key)
    except S3Error as exc:
        if exc.code in ("NoSuchKey", "NoSuchBucket"):
            raise InputNotFoundError(f"training job {job_uri} does not exist") from None
        raise
    try:
        return TrainJob.model_validate_json(resp.read())
    finally:
        resp.close()
        resp.release_conn()


def _wait_for_nodes(prefix: str, nnodes: int, client: Minio, timeout_s: float) -> None:
    """Wait until nodes 1..nnodes-1 have left their ``.done`` marker under ``prefix/nodes/``."""
    bucket, key = split_s3_uri(_join(prefix, "nodes/"))
    deadline = time.monotonic() + timeout_s
    while True:
        done = {o.object_name for o in client.list_objects(bucket, prefix=key)}
        missing = [r for r in range(1, nnodes) if f"{key}{r}.done" not in done]
        if not missing:
            return
        if time.monotonic() >= deadline:
            raise StageFailedError(f"node(s) {missing} did not upload their training output to {prefix}/output "
                                   f"within {timeout_s:g} s")
        time.sleep(min(1.0, max(deadline - time.monotonic(), 0.0)))


def _node_layout(job: TrainJob) -> tuple[int, int]:
    """``(node rank, nodes)`` from the operator's ``PET_*`` variables (one node without them);
    :class:`ConfigError` when the pod layout is not the plan's."""
    node, nnodes = int(os.environ.get("PET_NODE_RANK", "0")), int(os.environ.get("PET_NNODES", "1"))
    if nnodes != job.plan.nodes:
        raise ConfigError(f"the job runs on {nnodes} node(s) (PET_NNODES) but its plan allocates {job.plan.nodes}")
    return node, nnodes


def run_remote(job_uri: str, workdir: Path, *, node_wait_s: float = NODE_WAIT_S) -> None:
    """Run the staged job ``job_uri`` on this node and upload its output.

    Inputs named by ``s3://`` URIs are downloaded into ``workdir/inputs/<key>/``, training
    runs under torchrun (:func:`run_torchrun` with the plan's ``procs_per_node``; the node
    rank and rendezvous come from the operator's ``PET_*`` variables) with ``out_dir`` =
    ``workdir/output``, and on success this node's output is uploaded to the job's
    ``out_dir`` URI and its ``.done`` marker written; node 0 then waits up to
    ``node_wait_s`` for the other nodes' markers. Raises :class:`InputNotFoundError` for a
    missing job or input, :class:`ConfigError` when the job's ``out_dir`` is not an
    ``s3://`` URI or ``PET_NNODES`` is not the plan's node count,
    :class:`StageFailedError` when training fails (nothing is uploaded) or another node's
    output does not arrive.
    """
    client = s3_client()
    job = _read_job(job_uri, client)
    if not job.out_dir.startswith(S3_SCHEME):
        raise ConfigError(f"{job_uri}: out_dir {job.out_dir!r} must be an s3:// URI for a remote job")
    node, nnodes = _node_layout(job)

    def fetch(key: str, value: str) -> str:
        return str(download(value, workdir / "inputs" / key, client)) if value.startswith(S3_SCHEME) else value

    output = workdir / "output"
    output.mkdir(parents=True, exist_ok=True)
    job_file = workdir / "job.json"
    job_file.write_text(with_inputs(job, _map_paths(job_inputs(job), fetch), str(output)).model_dump_json(indent=2))
    run_torchrun(job_file, job.plan.procs_per_node)
    s3_upload(output, job.out_dir, client)
    prefix = job_uri.rpartition("/")[0]
    bucket, key = split_s3_uri(_join(prefix, "nodes", f"{node}.done"))
    client.put_object(bucket, key, io.BytesIO(b""), 0)
    if node == 0:
        _wait_for_nodes(prefix, nnodes, client, node_wait_s)


def fetch_outputs(prefix: str, out_dir: Path) -> None:
    """Download ``<prefix>/output/`` (a finished remote training run) into ``out_dir``;
    :class:`InputNotFoundError` when there is nothing there."""
    download(_join(prefix, "output/"), out_dir)


def main(argv: list[str] | None = None) -> int:
    """``python -m mtforge.train.remote JOB_URI [--workdir DIR]``: 0 on success, 1 (with the
    error on stderr) on failure."""
    parser = argparse.ArgumentParser(prog="python -m mtforge.train.remote", description=run_remote.__doc__)
    parser.add_argument("job_uri", help="s3:// URI of the staged job.json")
    parser.add_argument("--workdir", type=Path, help="where inputs are downloaded and training writes (default: a new temp dir)")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="mtforge-train-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        run_remote(args.job_uri, workdir)
    except MtforgeError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
