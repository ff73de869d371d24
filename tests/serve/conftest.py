"""Served models for the serving tests: the toy model (exact, known translations) and the
tiny pipeline's real eng↔deu model (real captions, language identification); a Redis
protocol server (fakeredis' TCP server, used through the real ``redis`` client)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fakeredis import TcpFakeServer
from fastapi.testclient import TestClient

from mtforge.serve.app import create_app
from mtforge.serve.config import ServeConfig, load_serve_config


@pytest.fixture(scope="session")
def toy_files(toy_model) -> dict[str, str]:
    """``model`` (checkpoint folder) and ``vocab`` (SentencePiece file) of the toy eng→deu model."""
    return {"model": str(toy_model.ckpt), "vocab": str(toy_model.vocab.path)}


@pytest.fixture(scope="session")
def pipeline_files(tiny_pipeline: dict[str, str]) -> dict[str, str]:
    """The tiny pipeline's train folder (eng→deu and deu→eng) and its spm folder."""
    return {"model": tiny_pipeline["train"], "vocab": tiny_pipeline["spm"]}


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., ServeConfig]:
    """Settings for a test server (no environment variables read), one torch thread."""
    def make(files: dict[str, str], **settings) -> ServeConfig:
        return load_serve_config({"cache_dir": str(tmp_path / "models"), "threads": 1, **files, **settings},
                                 environ={})
    return make


@pytest.fixture
def serve(make_config) -> Iterator[Callable[..., TestClient]]:
    """``serve(files, **settings)``: a started TestClient over a loaded app; closed after the test."""
    clients: list[TestClient] = []

    def start(files: dict[str, str], **settings) -> TestClient:
        client = TestClient(create_app(make_config(files, **settings), load_in_background=False))
        client.__enter__()
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.__exit__(None, None, None)


def start_server(port: int = 0) -> tuple[TcpFakeServer, int]:
    server = TcpFakeServer(("127.0.0.1", port))
    threading.Thread(target=server.serve_forever, name="fake-redis", daemon=True).start()
    return server, server.server_address[1]


def stop_server(server: TcpFakeServer) -> None:
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def redis_port() -> Iterator[int]:
    """A Redis protocol server on a free 127.0.0.1 port for this module."""
    server, port = start_server()
    yield port
    stop_server(server)
