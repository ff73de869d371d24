"""Translation cache: sentence → translation, keyed by model version, direction and beam.

Posts in a feed are read by many viewers, so the same sentences come back again and again.
:class:`MemoryCache` is an in-process LRU; :class:`RedisCache` shares entries between the
replicas of a Deployment (with an expiry); :class:`TieredCache` asks the LRU first and fills
it from Redis (the service calls it from a worker thread when Redis is configured, so the
network never blocks its event loop). A Redis that is down never fails a request: the lookup counts as a miss, the
write is skipped, and ``errors`` counts what went wrong.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

log = logging.getLogger("mtforge.serve")


def cache_key(version: str, direction: str, beam_size: int, sentence: str) -> str:
    """A stable key (SHA-256 hex) of one sentence's translation by one model configuration."""
    return hashlib.sha256(f"{version}\x00{direction}\x00{beam_size}\x00{sentence}".encode()).hexdigest()


class TranslationCache(Protocol):
    """``get_many`` returns a translation or ``None`` per key; ``put_many`` stores pairs."""

    def get_many(self, keys: Sequence[str]) -> list[str | None]: ...

    def put_many(self, items: Sequence[tuple[str, str]]) -> None: ...


class MemoryCache:
    """A thread-safe LRU of at most ``entries`` translations (0: stores nothing)."""

    def __init__(self, entries: int) -> None:
        self.entries = entries
        self._data: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._data)

    def get_many(self, keys: Sequence[str]) -> list[str | None]:
        with self._lock:
            out = []
            for key in keys:
                value = self._data.get(key)
                if value is not None:
                    self._data.move_to_end(key)
                out.append(value)
            return out

    def put_many(self, items: Sequence[tuple[str, str]]) -> None:
        if self.entries <= 0:
            return
        with self._lock:
            for key, value in items:
                self._data[key] = value
                self._data.move_to_end(key)
            while len(self._data) > self.entries:
                self._data.popitem(last=False)


class RedisCache:
    """Translations in Redis under ``<prefix><key>`` with a TTL of ``ttl_s`` seconds."""

    def __init__(self, url: str, *, ttl_s: int, prefix: str = "mtforge:tr:", timeout_s: float = 0.5) -> None:
        import redis

        self.url = url
        self.ttl_s = ttl_s
        self.prefix = prefix
        self.errors = 0
        self._client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                                            decode_responses=True)

    def get_many(self, keys: Sequence[str]) -> list[str | None]:
        import redis

        if not keys:
            return []
        try:
            return list(self._client.mget([self.prefix + k for k in keys]))
        except redis.RedisError as exc:
            self._failed("read", exc)
            return [None] * len(keys)

    def put_many(self, items: Sequence[tuple[str, str]]) -> None:
        import redis

        if not items:
            return
        try:
            with self._client.pipeline(transaction=False) as pipe:
                for key, value in items:
                    pipe.set(self.prefix + key, value, ex=self.ttl_s)
                pipe.execute()
        except redis.RedisError as exc:
            self._failed("write", exc)

    def _failed(self, what: str, exc: Exception) -> None:
        self.errors += 1
        log.warning("redis cache %s failed (%s): %s", what, self.url, exc)


class TieredCache:
    """``first`` (the LRU), then ``second`` (Redis) for what the first lacks; hits from the
    second are copied into the first; writes go to both."""

    def __init__(self, first: TranslationCache, second: TranslationCache) -> None:
        self.first, self.second = first, second

    def get_many(self, keys: Sequence[str]) -> list[str | None]:
        out = self.first.get_many(keys)
        missing = [i for i, value in enumerate(out) if value is None]
        if missing:
            found = self.second.get_many([keys[i] for i in missing])
            refill = []
            for i, value in zip(missing, found):
                if value is not None:
                    out[i] = value
                    refill.append((keys[i], value))
            self.first.put_many(refill)
        return out

    def put_many(self, items: Sequence[tuple[str, str]]) -> None:
        self.first.put_many(items)
        self.second.put_many(items)

