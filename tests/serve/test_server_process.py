"""``mtforge serve`` as users run it: a real uvicorn process on a port, concurrent clients
batched together, and SIGTERM finishing the requests in flight before the process exits 0."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import TOY_CHECK, toy_translation


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"server exited with {process.returncode}"
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} not ready after {timeout} s")


@pytest.fixture
def server(toy_files: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    port = free_port()
    log_path = tmp_path / "server.log"
    log = log_path.open("wb")
    env = {**os.environ, "MTFORGE_SERVE_CACHE_ENTRIES": "0", "MTFORGE_SERVE_MAX_WAIT_MS": "3000",
           # large batches that wait up to 3 s to fill: requests stay in flight long enough to be caught by SIGTERM
           "MTFORGE_SERVE_MAX_BATCH_SENTENCES": "4096", "MTFORGE_SERVE_MAX_BATCH_TOKENS": "1000000"}
    process = subprocess.Popen(
        [sys.executable, "-m", "mtforge.cli", "serve", "--model", toy_files["model"], "--vocab", toy_files["vocab"],
         "--port", str(port), "--threads", "1", "--cache-dir", str(tmp_path / "cache"), "--beam-size", "4"],
        env=env, stdout=subprocess.DEVNULL, stderr=log)  # a file: an undrained pipe would block the server's logging
    process.log_path = log_path  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process)
        yield url, process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(30)
        log.close()


def gauge(url: str, name: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return next(float(line.split()[1]) for line in text.splitlines() if line.startswith(name + " "))


def wait_in_flight(url: str, count: int, timeout: float = 60) -> None:
    """Until ``count`` requests besides the metrics scrape itself are being handled."""
    deadline = time.monotonic() + timeout
    while gauge(url, "mtforge_http_in_flight") < count + 1:
        assert time.monotonic() < deadline, f"fewer than {count} requests in flight after {timeout} s"
        time.sleep(0.05)


def post(url: str, texts: list[str]) -> httpx.Response:
    return httpx.post(f"{url}/translate", json={"texts": texts, "target_language": "de", "source_language": "en"},
                      timeout=60)


def test_concurrent_requests_share_batches_and_sigterm_finishes_them(server) -> None:
    url, process = server
    requests = [[TOY_CHECK[i], TOY_CHECK[i + 1]] for i in range(0, 64, 2)]
    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        responses = list(pool.map(lambda texts: post(url, texts), requests))
    assert [r.status_code for r in responses] == [200] * 32
    assert [[t["text"] for t in r.json()["translations"]] for r in responses] == \
        [[toy_translation(s) for s in texts] for texts in requests]
    assert gauge(url, "mtforge_batch_sentences_count") < 32  # 64 sentences of 32 concurrent requests took fewer than 32 forward batches

    # requests in flight when SIGTERM arrives are answered; then the process exits cleanly
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        in_flight = [pool.submit(post, url, [" ".join(TOY_CHECK[j:j + 4]) for j in range(i, i + 8)])
                     for i in range(8)]
        wait_in_flight(url, 8)  # all 8 are being handled (a Pod's preStop sleep gives the same guarantee)
        process.send_signal(signal.SIGTERM)
        answered = [f.result() for f in in_flight]
    assert [r.status_code for r in answered] == [200] * 8
    # uvicorn re-raises the SIGTERM it caught once it has shut down: "terminated by SIGTERM"
    assert process.wait(60) in (0, -signal.SIGTERM)
    logs = process.log_path.read_text()
    assert '"message": "ready' in logs and "Application shutdown complete" in logs and "Traceback" not in logs


def test_an_unknown_setting_in_the_environment_stops_the_server_with_its_name(toy_files: dict[str, str]) -> None:
    result = subprocess.run([sys.executable, "-m", "mtforge.cli", "serve", "--model", toy_files["model"]],
                            env={**os.environ, "MTFORGE_SERVE_BATCH_SIZE": "8"}, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert "MTFORGE_SERVE_BATCH_SIZE" in result.stderr and "MTFORGE_SERVE_MAX_BATCH_TOKENS" in result.stderr
