"""The translation cache: the in-process LRU, Redis over the real protocol (fakeredis' TCP server
used through the real ``redis`` client), the tiered combination, and a Redis that is down
(misses and skipped writes, counted, never an exception and never a long wait)."""

from __future__ import annotations

import logging
import random
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import redis

from mtforge.serve.cache import MemoryCache, RedisCache, TieredCache, cache_key
from tests.serve.conftest import start_server, stop_server


@pytest.fixture
def redis_url(redis_port: int) -> Iterator[str]:
    """The server's URL, emptied before each test."""
    url = f"redis://127.0.0.1:{redis_port}"
    client = redis.Redis.from_url(url, decode_responses=True)
    client.flushall()
    yield url
    client.close()


@pytest.fixture
def raw(redis_url: str) -> redis.Redis:
    """A plain client to look at what the cache wrote."""
    return redis.Redis.from_url(redis_url, decode_responses=True)


@pytest.fixture
def dead_url() -> str:
    """A URL where nothing listens (the port was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"redis://127.0.0.1:{port}"


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """Threads switch every microsecond, so races show up within a short test."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


def timed(call: Callable[[], object]) -> tuple[object, float]:
    start = time.monotonic()
    result = call()
    return result, time.monotonic() - start


# -- cache_key --------------------------------------------------------------------------------------


def test_cache_key_is_stable_and_tells_every_part_apart() -> None:
    base = ("checkpoint@step100", "eng_Latn-deu_Latn", 4, "Hello world.")
    key = cache_key(*base)
    assert key == cache_key(*base) and len(key) == 64 and int(key, 16) >= 0
    variants = [("checkpoint@step200", *base[1:]), (base[0], "deu_Latn-eng_Latn", *base[2:]),
                (*base[:2], 1, base[3]), (*base[:3], "Hello world!"), (*base[:3], "Hello world. "),
                ("checkpoint@step10", "0eng_Latn-deu_Latn", 4, "Hello world.")]
    keys = {cache_key(*v) for v in variants}
    assert key not in keys and len(keys) == len(variants)


# -- MemoryCache ------------------------------------------------------------------------------------


def test_memory_cache_returns_hits_and_misses_in_key_order() -> None:
    cache = MemoryCache(10)
    cache.put_many([("a", "A"), ("b", "B")])
    assert cache.get_many(["b", "x", "a", "b"]) == ["B", None, "A", "B"]
    assert cache.get_many([]) == []
    cache.put_many([("a", "A2")])  # overwrite
    assert cache.get_many(["a"]) == ["A2"] and len(cache) == 2


def test_memory_cache_evicts_the_least_recently_used() -> None:
    cache = MemoryCache(3)
    cache.put_many([("a", "1"), ("b", "2"), ("c", "3")])
    assert cache.get_many(["a"]) == ["1"]  # a is now the most recent; b the least
    cache.put_many([("d", "4")])
    assert cache.get_many(["a", "b", "c", "d"]) == ["1", None, "3", "4"]
    cache.put_many([("c", "3b")])  # writing refreshes too: a is the oldest now
    cache.put_many([("e", "5")])
    assert cache.get_many(["a", "c", "d", "e"]) == [None, "3b", "4", "5"]
    assert len(cache) == 3
    cache.put_many([(str(i), str(i)) for i in range(10)])  # more than fits at once: the last ones stay
    assert len(cache) == 3 and cache.get_many(["6", "7", "8", "9"]) == [None, "7", "8", "9"]


def test_memory_cache_of_zero_entries_stores_nothing() -> None:
    cache = MemoryCache(0)
    cache.put_many([("a", "A")])
    assert cache.get_many(["a"]) == [None] and len(cache) == 0


def test_memory_cache_is_thread_safe(fast_switching) -> None:
    cache = MemoryCache(50)
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        barrier.wait()
        try:
            for _ in range(3000):
                keys = [f"k{rng.randrange(200)}" for _ in range(rng.randrange(1, 6))]
                if rng.random() < 0.5:
                    cache.put_many([(k, k.upper()) for k in keys])
                else:
                    for key, value in zip(keys, cache.get_many(keys)):
                        assert value in (None, key.upper())
        except BaseException as exc:  # noqa: BLE001 — reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert len(cache) == 50


# -- RedisCache -------------------------------------------------------------------------------------


def test_redis_cache_round_trip_with_ttl_and_prefix(redis_url, raw) -> None:
    cache = RedisCache(redis_url, ttl_s=3600, prefix="mt:test:")
    items = [("k1", "Hallo Welt."), ("k2", "Привет, мир! 🎉"), ("k3", "")]
    cache.put_many(items)
    assert cache.get_many(["k2", "missing", "k1", "k3"]) == ["Привет, мир! 🎉", None, "Hallo Welt.", ""]
    assert sorted(raw.keys("*")) == ["mt:test:k1", "mt:test:k2", "mt:test:k3"]
    assert raw.get("mt:test:k1") == "Hallo Welt."
    assert all(3590 <= raw.ttl(f"mt:test:{k}") <= 3600 for k, _ in items)
    assert cache.errors == 0
    # another replica with the same settings shares the entries; another prefix does not
    assert RedisCache(redis_url, ttl_s=60, prefix="mt:test:").get_many(["k1"]) == ["Hallo Welt."]
    assert RedisCache(redis_url, ttl_s=60, prefix="other:").get_many(["k1"]) == [None]


