"""The SQLite event store: round trip, append-only, thread-safe, all-or-nothing writes."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from mtforge.abtest.store import CLICK_TRANSLATE, IMPRESSION, Event, EventStore
from mtforge.errors import ConfigError

EVENTS = [
    Event("p1", "u1", "A", IMPRESSION, 100.0),
    Event("p1", "u1", "A", CLICK_TRANSLATE, 110.0),
    Event("p1", "u1", "A", "like", 120.5),
    Event("p2", "u2", "B", IMPRESSION, 50.0),
]


def test_logged_events_read_back_in_order_and_persist(tmp_path: Path) -> None:
    path = tmp_path / "new" / "folder" / "ab.db"
    with EventStore(path) as store:
        assert store.log(EVENTS) == 4
        assert list(store.events()) == EVENTS
        assert list(store.events(since=100.0)) == EVENTS[:3]
    with EventStore(path) as store:
        assert store.log([Event("p3", "u3", "B", "share", 7)]) == 1
        assert list(store.events()) == [*EVENTS, Event("p3", "u3", "B", "share", 7.0)]


def test_the_database_is_in_wal_mode(tmp_path: Path) -> None:
    EventStore(tmp_path / "ab.db").close()
    with sqlite3.connect(tmp_path / "ab.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


@pytest.mark.parametrize("statement", ["UPDATE events SET variant = 'B'", "DELETE FROM events",
                                       "DELETE FROM events WHERE post_id = 'p1'"])
def test_the_database_rejects_updates_and_deletes(tmp_path: Path, statement: str) -> None:
    with EventStore(tmp_path / "ab.db") as store:
        store.log(EVENTS)
    conn = sqlite3.connect(tmp_path / "ab.db")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute(statement)
    conn.close()
    with EventStore(tmp_path / "ab.db") as store:
        assert list(store.events()) == EVENTS


def test_eight_threads_logging_at_once_lose_nothing(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "ab.db")
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def worker(t: int) -> None:
        try:
            barrier.wait()
            for batch in range(25):
                store.log(Event(f"p{t}-{batch}", f"u{i}", "AB"[i % 2], IMPRESSION, float(i)) for i in range(20))
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    events = list(store.events())
    store.close()
    assert len(events) == 8 * 25 * 20
    assert {(e.post_id, e.user_id) for e in events} == {
        (f"p{t}-{b}", f"u{i}") for t in range(8) for b in range(25) for i in range(20)}


def test_logging_while_reading_neither_blocks_nor_shows_up_in_the_read(tmp_path: Path) -> None:
    with EventStore(tmp_path / "ab.db") as store:
        store.log(EVENTS)
        reader = store.events()
        first = next(reader)
        store.log([Event("p9", "u9", "A", IMPRESSION, 1.0)])
        assert [first, *reader] == EVENTS
        assert len(list(store.events())) == 5


@pytest.mark.parametrize(("field", "value"), [("post_id", ""), ("user_id", ""), ("event", ""), ("variant", "C"),
                                              ("variant", "a"), ("time", float("nan")), ("post_id", None)])
def test_a_bad_event_names_its_field_and_value_and_writes_nothing(tmp_path: Path, field: str,
                                                                  value: object) -> None:
    good = Event("p1", "u1", "A", IMPRESSION, 1.0)
    bad = Event(**{**good.__dict__, field: value})
    with EventStore(tmp_path / "ab.db") as store:
        with pytest.raises(ConfigError, match=rf"event 2: {field} .*{value!r}"):
            store.log([good, good, bad, good])
        assert list(store.events()) == []


def test_a_closed_store_cannot_be_used(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "ab.db")
    store.close()
    with pytest.raises(sqlite3.ProgrammingError):
        store.log(EVENTS)
    with pytest.raises(sqlite3.ProgrammingError):
        list(store.events())
