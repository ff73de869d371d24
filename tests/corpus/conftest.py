"""Fixtures for the corpus tests: text-file writing, a real S3 server, an isolated HF cache."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from minio import Minio


@pytest.fixture
def write_lines() -> Callable[[Path, list[str]], Path]:
    """``write_lines(path, lines)``: write UTF-8 lines (LF-terminated), creating parent dirs."""

    def write(path: Path, lines: list[str]) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on a free 127.0.0.1 port for the session; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Minio:
    """A minio client for the test server, with the MTFORGE_S3_* / AWS_* environment set the
    way a user would set it."""
    monkeypatch.setenv("MTFORGE_S3_ENDPOINT", s3_endpoint)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    return Minio(
        s3_endpoint.removeprefix("http://"),
        access_key="testing",
        secret_key="testing",
        secure=False,
        region="us-east-1",
    )


@pytest.fixture
def hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the ``datasets`` cache at a temporary directory and forbid hub access."""
    import datasets.config

    cache = tmp_path / "hf-cache"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    return cache
