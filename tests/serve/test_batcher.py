"""MicroBatcher with a real translate function that records the calls it gets: concurrent requests
share calls within the sentence and padded-token budgets, never across directions, and every
future gets its own sentence's translation — or its own chunk's error."""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable, Iterator
from concurrent.futures import CancelledError, Future

import pytest

from mtforge.serve.batcher import MicroBatcher

RESULT_TIMEOUT = 10  # seconds; a future that takes longer is a hang, not a slow machine


def translation(key: Hashable, ids: list[int]) -> str:
    """What the fake model answers for one sentence: tells key and sentence apart."""
    return f"{key}:{'.'.join(map(str, ids))}"


class Model:
    """A translate function that records ``(key, ids)`` of every call, takes ``delay`` seconds
    per call, fails on any sentence containing ``poison`` and waits for ``gate`` when set."""

    def __init__(self, delay: float = 0.0, poison: int | None = None) -> None:
        self.delay = delay
        self.poison = poison
        self.gate: threading.Event | None = None
        self.calls: list[tuple[Hashable, list[list[int]]]] = []
        self._lock = threading.Lock()

    def __call__(self, key: Hashable, ids: list[list[int]]) -> tuple[list[str], int]:
        with self._lock:
            self.calls.append((key, [list(s) for s in ids]))
        if self.gate is not None:
            assert self.gate.wait(RESULT_TIMEOUT)
        time.sleep(self.delay)
        if self.poison is not None and any(self.poison in s for s in ids):
            raise ValueError(f"poisoned batch of {key}")
        return [translation(key, s) for s in ids], sum(map(len, ids))


@pytest.fixture
def batchers() -> Iterator[list[MicroBatcher]]:
    """Batchers created by a test; closed after it, whatever happened."""
    made: list[MicroBatcher] = []
    yield made
    for batcher in made:
        assert batcher.close(timeout=RESULT_TIMEOUT)


@pytest.fixture
def make(batchers):
    def make(model: Model, **settings) -> MicroBatcher:
        batcher = MicroBatcher(model, **settings)
        batchers.append(batcher)
        return batcher
    return make


def submit_concurrently(batcher: MicroBatcher, requests: list[tuple[Hashable, list[list[int]]]]) -> list[list[Future]]:
    """Submit every request from its own thread, all released at once; futures per request."""
    barrier = threading.Barrier(len(requests))
    futures: list[list[Future] | None] = [None] * len(requests)

    def client(i: int) -> None:
        barrier.wait()
        futures[i] = batcher.submit(*requests[i])

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(RESULT_TIMEOUT)
    assert all(f is not None for f in futures)
    return futures  # type: ignore[return-value]


def check_results(requests, futures) -> None:
    """Every future has the translation of its own sentence, in the order submitted."""
    for (key, ids), request_futures in zip(requests, futures):
        assert [f.result(RESULT_TIMEOUT) for f in request_futures] == [translation(key, s) for s in ids]


def sentence(n: int, tag: int) -> list[int]:
    """A sentence of ``n`` tokens whose first token tells it apart."""
    return [tag] + [7] * (n - 1)


# -- batching -----------------------------------------------------------------------------------


def test_concurrent_requests_share_calls_and_get_their_own_translations(make) -> None:
    model = Model(delay=0.02)
    batcher = make(model, max_wait_s=0.05)
    requests = [("eng-deu", [sentence(1 + (i + j) % 6, 100 * i + j) for j in range(1 + i % 3)]) for i in range(24)]
    futures = submit_concurrently(batcher, requests)
    check_results(requests, futures)
    assert len(model.calls) < len(requests)  # merged
    translated = sorted(tuple(s) for _, ids in model.calls for s in ids)
    assert translated == sorted(tuple(s) for _, ids in requests for s in ids)  # each sentence exactly once


def test_results_come_back_in_submission_order_though_batches_are_sorted_by_length(make) -> None:
    model = Model()
    batcher = make(model)
    ids = [sentence(5, 1), sentence(1, 2), sentence(9, 3), sentence(3, 4), sentence(1, 5)]
    futures = batcher.submit("k", ids)
    assert [f.result(RESULT_TIMEOUT) for f in futures] == [translation("k", s) for s in ids]
    assert [len(s) for s in model.calls[0][1]] == [1, 1, 3, 5, 9]


