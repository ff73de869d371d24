"""Start the training program — under ``torchrun`` here, or as a Kubeflow PyTorchJob — and
stream its output.

Single node: ``torchrun --standalone --nproc_per_node N -m mtforge.train JOB``. Inside a
PyTorchJob pod the Training Operator sets ``PET_NNODES``, ``PET_NODE_RANK``,
``PET_MASTER_ADDR`` and ``PET_MASTER_PORT``; torchrun reads those itself, so the same
command then joins the multi-node rendezvous (``--standalone`` is left out). A PyTorchJob's
pods run ``python -m mtforge.train.remote JOB_URI``, which fetches the inputs staged in the
object store, runs that command, and puts the outputs back for :func:`launch` to fetch.
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from mtforge.errors import ConfigError, StageFailedError

if TYPE_CHECKING:
    from mtforge.train.trainer import TrainJob


def torchrun_command(job_file: str | Path, nproc: int) -> list[str]:
    """The torchrun command line for ``job_file`` on this node."""
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}"]
    if "PET_MASTER_ADDR" not in os.environ:
        cmd.append("--standalone")
    return cmd + ["-m", "mtforge.train", str(job_file)]


def _echo(line: str) -> None:
    print(line, flush=True)  # flushed: our stdout is often a pipe (a KFP task's log)


def run_torchrun(job_file: str | Path, nproc: int, echo: Callable[[str], None] = _echo) -> None:
    """Run training to completion, echoing each output line; raise with the tail on failure."""
    cmd = torchrun_command(job_file, nproc)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    tail: collections.deque[str] = collections.deque(maxlen=30)
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            tail.append(line)
            echo(line)
        code = proc.wait()
    if code != 0:
        raise StageFailedError(f"training exited with code {code}: {' '.join(cmd)}\n" + "\n".join(tail))


#: Environment handed on to a PyTorchJob's pods: where the object store is (its credentials
#: come from the cluster's Secret). The pods need no MLflow access: the pipeline's ``track``
#: step logs the training curves, plan and checkpoint once the job is done.
PASSED_ENV = ("MTFORGE_S3_ENDPOINT",)


def launch(job: "TrainJob", job_file: str | Path, *, echo: Callable[[str], None] = _echo) -> None:
    """Train ``job`` (already written to ``job_file``) with its config's launcher; on return
    the outputs are in ``job.out_dir``. The process layout is the plan's (nodes × processes).

    ``pytorchjob``: the inputs are staged under ``cluster.staging_uri/<job name>``, a
    PyTorchJob with a run-unique name is created (Kubernetes credentials: in-cluster, else
    ``$KUBECONFIG``), its master's log is echoed, a failed or timed-out job fails this call,
    the job is deleted at the end, and its outputs are fetched into ``job.out_dir``.
    """
    from mtforge.train.pytorchjob import PyTorchJobConfig, build_pytorchjob, current_namespace, job_name, run_pytorchjob
    from mtforge.train.remote import fetch_outputs, stage_job

    plan, cluster = job.plan, job.config.cluster
    if job.config.launcher == "torchrun":
        if plan.nodes != 1:
            raise ConfigError(f"the plan allocates {plan.nodes} nodes; launcher=torchrun runs one node here "
                              "(use launcher=pytorchjob, or nnodes=1)")
        run_torchrun(job_file, plan.procs_per_node, echo)
        return
    if not cluster.image:
        raise ConfigError("launcher=pytorchjob needs cluster.image, the image of the training pods")
    name = job_name("mtforge-train", job.out_dir)
    prefix = f"{cluster.staging_uri.rstrip('/')}/{name}"
    job_uri = stage_job(job, prefix)
    namespace = cluster.namespace or current_namespace()
    settings = PyTorchJobConfig(
        namespace=namespace, image=cluster.image, nnodes=plan.nodes, nproc_per_node=plan.procs_per_node,
        cpu=cluster.cpu, memory=cluster.memory, gpus=cluster.gpus, secret_name=cluster.secret_name,
        timeout_s=cluster.timeout_s, env={k: os.environ[k] for k in PASSED_ENV if k in os.environ})
    manifest = build_pytorchjob(name, ["python", "-m", "mtforge.train.remote", job_uri], settings)
    echo(f"PyTorchJob {namespace}/{name}: {plan.nodes} node(s) × {plan.procs_per_node} process(es), "
         f"inputs staged under {prefix}")
    run_pytorchjob(manifest, settings, echo=echo)
    fetch_outputs(prefix, Path(job.out_dir))
