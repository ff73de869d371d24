"""A real MLflow tracking server for tests: ``mlflow server`` in a subprocess on a free port.

The server is started through ``mlflow/entrypoint.sh`` — the script the MLflow image runs and
``make mlflow-server`` mirrors — with the virtual environment's ``mlflow``, an SQLite store
in the given directory and proxied artifacts (``--serve-artifacts --artifacts-destination``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENTRYPOINT = ROOT / "mlflow" / "entrypoint.sh"
#: The ``mlflow`` executable of the environment running the tests.
MLFLOW = Path(sys.executable).with_name("mlflow")

#: Variables of the test process that must not leak into the server's configuration.
_SCRUBBED = ("MLFLOW_TRACKING_URI", "MLFLOW_PORT", "MLFLOW_HOST", "MLFLOW_WORKERS", "MLFLOW_BACKEND_STORE_URI",
             "MLFLOW_ARTIFACTS_DESTINATION", "MLFLOW_DEFAULT_ARTIFACT_ROOT", "MLFLOW_SERVER_ALLOWED_HOSTS",
             "MLFLOW_S3_ENDPOINT_URL", "MTFORGE_ARTIFACT_ROOT")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's process group (mlflow, its uvicorn), SIGKILL after 15 s."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
    # The group may outlive its leader (uvicorn shutting down); make sure nothing is left.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=15)


@contextlib.contextmanager
def mlflow_server(tmp_dir: Path, *, artifacts_destination: str | None = None,
                  env: Mapping[str, str] | None = None, startup_timeout: float = 180.0) -> Iterator[str]:
    """Run ``mlflow server`` until the block ends; yield its URL ``http://127.0.0.1:<port>``.

    ``tmp_dir`` holds the SQLite store (``mlflow.db``), the server log (``server.log``) and, by
    default, the artifacts (``artifacts/``); ``artifacts_destination`` may instead be an
    ``s3://bucket/prefix`` URI, with ``env`` giving the server ``MLFLOW_S3_ENDPOINT_URL`` and
    the ``AWS_*`` credentials. The server has one worker and no MLflow job runner. It is ready
    when ``GET /health`` answers 200; if it exits or is not ready within ``startup_timeout``
    seconds, :class:`RuntimeError` carries its log. The whole process group is stopped at exit.
    """
    tmp_dir = Path(tmp_dir)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    environ = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    environ.update(env or {})
    environ.update(
        MLFLOW_BIN=str(MLFLOW),
        MLFLOW_BACKEND_STORE_URI=f"sqlite:///{tmp_dir.resolve()}/mlflow.db",
        MLFLOW_ARTIFACTS_DESTINATION=artifacts_destination or str(tmp_dir.resolve() / "artifacts"),
        HOST="127.0.0.1",
        PORT=str(port),
        MLFLOW_WORKERS="1",
        MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
    )
    log_path = tmp_dir / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(["bash", str(ENTRYPOINT)], stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, env=environ, cwd=tmp_dir, start_new_session=True)
    try:
        deadline = time.monotonic() + startup_timeout
        while not _healthy(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                state = (f"exited with status {proc.returncode}" if proc.poll() is not None
                         else f"not healthy after {startup_timeout:.0f} s")
                raise RuntimeError(f"mlflow server at {url} {state}; its log {log_path}:\n"
                                   + log_path.read_text(errors="replace")[-8000:])
            time.sleep(0.25)
        yield url
    finally:
        _stop(proc)
