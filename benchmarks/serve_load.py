"""``serve_load``: a load test of ``mtforge serve`` on localhost — requests/s and p50/p95/p99
latency with 1, 8 and 32 concurrent clients posting real post-length texts, the 5xx count,
and the throughput gain of micro-batching and the translation cache over the same model
translating one request at a time.

**Model.** ``model`` / ``vocab`` (a train output folder and its SentencePiece model, or
anything ``mtforge serve --model`` takes). When ``model`` is not set, the environment
variables ``MTFORGE_BENCH_SERVE_MODEL`` / ``MTFORGE_BENCH_SERVE_VOCAB`` are used, so that
``MTFORGE_BENCH_SERVE_MODEL=<train>/model MTFORGE_BENCH_SERVE_VOCAB=<spm>/vocab python -m
benchmarks serve_load`` measures an existing Multi30k-trained model; without either, a model is
trained first with the real stages (:func:`benchmarks.evaluate_speed.train_model`: Multi30k
eng→deu, ``spm`` and ``train``, the shape of ``train``).

**Traffic.** A pool of ``posts`` posts is built from the English captions of Multi30k
``test_2016_flickr`` (each caption used once, in a seeded order): 1–3 captions joined by
spaces (a missing final period added, so that they stay sentences), and a share
``entity_share`` of the posts gets one of an emoji, a hashtag, a URL or a leading @mention.
Post popularity is Zipf-like: the post of popularity rank *k* is viewed with probability
∝ 1 / *k* ^ ``zipf_s`` (ranks assigned to posts at random), a seeded stream of
``stream_length`` views is drawn from it, and a share ``lid_share`` of the views is sent without
``source_language`` so that the server's language identification runs (the others name
``eng_Latn``). Every request is ``POST /translate`` of one post into ``deu_Latn``. Every run
replays the same stream from its start (:mod:`benchmarks.locust_serve` hands the views out in
order, whichever client sends them), so the configurations see the same traffic.

**Runs.** Each entry of ``runs`` — a server configuration and a number of clients — starts its
own ``mtforge serve`` subprocess (``--threads threads``, ``--log-level warning``, a free port),
waits for ``GET /readyz`` to answer 200, warms up for ``warmup_s`` seconds with the same
number of clients on posts built the same way from Multi30k ``val`` captions (not counted, and
not in the measured pool: the cache holds none of the measured posts when the measurement
starts), scrapes ``/metrics``, then runs locust as a subprocess in headless mode
(``locust -f benchmarks/locust_serve.py --headless -u N -r N -t duration_s``) — never in this
process: locust monkey-patches the standard library with gevent — scrapes ``/metrics`` again,
stops the server with SIGTERM and records its exit code and how long it took. Each client sends its
next request as soon as the last one is answered (a closed loop without think time), so *N
clients* is *N requests in flight*. The server configurations (``SERVERS``):

* ``batching+cache`` — the defaults: micro-batching (10 ms wait) and the in-process LRU cache;
* ``batching`` — micro-batching, cache off (``--cache-entries 0``);
* ``cache`` — the cache, one request per forward pass (``--no-batching``);
* ``one-at-a-time`` — ``--no-batching --cache-entries 0``: the baseline.

(In every configuration a sentence that another request is already translating is awaited,
not translated twice: that is the server's behaviour, not the cache's.)

A server *exited cleanly* when it ended within ``STOP_TIMEOUT_S`` of the SIGTERM with exit code
0 or −15 and logged no error: uvicorn (0.29 and later) finishes its graceful shutdown — stop
accepting, finish in-flight requests, run the app's shutdown (the batcher's queue) — and then
raises the signal it caught again, with the default handler restored, so ``mtforge serve``
ends *by* SIGTERM (−15; 143 in a shell) rather than with 0. Any other code, a kill after the
timeout or an error line in the server's log is unclean.

**Reported** per run: requests/s (locust's: requests ÷ seconds from the start to the last
answer), p50/p95/p99 and mean latency in ms (exact, from every request's latency; locust's
own percentiles, rounded to two significant digits, are kept beside them), failures and 5xx
answers (as locust saw them, and as the server counted them in
``mtforge_http_requests_total``), and from the server's ``/metrics`` over the measured window:
the cache hit ratio (``mtforge_cache_requests_total``), the mean sentences per forward batch
(``mtforge_batch_sentences_sum`` ÷ ``_count``), the share of asked-for sentences the model
actually decoded, and the model's decoding rate (sentences decoded per second spent decoding,
``mtforge_translation_seconds_total``). Then the throughput of each configuration ÷ that of
``one-at-a-time`` at the largest client count both ran with (the target: batching+cache ≥ 5× at
32 clients), so the shares of batching and of the cache are visible; and, when
``one-at-a-time`` also ran with 1 client, ÷ that run too: with one client nothing is in flight to
share, so every sentence is decoded (with 32 clients the baseline already skips the sentences
other requests are translating). The summary is :func:`summarise`, a function of the runs'
records, so it can be recomputed from a saved result's ``details.runs``.

The machine's cores are shared between the server (``threads`` torch threads, plus its event
loop) and locust (one process, one core); the load average at the start of each run is kept.
Absolute rates are this machine's; the ratios compare runs of one benchmark run.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import csv
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import evaluate_speed
from benchmarks.common import SHARED_DATA, Benchmark, Result, log, machine_info, scoped_env, stopwatch

NAME = "serve_load"
DESCRIPTION = ("mtforge serve under load (locust, localhost): req/s and latency at 1/8/32 clients, "
               "micro-batching + cache vs one request at a time")
MODEL_ENV, VOCAB_ENV = "MTFORGE_BENCH_SERVE_MODEL", "MTFORGE_BENCH_SERVE_VOCAB"
LOCUSTFILE = Path(__file__).resolve().parent / "locust_serve.py"
TRAFFIC_ENV, SUMMARY_ENV = "MTFORGE_LOCUST_TRAFFIC", "MTFORGE_LOCUST_SUMMARY"  # read by the locustfile
SOURCE, TARGET = evaluate_speed.SRC, evaluate_speed.TGT  # eng_Latn → deu_Latn
POSTS_SPLIT, WARMUP_SPLIT = "test_2016_flickr", "val"
BASELINE = "one-at-a-time"
#: Server configurations: the flags added to ``mtforge serve`` for each.
SERVERS: dict[str, tuple[str, ...]] = {
    "batching+cache": (),
    "batching": ("--cache-entries", "0"),
    "cache": ("--no-batching",),
    BASELINE: ("--no-batching", "--cache-entries", "0"),
}
#: What posts may carry besides their captions (one each, for a share of the posts).
EMOJI = ("🐶", "😍", "🌞", "👍🏽", "🎉", "❤️", "🇩🇪", "🚴‍♀️")
HASHTAGS = ("#summer", "#streetphotography", "#dogsofinstagram", "#weekend", "#travel", "#nofilter")
URLS = ("https://example.com/p/8841", "https://t.co/xY7kq2", "www.example.org/gallery?id=12")
MENTIONS = ("@anna", "@jane.doe", "@bike_club", "@photo_daily")
READY_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class Settings:
    """The runs, the traffic and the model (see the module docstring)."""

    runs: tuple[tuple[str, int], ...]  # (server configuration of SERVERS, concurrent clients), in order
    duration_s: int = 45  # measured seconds per run
    warmup_s: float = 8.0  # uncounted warm-up per run (same clients, other posts)
    posts: int = 500  # pool of posts (at most what the captions give: ~1,000 / 2)
    zipf_s: float = 1.0  # popularity exponent
    lid_share: float = 0.25  # views sent without source_language
    entity_share: float = 0.3  # posts with an emoji, hashtag, URL or mention
    stream_length: int = 100_000  # views drawn (replayed from the start, wrapping if a run asks for more)
    seed: int = 7
    threads: int = 1  # the server's torch threads
    server_args: tuple[str, ...] = ()  # more flags for every server (e.g. "--beam-size", "4")
    model: str | None = None  # default: $MTFORGE_BENCH_SERVE_MODEL, else a model trained first
    vocab: str | None = None  # default: $MTFORGE_BENCH_SERVE_VOCAB
    train: evaluate_speed.Settings = field(default_factory=lambda: evaluate_speed.FULL)  # when training


FULL = Settings(runs=((BASELINE, 32), ("batching+cache", 32), ("batching", 32), ("cache", 32),
                      ("batching+cache", 8), ("batching+cache", 1), (BASELINE, 1)))
QUICK = Settings(runs=((BASELINE, 4), ("batching+cache", 4), ("batching", 4), ("cache", 4), ("batching+cache", 1)),
                 duration_s=3, warmup_s=1.0, posts=60, stream_length=5000, train=evaluate_speed.QUICK)


# -- traffic --------------------------------------------------------------------------------


def captions(split: str) -> list[str]:
    """The English captions of Multi30k ``split``, stripped, non-empty."""
    path = SHARED_DATA / "multi30k" / f"{split}.en"
    if not path.is_file():
        raise FileNotFoundError(f"shared Multi30k {path} is absent (set MTFORGE_SHARED_DATA to the folder "
                                "holding multi30k/)")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def build_posts(lines: list[str], n: int, entity_share: float, rng: random.Random) -> list[str]:
    """Up to ``n`` posts of 1–3 of ``lines`` each (shuffled, each used once), some with an entity."""
    order = rng.sample(lines, len(lines))
    posts: list[str] = []
    while order and len(posts) < n:
        k = rng.randint(1, 3)
        take, order = order[:k], order[k:]
        text = " ".join(line if line[-1] in ".!?" else line + "." for line in take)
        if rng.random() < entity_share:
            kind = rng.randrange(4)
            if kind == 0:
                text = f"{text} {rng.choice(EMOJI)}"
            elif kind == 1:
                text = f"{text} {rng.choice(HASHTAGS)}"
            elif kind == 2:
                text = f"{text} {rng.choice(URLS)}"
            else:
                text = f"{rng.choice(MENTIONS)} {text}"
        posts.append(text)
    return posts


def zipf_weights(n: int, s: float) -> np.ndarray:
    """Probabilities of popularity ranks 1…n: ∝ 1 / rank^s."""
    weights = 1.0 / np.arange(1, n + 1) ** s
    return weights / weights.sum()


def view_stream(n_posts: int, length: int, s: float, lid_share: float, seed: int) -> list[list]:
    """``length`` views ``[post, lid]``: posts by Zipf popularity (ranks assigned to posts at
    random), ``lid`` true for a share ``lid_share``."""
    rng = np.random.default_rng(seed)
    post_of_rank = rng.permutation(n_posts)
    ranks = rng.choice(n_posts, size=length, p=zipf_weights(n_posts, s))
    lid = rng.random(length) < lid_share
    return [[int(post_of_rank[r]), bool(flag)] for r, flag in zip(ranks, lid)]


def request_body(text: str, lid: bool) -> dict[str, Any]:
    """The body of ``POST /translate`` for one post (what the locustfile sends too)."""
    body: dict[str, Any] = {"texts": [text], "target_language": TARGET}
    if not lid:
        body["source_language"] = SOURCE
    return body


# -- server ---------------------------------------------------------------------------------


def venv_tool(name: str) -> str:
    """The console script ``name`` next to this Python (the project's venv), else on PATH."""
    local = Path(sys.executable).parent / name
    found = str(local) if local.is_file() else shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} is not installed next to {sys.executable} nor on PATH")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(url: str, body: dict[str, Any] | None = None, timeout: float = 60.0) -> tuple[int, bytes]:
    """(status, body) of a GET (or a JSON POST with ``body``); status 0 when nothing answered."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError):
        return 0, b""


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without ``MTFORGE_SERVE_*`` and ``LOCUST_*`` settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MTFORGE_SERVE_", "LOCUST_"))}
    env.update(extra)
    return env


@dataclass
class Server:
    """A running ``mtforge serve`` subprocess."""

    process: subprocess.Popen
    port: int
    log_path: Path
    start_seconds: float = 0.0
    stop_seconds: float | None = None  # from SIGTERM to the end of the process
    exit_code: int | None = None  # None: killed after STOP_TIMEOUT_S

    @property
    def log_errors(self) -> list[str]:
        """Lines of the server's log at level error or critical, and tracebacks."""
        return [line for line in self.log_tail(100_000).splitlines()
                if '"level": "error"' in line or '"level": "critical"' in line or line.startswith("Traceback")]

    @property
    def exited_cleanly(self) -> bool:
        """See the module docstring: exit code 0 or −SIGTERM in time, no error logged."""
        return self.exit_code in (0, -signal.SIGTERM) and not self.log_errors

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