def test_no_call_exceeds_the_sentence_or_padded_token_budget(make) -> None:
    model = Model(delay=0.01)
    batcher = make(model, max_batch_sentences=5, max_batch_tokens=40, max_wait_s=0.05)
    requests = [("k", [sentence(1 + (3 * i + j) % 12, 100 * i + j) for j in range(1 + i % 4)]) for i in range(20)]
    requests.append(("k", [sentence(2, 5000 + j) for j in range(13)]))  # more sentences than a call takes
    requests.append(("k", [sentence(60, 6000)]))  # longer than the token budget on its own
    futures = submit_concurrently(batcher, requests)
    check_results(requests, futures)
    for _, ids in model.calls:
        assert len(ids) <= 5
        assert len(ids) == 1 or max(map(len, ids)) * len(ids) <= 40, [len(s) for s in ids]
    assert ("k", [sentence(60, 6000)]) in model.calls  # alone in its call
    assert len(model.calls) < sum(len(ids) for _, ids in requests)


def test_without_batching_every_call_is_exactly_one_request(make) -> None:
    model = Model(delay=0.005)
    batcher = make(model, batching=False, max_wait_s=0.05)
    requests = [("k", [sentence(1 + j, 100 * i + j) for j in range(1 + i % 3)]) for i in range(12)]
    futures = submit_concurrently(batcher, requests)
    check_results(requests, futures)
    assert len(model.calls) == len(requests)
    assert sorted(sorted(map(tuple, ids)) for _, ids in model.calls) == sorted(
        sorted(map(tuple, ids)) for _, ids in requests)


def test_directions_are_never_mixed_in_one_call(make) -> None:
    model = Model(delay=0.01)
    batcher = make(model, max_wait_s=0.05)
    keys = [("A", "eng_Latn", "deu_Latn"), ("A", "deu_Latn", "eng_Latn"), ("B", "eng_Latn", "deu_Latn")]
    # the first token of each sentence names its key
    requests = [(keys[i % 3], [sentence(2 + j, i % 3) for j in range(2)]) for i in range(18)]
    futures = submit_concurrently(batcher, requests)
    check_results(requests, futures)
    for key, ids in model.calls:
        assert {s[0] for s in ids} == {keys.index(key)}
    assert len(model.calls) < len(requests)


def test_a_lone_request_waits_at_most_about_max_wait(make) -> None:
    model = Model()
    batcher = make(model, max_wait_s=0.3)
    start = time.monotonic()
    future, = batcher.submit("k", [[1, 2]])
    assert future.result(RESULT_TIMEOUT) == "k:1.2"
    waited = time.monotonic() - start
    assert 0.25 <= waited < 3.0  # it waited for company, but not for long
    # a second request within the window joins the first one's call
    first = batcher.submit("k", [[1]])
    time.sleep(0.05)
    second = batcher.submit("k", [[2]])
    assert [f.result(RESULT_TIMEOUT) for f in first + second] == ["k:1", "k:2"]
    assert model.calls[-1] == ("k", [[1], [2]])


def test_empty_submit_needs_no_call(make) -> None:
    model = Model()
    batcher = make(model)
    assert batcher.submit("k", []) == []
    assert batcher.close(timeout=RESULT_TIMEOUT)
    assert model.calls == []


# -- failures --------------------------------------------------------------------------------------


def test_a_failing_chunk_fails_only_its_own_futures_and_the_worker_goes_on(make) -> None:
    model = Model(poison=666)
    model.gate = threading.Event()
    batcher = make(model, max_batch_sentences=2, max_wait_s=0.05)
    blocker = batcher.submit("k", [[0]])  # keeps the worker busy while the rest queues up
    while not model.calls:
        time.sleep(0.001)
    mixed = batcher.submit("k", [[1], [2, 2], [666, 3, 3], [4, 4, 4, 4]])  # chunks [1],[2,2] | [666..],[4..]
    other = batcher.submit("other", [[666]])
    fine = batcher.submit("fine", [[5]])
    model.gate.set()
    assert blocker[0].result(RESULT_TIMEOUT) == "k:0"
    assert [f.result(RESULT_TIMEOUT) for f in mixed[:2]] == ["k:1", "k:2.2"]
    for future in mixed[2:] + other:
        with pytest.raises(ValueError, match="poisoned batch"):
            future.result(RESULT_TIMEOUT)
    assert fine[0].result(RESULT_TIMEOUT) == "fine:5"
    again = batcher.submit("k", [[8]])
    assert again[0].result(RESULT_TIMEOUT) == "k:8"