def test_redis_cache_default_prefix_and_expiry(redis_url, raw) -> None:
    cache = RedisCache(redis_url, ttl_s=1)
    cache.put_many([("k", "v")])
    assert raw.keys("*") == ["mtforge:tr:k"] and raw.ttl("mtforge:tr:k") in (0, 1)
    assert cache.get_many(["k"]) == ["v"]
    time.sleep(1.2)
    assert cache.get_many(["k"]) == [None]


def test_redis_cache_ignores_empty_calls(dead_url) -> None:
    cache = RedisCache(dead_url, ttl_s=60)
    assert cache.get_many([]) == []
    cache.put_many([])
    assert cache.errors == 0  # nothing was sent, so nothing failed


def test_unreachable_redis_counts_misses_and_skips_writes_without_raising(dead_url, caplog) -> None:
    cache = RedisCache(dead_url, ttl_s=60, timeout_s=0.3)
    with caplog.at_level(logging.WARNING, logger="mtforge.serve"):
        found, seconds = timed(lambda: cache.get_many(["a", "b", "c"]))
        assert found == [None, None, None] and seconds < 2.0
        assert cache.errors == 1
        _, seconds = timed(lambda: cache.put_many([("a", "A")]))
        assert seconds < 2.0 and cache.errors == 2
        cache.get_many(["a"])
        assert cache.errors == 3
    assert "redis cache read failed" in caplog.text and "redis cache write failed" in caplog.text


def test_redis_that_accepts_but_never_answers_costs_one_timeout(caplog) -> None:
    with socket.socket() as listener:  # the kernel accepts connections; nobody ever replies
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        cache = RedisCache(f"redis://127.0.0.1:{listener.getsockname()[1]}", ttl_s=60, timeout_s=0.2)
        found, seconds = timed(lambda: cache.get_many(["a"]))
        assert found == [None] and 0.15 <= seconds < 2.0
        _, seconds = timed(lambda: cache.put_many([("a", "A")]))
        assert seconds < 2.0 and cache.errors == 2


def test_redis_cache_recovers_when_redis_comes_back() -> None:
    server, port = start_server()
    cache = RedisCache(f"redis://127.0.0.1:{port}", ttl_s=60, timeout_s=0.3)
    cache.put_many([("a", "A")])
    assert cache.get_many(["a"]) == ["A"]
    stop_server(server)
    assert cache.get_many(["a"]) == [None]
    cache.put_many([("b", "B")])
    assert cache.errors == 2
    server, _ = start_server(port)  # a fresh, empty Redis on the same address
    try:
        cache.put_many([("b", "B")])
        assert cache.get_many(["a", "b"]) == [None, "B"]
        assert cache.errors == 2
    finally:
        stop_server(server)


# -- TieredCache -------------------------------------------------------------------


def test_tiered_cache_writes_both_and_refills_the_lru_from_redis(redis_url, raw) -> None:
    memory, shared = MemoryCache(100), RedisCache(redis_url, ttl_s=600)
    tiered = TieredCache(memory, shared)
    tiered.put_many([("a", "A"), ("b", "B")])
    assert memory.get_many(["a", "b"]) == ["A", "B"]
    assert raw.mget(["mtforge:tr:a", "mtforge:tr:b"]) == ["A", "B"]
    # another replica wrote "c": this one finds it in Redis and keeps it in its LRU
    RedisCache(redis_url, ttl_s=600).put_many([("c", "C")])
    assert memory.get_many(["c"]) == [None]
    assert tiered.get_many(["a", "c", "zzz", "b"]) == ["A", "C", None, "B"]
    assert memory.get_many(["c"]) == ["C"] and len(memory) == 3
    raw.flushall()  # the LRU still answers what it holds
    assert tiered.get_many(["a", "c"]) == ["A", "C"]


def test_tiered_cache_asks_redis_only_for_lru_misses_and_survives_it_being_down(dead_url) -> None:
    memory, shared = MemoryCache(100), RedisCache(dead_url, ttl_s=600, timeout_s=0.3)
    tiered = TieredCache(memory, shared)
    tiered.put_many([("a", "A")])  # the LRU write happens; the Redis write fails quietly
    assert shared.errors == 1
    assert tiered.get_many(["a"]) == ["A"]
    assert shared.errors == 1  # a full LRU hit never touched Redis
    assert tiered.get_many(["a", "b"]) == ["A", None]
    assert shared.errors == 2