@contextlib.contextmanager
def serve(model: str, vocab: str | None, flags: tuple[str, ...], threads: int, log_path: Path) -> Iterator[Server]:
    """Start ``mtforge serve`` and wait until ``/readyz`` answers 200; on exit, SIGTERM and wait
    (``exit_code`` is set; None when it had to be killed)."""
    port = free_port()
    command = [venv_tool("mtforge"), "serve", "--model", model, *(["--vocab", vocab] if vocab else []),
               "--port", str(port), "--threads", str(threads), "--log-level", "warning", *flags]
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT,
                                   env=clean_env(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads)))
    server = Server(process, port, log_path)
    try:
        with stopwatch() as started:
            deadline = time.monotonic() + READY_TIMEOUT_S
            while http(server.url + "/readyz", timeout=5)[0] != 200:
                if process.poll() is not None:
                    raise RuntimeError(f"mtforge serve exited with {process.returncode} before it was ready:\n"
                                       f"{server.log_tail()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"mtforge serve not ready after {READY_TIMEOUT_S:.0f} s:\n{server.log_tail()}")
                time.sleep(0.2)
        server.start_seconds = started[0]
        yield server
    finally:
        stopping = time.perf_counter()
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            server.exit_code = process.wait(timeout=STOP_TIMEOUT_S)
            server.stop_seconds = time.perf_counter() - stopping
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            server.exit_code = None


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The server's ``/metrics`` as {(sample name, sorted labels): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    status, body = http(url + "/metrics", timeout=30)
    if status != 200:
        raise RuntimeError(f"GET {url}/metrics answered {status}")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body.decode()) for s in family.samples}