def test_a_translate_that_returns_too_few_translations_fails_the_chunk_instead_of_hanging(make) -> None:
    def lossy(key, ids):
        return [translation(key, s) for s in ids][:-1], 0

    batcher = make(lossy)
    futures = batcher.submit("k", [[1], [2]])
    for future in futures:
        with pytest.raises(RuntimeError, match="1 translations for 2 sentences"):
            future.result(RESULT_TIMEOUT)


def test_bad_input_fails_its_caller_not_the_worker(make) -> None:
    model = Model()
    batcher = make(model)
    with pytest.raises(TypeError):
        batcher.submit(["unhashable"], [[1]])
    with pytest.raises(TypeError):
        batcher.submit("k", [1, 2])
    assert batcher.submit("k", [[3]])[0].result(RESULT_TIMEOUT) == "k:3"


def test_cancelled_futures_are_not_translated(make) -> None:
    model = Model()
    model.gate = threading.Event()
    batcher = make(model, max_wait_s=0.0)
    busy = batcher.submit("k", [[0]])
    while not model.calls:
        time.sleep(0.001)
    futures = batcher.submit("k", [[1], [2], [3]])
    assert futures[1].cancel()
    model.gate.set()
    assert busy[0].result(RESULT_TIMEOUT) == "k:0"
    assert futures[0].result(RESULT_TIMEOUT) == "k:1" and futures[2].result(RESULT_TIMEOUT) == "k:3"
    with pytest.raises(CancelledError):
        futures[1].result()
    assert model.calls[-1] == ("k", [[1], [3]])


# -- hook and shutdown ---------------------------------------------------------------------------


def test_on_batch_gets_sentences_padded_tokens_pieces_and_seconds(make) -> None:
    seen: list[tuple[int, int, int, float]] = []
    model = Model(delay=0.02)
    batcher = make(model, on_batch=lambda *args: seen.append(args), max_batch_sentences=3)
    futures = batcher.submit("k", [[1, 1], [2], [3, 3, 3, 3], [4], [5, 5, 5]])
    [f.result(RESULT_TIMEOUT) for f in futures]
    assert batcher.close(timeout=RESULT_TIMEOUT)  # the hook runs after the results are set
    # sorted by length: [2], [4], [1, 1] | [5, 5, 5], [3, 3, 3, 3]
    assert [(s, t, p) for s, t, p, _ in seen] == [(3, 2 * 3, 4), (2, 4 * 2, 7)]
    assert all(0.015 <= seconds < 5 for *_, seconds in seen)


def test_a_failing_hook_does_not_fail_translations(make, caplog) -> None:
    def hook(*args):
        raise RuntimeError("metrics are down")

    batcher = make(Model(), on_batch=hook, max_batch_sentences=1)
    futures = batcher.submit("k", [[1], [2], [3]])  # three chunks of one batch
    assert [f.result(RESULT_TIMEOUT) for f in futures] == ["k:1", "k:2", "k:3"]
    assert batcher.submit("k", [[4]])[0].result(RESULT_TIMEOUT) == "k:4"
    assert "on_batch hook failed" in caplog.text


def test_close_finishes_everything_submitted_then_refuses_new_work(make) -> None:
    model = Model(delay=0.01)
    batcher = make(model, max_batch_sentences=4, max_wait_s=0.02)
    requests = [("k", [sentence(1 + j, 10 * i + j) for j in range(3)]) for i in range(10)]
    futures = [batcher.submit(*request) for request in requests]
    assert batcher.close(timeout=RESULT_TIMEOUT)
    assert all(f.done() for fs in futures for f in fs)
    check_results(requests, futures)
    with pytest.raises(RuntimeError, match="closed"):
        batcher.submit("k", [[1]])
    assert batcher.close(timeout=1)  # closing again is harmless


def test_close_while_clients_keep_submitting_loses_nothing(make) -> None:
    model = Model(delay=0.002)
    batcher = make(model, max_wait_s=0.01)
    accepted: list[tuple[list[list[int]], list[Future]]] = []
    refused = threading.Event()

    def client(i: int) -> None:
        for n in range(10_000):
            ids = [[i, n]]
            try:
                accepted.append((ids, batcher.submit("k", ids)))
            except RuntimeError:
                refused.set()
                return
            time.sleep(0.001)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.1)
    assert batcher.close(timeout=RESULT_TIMEOUT)
    for thread in threads:
        thread.join(RESULT_TIMEOUT)
    assert refused.is_set() and accepted
    for ids, futures in accepted:
        assert futures[0].result(0) == translation("k", ids[0])
