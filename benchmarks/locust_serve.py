"""The locustfile of :mod:`benchmarks.serve_load`: viewers asking ``mtforge serve`` to translate posts.

Run only by locust, in its own process (``locust -f benchmarks/locust_serve.py --headless …``):
locust monkey-patches the standard library with gevent, so neither the benchmark nor the test
process may import it (or this file).

``MTFORGE_LOCUST_TRAFFIC`` names a JSON file ``{"posts": [text, …], "stream": [[post, lid], …],
"target_language": …, "source_language": …}`` written by the benchmark. ``stream`` is the order
in which posts are viewed (Zipf-like popularity, seeded): every request, whichever user sends
it, takes the next entry, so every run sees the same post stream from its start. An entry
with ``lid`` true is sent without ``source_language`` (the server detects the language);
the others name it.

Each user is a viewer that sends its next request as soon as the last one was answered (a
closed loop, no think time), so *N users* is *N requests in flight*. Every request is
``POST /translate`` with one post; an answer other than 200, or a 200 without one
translation, is a failure recorded as ``HTTP <code>`` (``HTTP 0``: no answer), so the
failures CSV counts 5xx answers by code.

When locust quits, the JSON file ``MTFORGE_LOCUST_SUMMARY`` gets this run's final record:
locust's own totals (requests, failures, req/s, its percentiles — locust rounds response
times to two significant digits), every request's latency in ms (exact, for exact
percentiles), the answers counted by HTTP status (0: no answer) and the failures by message.
It is written because locust's ``--csv`` files are rewritten once a second while it runs and
are not rewritten at the end, so they miss up to the last second.
"""

from __future__ import annotations

import collections
import itertools
import json
import os
from typing import Any

from locust import FastHttpUser, constant, events, task

TRAFFIC_ENV = "MTFORGE_LOCUST_TRAFFIC"
SUMMARY_ENV = "MTFORGE_LOCUST_SUMMARY"

with open(os.environ[TRAFFIC_ENV], encoding="utf-8") as _file:
    _TRAFFIC = json.load(_file)
_POSTS: list[str] = _TRAFFIC["posts"]
_STREAM: list[list] = _TRAFFIC["stream"]
_TARGET: str = _TRAFFIC["target_language"]
_SOURCE: str = _TRAFFIC["source_language"]
_NEXT = itertools.count()  # shared by all users: gevent runs them in one thread
_LATENCIES_MS: list[float] = []
_STATUS: collections.Counter = collections.Counter()


@events.request.add_listener
def _record(response_time: float, response: Any = None, **_: Any) -> None:
    _LATENCIES_MS.append(response_time)
    _STATUS[str(getattr(response, "status_code", None) or 0)] += 1


@events.quitting.add_listener
def _summary(environment: Any, **_: Any) -> None:
    path = os.environ.get(SUMMARY_ENV)
    if not path:
        return
    total = environment.stats.total
    summary = {
        "requests": total.num_requests, "failures": total.num_failures, "req_per_s": total.total_rps,
        "locust_percentiles_ms": {str(p): total.get_response_time_percentile(p) for p in (0.5, 0.95, 0.99)},
        "mean_ms": total.avg_response_time, "start_time": total.start_time,
        "last_request_time": total.last_request_timestamp, "latencies_ms": _LATENCIES_MS,
        "status_codes": dict(_STATUS),
        "errors": {str(e.error): e.occurrences for e in environment.stats.errors.values()},
    }
    with open(path, "w", encoding="utf-8") as file:
        json.dump(summary, file)


class Viewer(FastHttpUser):
    """One viewer translating the next post of the stream, again and again."""

    wait_time = constant(0)

    @task
    def translate(self) -> None:
        post, lid = _STREAM[next(_NEXT) % len(_STREAM)]
        body = {"texts": [_POSTS[post]], "target_language": _TARGET}
        if not lid:
            body["source_language"] = _SOURCE
        with self.client.post("/translate", json=body, name="/translate", catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
                return
            try:
                ok = len(response.json()["translations"]) == 1
            except (ValueError, KeyError, TypeError):
                ok = False
            if ok:
                response.success()
            else:
                response.failure("HTTP 200 without one translation")
