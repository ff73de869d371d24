"""Dynamic micro-batching: sentences of concurrent requests share forward passes.

Requests hand their sentences (already encoded) to :meth:`MicroBatcher.submit` and get one
:class:`concurrent.futures.Future` per sentence. One worker thread owns the model: it takes
the oldest waiting request, then keeps taking requests until the batch holds
``max_batch_tokens`` padded source tokens or ``max_batch_sentences`` sentences, or
``max_wait_s`` has passed since that oldest request arrived. The batch is grouped by
direction, each group sorted by length and cut into chunks within the token budget, and
every chunk is one call of ``translate``. With ``batching=False`` every batch is exactly one
request (the baseline the load benchmark compares with).

A failing chunk fails only its own futures. :meth:`close` lets the worker finish everything
already submitted, then stops it; later submits raise :class:`RuntimeError`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field

log = logging.getLogger("mtforge.serve")

#: ``translate(direction key, source ids) -> (translations in order, output pieces)``.
TranslateFn = Callable[[Hashable, list[list[int]]], tuple[list[str], int]]
#: ``on_batch(sentences, padded source tokens, output pieces, seconds)``, after each chunk.
BatchHook = Callable[[int, int, int, float], None]


@dataclass
class _Request:
    key: Hashable
    ids: list[list[int]]
    futures: list[Future]
    longest: int  # source tokens of its longest sentence
    arrived: float = field(default_factory=time.monotonic)


class MicroBatcher:
    """See the module docstring."""

    def __init__(self, translate: TranslateFn, *, max_batch_tokens: int = 6000, max_batch_sentences: int = 64,
                 max_wait_s: float = 0.01, batching: bool = True, on_batch: BatchHook | None = None) -> None:
        self._translate = translate
        self.max_batch_tokens = max_batch_tokens
        self.max_batch_sentences = max_batch_sentences
        self.max_wait_s = max_wait_s
        self.batching = batching
        self._on_batch = on_batch
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        self._carry: _Request | None = None  # taken from the queue but did not fit the last batch
        self._closed = False
        self._lock = threading.Lock()
        self._worker = threading.Thread(target=self._run, name="mtforge-batcher", daemon=True)
        self._worker.start()

    def submit(self, key: Hashable, ids: list[list[int]]) -> list[Future]:
        """Queue the sentences ``ids`` of one direction ``key``; one future (its translation)
        per sentence, in order."""
        futures: list[Future] = [Future() for _ in ids]
        if not ids:
            return futures
        hash(key)  # checked here, not in the worker: bad input fails its caller only
        longest = max(map(len, ids))
        with self._lock:
            if self._closed:
                raise RuntimeError("the batcher is closed")
            self._queue.put(_Request(key, ids, futures, longest))
        return futures

    def close(self, timeout: float | None = None) -> bool:
        """Finish what was submitted, stop the worker; True when it stopped within ``timeout``."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._queue.put(None)
        self._worker.join(timeout)
        return not self._worker.is_alive()

    # -- worker ---------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            batch = self._collect()
            if batch is None:
                return
            try:
                self._execute(batch)
            except Exception as exc:  # noqa: BLE001 — the worker must outlive any batch
                for request in batch:
                    for future in request.futures:
                        _fail(future, exc)

    def _next(self, timeout: float | None) -> _Request | None:
        if self._carry is not None:
            request, self._carry = self._carry, None
            return request
        return self._queue.get(timeout=timeout) if timeout is None or timeout > 0 else self._queue.get_nowait()

    def _collect(self) -> list[_Request] | None:
        first = self._next(None)
        if first is None:
            return None
        batch = [first]
        if not self.batching:
            return batch
        sentences, longest = len(first.ids), first.longest
        deadline = first.arrived + self.max_wait_s
        while sentences < self.max_batch_sentences and longest * sentences < self.max_batch_tokens:
            try:
                request = self._next(deadline - time.monotonic())
            except queue.Empty:
                break
            if request is None:  # closing: run what we have, then stop at the next collect
                self._queue.put(None)
                break
            grown_longest = max(longest, request.longest)
            grown = sentences + len(request.ids)
            if grown > self.max_batch_sentences or grown_longest * grown > self.max_batch_tokens:
                self._carry = request
                break
            batch.append(request)
            sentences, longest = grown, grown_longest
        return batch

    def _execute(self, batch: list[_Request]) -> None:
        groups: dict[Hashable, list[tuple[list[int], Future]]] = {}
        for request in batch:
            groups.setdefault(request.key, []).extend(zip(request.ids, request.futures))
        for key, items in groups.items():
            items.sort(key=lambda item: len(item[0]))
            for chunk in self._chunks(items):
                self._run_chunk(key, chunk)

    def _chunks(self, items: list[tuple[list[int], Future]]) -> list[list[tuple[list[int], Future]]]:
        chunks: list[list[tuple[list[int], Future]]] = [[]]
        for item in items:  # sorted by length: the newest item is the longest of its chunk
            chunk = chunks[-1]
            if chunk and (len(chunk) + 1 > self.max_batch_sentences
                          or len(item[0]) * (len(chunk) + 1) > self.max_batch_tokens):
                chunks.append([])
            chunks[-1].append(item)
        return chunks

    def _run_chunk(self, key: Hashable, chunk: list[tuple[list[int], Future]]) -> None:
        live = [(ids, future) for ids, future in chunk if future.set_running_or_notify_cancel()]
        if not live:
            return
        start = time.perf_counter()
        try:
            texts, pieces = self._translate(key, [ids for ids, _ in live])
            if len(texts) != len(live):
                raise RuntimeError(f"translate returned {len(texts)} translations for {len(live)} sentences")
        except Exception as exc:  # noqa: BLE001 — delivered to the requests that asked
            for _, future in live:
                future.set_exception(exc)
            return
        seconds = time.perf_counter() - start
        for (_, future), text in zip(live, texts):
            future.set_result(text)
        if self._on_batch is not None:
            try:
                self._on_batch(len(live), max(len(ids) for ids, _ in live) * len(live), pieces, seconds)
            except Exception:  # noqa: BLE001 — a broken metrics hook must not fail translations
                log.exception("the on_batch hook failed")


def _fail(future: Future, exc: BaseException) -> None:
    """Fail ``future`` unless it is done (or its caller cancels it meanwhile)."""
    if not future.done():
        try:
            future.set_exception(exc)
        except InvalidStateError:  # cancelled between done() and set_exception()
            pass