def total(samples: dict, name: str, **labels: str) -> float:
    """The sum of the samples called ``name`` whose labels include ``labels``."""
    return sum(value for (n, lbls), value in samples.items()
               if n == name and all(dict(lbls).get(k) == v for k, v in labels.items()))


def by_label(samples: dict, name: str, label: str, **labels: str) -> dict[str, float]:
    """The samples called ``name`` (with ``labels``) summed by the value of ``label``."""
    out: dict[str, float] = {}
    for (n, lbls), value in samples.items():
        lbls = dict(lbls)
        if n == name and label in lbls and all(lbls.get(k) == v for k, v in labels.items()):
            out[lbls[label]] = out.get(lbls[label], 0.0) + value
    return out


def window(before: dict, after: dict) -> dict[str, Any]:
    """What the server's metrics say about the measured window (after − before)."""
    def delta(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    def delta_by(name: str, label: str, **labels: str) -> dict[str, int]:
        a, b = by_label(after, name, label, **labels), by_label(before, name, label, **labels)
        return {k: int(round(v - b.get(k, 0.0))) for k, v in a.items() if round(v - b.get(k, 0.0))}

    hits, misses = delta("mtforge_cache_requests_total", result="hit"), delta("mtforge_cache_requests_total",
                                                                             result="miss")
    batches, batched = delta("mtforge_batch_sentences_count"), delta("mtforge_batch_sentences_sum")
    asked = delta("mtforge_direction_sentences_total")
    codes = delta_by("mtforge_http_requests_total", "code", path="/translate")
    return {
        "cache_hit_ratio": hits / (hits + misses) if hits + misses else 0.0,
        "cache_hit_ratio_since_start": total(after, "mtforge_cache_hit_ratio"),  # the gauge, warm-up included
        "cache_lookups": int(hits + misses),
        "batches": int(batches),
        "mean_batch_sentences": batched / batches if batches else 0.0,
        "sentences_asked": int(asked),
        "sentences_decoded": int(batched),
        "decoded_share": batched / asked if asked else 0.0,
        "status_codes": codes,
        "http_5xx": sum(n for code, n in codes.items() if code.startswith("5")),
        "untranslated": delta_by("mtforge_texts_untranslated_total", "reason"),
        "translation_seconds": delta("mtforge_translation_seconds_total"),
    }


# -- load -----------------------------------------------------------------------------------


def warm_up(url: str, posts: list[str], clients: int, seconds: float, lid_share: float, seed: int) -> dict[str, int]:
    """``clients`` threads posting random ``posts`` for ``seconds``; answers counted by status."""
    deadline = time.monotonic() + seconds

    def client(k: int) -> dict[str, int]:
        rng, counts = random.Random(seed * 1000 + k), {}
        while time.monotonic() < deadline:
            status = http(url + "/translate", request_body(rng.choice(posts), rng.random() < lid_share))[0]
            counts[str(status)] = counts.get(str(status), 0) + 1
        return counts

    counts: dict[str, int] = {}
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        for result in pool.map(client, range(clients)):
            for code, n in result.items():
                counts[code] = counts.get(code, 0) + n
    return counts


def run_locust(url: str, clients: int, seconds: int, traffic: Path, out: Path) -> dict[str, Any]:
    """locust, headless, in a subprocess; its summary (see :mod:`benchmarks.locust_serve`) with
    the CSV's aggregated row beside it (``csv``) and locust's exit code."""
    out.mkdir(parents=True, exist_ok=True)
    summary_path = out / "summary.json"
    command = [venv_tool("locust"), "-f", str(LOCUSTFILE), "--headless", "-u", str(clients), "-r", str(clients),
               "-t", f"{seconds}s", "--host", url, "--csv", str(out / "locust"), "--only-summary",
               "--loglevel", "WARNING"]
    env = clean_env(**{TRAFFIC_ENV: str(traffic), SUMMARY_ENV: str(summary_path)})
    done = subprocess.run(command, cwd=out, env=env, capture_output=True, text=True, timeout=seconds + 180)
    (out / "locust.log").write_text(done.stdout + done.stderr)
    if done.returncode not in (0, 1) or not summary_path.is_file():  # 1: some requests failed
        raise RuntimeError(f"locust exited with {done.returncode}:\n{(done.stdout + done.stderr)[-3000:]}")
    summary = json.loads(summary_path.read_text())
    summary["exit_code"] = done.returncode
    summary["csv"] = read_locust_csv(out / "locust")
    return summary


def read_locust_csv(prefix: Path) -> dict[str, Any]:
    """The ``Aggregated`` row of ``<prefix>_stats.csv`` and the failures of ``<prefix>_failures.csv``
    by HTTP status (written once a second by locust: may miss the last second)."""
    row: dict[str, str] = {}
    with contextlib.suppress(OSError), open(f"{prefix}_stats.csv", newline="") as file:
        row = next((r for r in csv.DictReader(file) if r["Name"] == "Aggregated"), {})
    failures: dict[str, int] = {}
    with contextlib.suppress(OSError), open(f"{prefix}_failures.csv", newline="") as file:
        for r in csv.DictReader(file):
            code = re.search(r"HTTP (\d+)", r["Error"])
            key = code.group(1) if code else r["Error"]
            failures[key] = failures.get(key, 0) + int(r["Occurrences"])
    number = lambda key: float(row[key]) if row.get(key) not in (None, "", "N/A") else None  # noqa: E731
    return {"requests": number("Request Count"), "failures": number("Failure Count"),
            "req_per_s": number("Requests/s"), "p50_ms": number("50%"), "p95_ms": number("95%"),
            "p99_ms": number("99%"), "failures_by_status": failures}


def percentiles(latencies_ms: list[float]) -> dict[str, float]:
    if not latencies_ms:
        return {"p50_ms": float("nan"), "p95_ms": float("nan"), "p99_ms": float("nan"), "mean_ms": float("nan")}
    values = np.asarray(latencies_ms)
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {"p50_ms": float(p50), "p95_ms": float(p95), "p99_ms": float(p99), "mean_ms": float(values.mean())}


def one_run(server_name: str, clients: int, settings: Settings, model: str, vocab: str | None, traffic: Path,
            warmup_posts: list[str], work: Path) -> dict[str, Any]:
    """One server, warmed up, under ``clients`` clients for ``duration_s``; its record."""
    label = f"{server_name}@{clients}"
    out = work / "runs" / label
    out.mkdir(parents=True)
    load = [round(x, 2) for x in os.getloadavg()]
    log(f"{NAME}: {server_name} server, {clients} client(s): start, warm up {settings.warmup_s:g} s, "
        f"measure {settings.duration_s} s …")
    with serve(model, vocab, SERVERS[server_name] + settings.server_args, settings.threads,
               out / "server.log") as server:
        warm = warm_up(server.url, warmup_posts, clients, settings.warmup_s, settings.lid_share, settings.seed)
        before = scrape(server.url)
        summary = run_locust(server.url, clients, settings.duration_s, traffic, out)
        after = scrape(server.url)
    status = {code: n for code, n in summary["status_codes"].items()}
    record = {
        "server": server_name, "clients": clients, "flags": list(SERVERS[server_name] + settings.server_args),
        "requests": summary["requests"], "failures": summary["failures"],
        "req_per_s": summary["req_per_s"], **percentiles(summary["latencies_ms"]),
        "locust_percentiles_ms": summary["locust_percentiles_ms"], "locust_mean_ms": summary["mean_ms"],
        "status_codes": status,
        "http_5xx": sum(n for code, n in status.items() if code.startswith("5")),
        "no_answer": status.get("0", 0),
        "errors": summary["errors"],
        "locust_exit_code": summary["exit_code"],
        "locust_csv": summary["csv"],
        "server_metrics": window(before, after),
        "server_exit_code": server.exit_code,
        "server_exited_cleanly": server.exited_cleanly,
        "server_start_seconds": server.start_seconds,
        "server_stop_seconds": server.stop_seconds,
        "server_log_errors": server.log_errors[:20],
        "warmup_status_codes": warm,
        "stream_wrapped": summary["requests"] > settings.stream_length,
        "load_average_at_start": load,
    }
    m = record["server_metrics"]
    log(f"{NAME}:   {record['req_per_s']:.1f} req/s, p50/p95/p99 {record['p50_ms']:.0f}/{record['p95_ms']:.0f}/"
        f"{record['p99_ms']:.0f} ms, {record['failures']} failures ({record['http_5xx']} 5xx), cache hits "
        f"{m['cache_hit_ratio']:.0%}, {m['mean_batch_sentences']:.1f} sentences/batch, server exit {server.exit_code}"
        f"{' (clean)' if server.exited_cleanly else ' (NOT clean)'}")
    return record


# -- the benchmark ----------------------------------------------------------------------------


def resolve_model(settings: Settings, work: Path) -> tuple[str, str | None, dict[str, Any]]:
    """(model, vocab, details): the settings', else the environment's, else one trained now."""
    if settings.model:
        return settings.model, settings.vocab, {"model_source": "settings"}
    if os.environ.get(MODEL_ENV):
        return os.environ[MODEL_ENV], settings.vocab or os.environ.get(VOCAB_ENV) or None, {"model_source": MODEL_ENV}
    log(f"{NAME}: no model given (settings or ${MODEL_ENV}): training one …")
    train_dir, spm_dir, details = evaluate_speed.train_model(work / "model", settings.train)
    return train_dir, spm_dir, {"model_source": "trained", "training": details}


def model_config(model: str) -> dict[str, Any] | None:
    """The train stage config of a train output folder (None for other model forms)."""
    from mtforge.stage import read_stage_record

    with contextlib.suppress(Exception):
        config = read_stage_record(model)["config"]
        keys = ("directions", "sharing", "d_model", "n_heads", "ffn_dim", "encoder_layers", "decoder_layers",
                "max_steps")
        return {k: config.get(k) for k in keys}
    return None


def beam_size(settings: Settings) -> int:
    """The servers' beam: ``--beam-size`` of ``server_args``, else ``mtforge serve``'s default."""
    from mtforge.serve.config import ServeConfig

    args = list(settings.server_args)
    if "--beam-size" in args:
        return int(args[args.index("--beam-size") + 1])
    return ServeConfig.model_fields["beam_size"].default


def traffic_details(posts: list[str], stream: list[list], settings: Settings) -> dict[str, Any]:
    words = [len(p.split()) for p in posts]
    weights = zipf_weights(len(posts), settings.zipf_s)
    return {"posts": len(posts), "post_words_mean": float(np.mean(words)), "post_chars_mean":
            float(np.mean([len(p) for p in posts])), "post_words_max": max(words),
            "posts_with_entity": sum(any(x in p for x in EMOJI + HASHTAGS + URLS + MENTIONS) for p in posts),
            "top_post_share": float(weights[0]), "top10_share": float(weights[:10].sum()),
            "lid_views_share": sum(lid for _, lid in stream) / len(stream),
            "example_posts": posts[:5]}


def speedups(runs: list[dict[str, Any]]) -> tuple[int | None, dict[str, float]]:
    """(clients, {server: throughput ÷ the baseline's}) at the most clients the baseline ran with."""
    rate = {(r["server"], r["clients"]): r["req_per_s"] for r in runs}
    common = [c for (s, c) in rate if s == BASELINE and any(s2 != BASELINE and c2 == c for (s2, c2) in rate)]
    if not common:
        return None, {}
    clients = max(common)
    base = rate[(BASELINE, clients)]
    return clients, {s: rate[(s, c)] / base for (s, c) in rate if c == clients}


def measure(work: Path, settings: Settings) -> tuple[dict[str, Any], list[tuple[str, str]], dict[str, Any]]:
    unknown = [name for name, _ in settings.runs if name not in SERVERS]
    if unknown:
        raise ValueError(f"unknown server configuration(s) {unknown}; known: {', '.join(SERVERS)}")
    model, vocab, details = resolve_model(settings, work)
    rng = random.Random(settings.seed)
    posts = build_posts(captions(POSTS_SPLIT), settings.posts, settings.entity_share, rng)
    warmup_posts = build_posts(captions(WARMUP_SPLIT), 200, settings.entity_share, rng)
    stream = view_stream(len(posts), settings.stream_length, settings.zipf_s, settings.lid_share, settings.seed)
    traffic = work / "traffic.json"
    traffic.write_text(json.dumps({"posts": posts, "stream": stream, "target_language": TARGET,
                                   "source_language": SOURCE}, ensure_ascii=False), encoding="utf-8")
    runs = [one_run(name, clients, settings, model, vocab, traffic, warmup_posts, work)
            for name, clients in settings.runs]
    shape = model_config(model)
    details.update({"model": model, "vocab": vocab, "model_config": shape,
                    "traffic": traffic_details(posts, stream, settings), "runs": runs,
                    "locust": subprocess.run([venv_tool("locust"), "--version"], capture_output=True,
                                             text=True).stdout.strip().splitlines()[:1]})
    metrics, table = summarise(runs, settings, details["traffic"], shape)
    return metrics, table, details


def summarise(runs: list[dict[str, Any]], settings: Settings, traffic: dict[str, Any],
              shape: dict[str, Any] | None) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """(metrics, table) of :class:`Result` from the runs' records (:func:`one_run`)."""
    for r in runs:  # the model's own rate: sentences it decoded per second it spent decoding
        m = r["server_metrics"]
        m["decoded_per_busy_s"] = m["sentences_decoded"] / m["translation_seconds"] if m["translation_seconds"] else 0.0
        m["busy_share"] = m["translation_seconds"] / settings.duration_s
    by = {(r["server"], r["clients"]): r for r in runs}
    at, ratio = speedups(runs)
    serial = by.get((BASELINE, 1))  # one client: nothing in flight to share, every sentence decoded
    over_serial = ({s: r["req_per_s"] / serial["req_per_s"] for (s, c), r in by.items() if c == at}
                   if serial and at else {})
    five_xx = sum(r["http_5xx"] + r["server_metrics"]["http_5xx"] for r in runs)
    clean = sum(r["server_exited_cleanly"] for r in runs)
    loads = [r["load_average_at_start"][0] for r in runs]
    metrics: dict[str, Any] = {
        "runs": {f"{r['server']}@{r['clients']}": {k: r[k] for k in (
            "server", "clients", "requests", "failures", "req_per_s", "p50_ms", "p95_ms", "p99_ms", "mean_ms",
            "http_5xx", "no_answer", "server_exit_code", "server_exited_cleanly")} | {
            k: r["server_metrics"][k] for k in ("cache_hit_ratio", "mean_batch_sentences", "decoded_share",
                                                "decoded_per_busy_s", "busy_share")}
            | {"load_average_at_start": r["load_average_at_start"][0]}
            for r in runs},
        "speedup_clients": at,
        "speedup_over_one_at_a_time": ratio,
        "speedup_over_one_at_a_time_1_client": over_serial,
        "target_speedup": 5.0,
        "target_met": ratio.get("batching+cache", 0.0) >= 5.0 if at == 32 else None,
        "http_5xx": five_xx,
        "failures": sum(r["failures"] for r in runs),
        "servers_exited_cleanly": clean == len(runs),
        "server_threads": settings.threads,
        "cores": os.cpu_count(),
        "load_average_at_starts": [min(loads), max(loads)],
    }
    table: list[tuple[str, str]] = []
    for r in sorted(runs, key=lambda r: (list(SERVERS).index(r["server"]), r["clients"])):
        m = r["server_metrics"]
        table.append((f"{r['server']}, {r['clients']} client{'s' if r['clients'] > 1 else ''}: req/s · "
                      "p50/p95/p99 ms · failures (5xx) · cache hits · sentences/batch",
                      f"{r['req_per_s']:.1f} · {r['p50_ms']:.0f}/{r['p95_ms']:.0f}/{r['p99_ms']:.0f} · "
                      f"{r['failures']} ({r['http_5xx']}) · {m['cache_hit_ratio']:.0%} · "
                      f"{m['mean_batch_sentences']:.1f}"))
    if at is not None:
        for name in ("batching+cache", "batching", "cache"):
            if name in ratio:
                target = " (target ≥ 5×)" if name == "batching+cache" and at == 32 else ""
                table.append((f"throughput ÷ one-at-a-time, {at} clients: {name}{target}", f"{ratio[name]:.2f}×"))
        base = by[(BASELINE, at)]["server_metrics"]
        table.append((f"  one-at-a-time, {at} clients, decodes of the sentences asked (the rest were in flight "
                      "for another request: awaited, not decoded again)", f"{base['decoded_share']:.0%}"))
        if "batching+cache" in over_serial:
            table.append((f"throughput ÷ one-at-a-time at 1 client (nothing in flight to share): batching+cache, "
                          f"{at} clients", f"{over_serial['batching+cache']:.2f}×"))
        rates = [(s, by[(s, at)]["server_metrics"]) for s in SERVERS if (s, at) in by]
        table.append((f"model's decoding rate, {at} clients: sentences per busy second (sentences/batch) — "
                      + " / ".join(s for s, _ in rates),
                      " / ".join(f"{m['decoded_per_busy_s']:.1f} ({m['mean_batch_sentences']:.1f})" for _, m in rates)))
    table += [
        ("5xx answers, all runs / servers that shut down cleanly on SIGTERM (exit codes)",
         f"{five_xx} / {clean} of {len(runs)} ({', '.join(sorted({str(r['server_exit_code']) for r in runs}))})"),
        ("traffic", f"{traffic['posts']} posts of 1–3 Multi30k {POSTS_SPLIT} captions "
                    f"({traffic['post_words_mean']:.0f} words on average), Zipf s={settings.zipf_s:g}; "
                    f"{settings.lid_share:.0%} without source_language (LID); cache cold at each run's start; "
                    f"{settings.duration_s} s per run after {settings.warmup_s:g} s warm-up"),
        ("server / load generator", f"mtforge serve: {settings.threads} torch thread(s), beam {beam_size(settings)}; "
                                    f"locust: 1 process, closed loop; both on this {os.cpu_count()}-core machine"),
        ("load average (1 min) at the runs' starts", f"{min(loads):.2f}–{max(loads):.2f}"),
    ]
    if shape:
        table.append(("model", f"{shape['directions']}, d{shape['d_model']}, {shape['encoder_layers']}+"
                               f"{shape['decoder_layers']} layers, {shape['max_steps']} steps"))
    return metrics, table


def run(settings: Settings, mode: str = "custom") -> Result:
    """Measure (see the module docstring)."""
    machine = machine_info()
    with tempfile.TemporaryDirectory(prefix="mtforge-bench-serve-") as tmp, \
            scoped_env(MTFORGE_HOME=str(Path(tmp) / "home"), MLFLOW_TRACKING_URI=None):
        with stopwatch() as elapsed:
            metrics, table, details = measure(Path(tmp), settings)
    details["total_seconds"] = elapsed[0]
    recorded = replace(settings, model=details["model"], vocab=details["vocab"])
    return Result(NAME, DESCRIPTION, mode, asdict(recorded), metrics, table, machine, details)


BENCHMARK = Benchmark(NAME, run, FULL, QUICK)
