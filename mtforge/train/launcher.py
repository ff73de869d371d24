"""Start the training program under ``torchrun`` and stream its output.

Single node: ``torchrun --standalone --nproc_per_node N -m mtforge.train JOB``. Inside a
PyTorchJob pod the Training Operator sets ``PET_NNODES``, ``PET_NODE_RANK``,
``PET_MASTER_ADDR`` and ``PET_MASTER_PORT``; torchrun reads those itself, so the same
command then joins the multi-node rendezvous (``--standalone`` is left out).
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from mtforge.errors import StageFailedError


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
