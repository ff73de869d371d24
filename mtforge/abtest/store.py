"""The append-only event log of an online A/B test, in SQLite.

One row per user activity on a post: ``(post_id, user_id, variant, event, time)``, the
activity table of the design (``(post_id, user_id, activity, timestamp)``) plus the variant
that served the post's translation. Rows are never changed: the database itself rejects
every ``UPDATE`` and ``DELETE`` (triggers raising ``sqlite3.IntegrityError``), so a report
computed from the log can always be recomputed.

The database runs in WAL mode, so readers (:meth:`EventStore.events`, each with its own
connection) never block the writer. One :class:`EventStore` may be shared by the threads of
a process (a web server logging from its workers): writes go through one connection guarded
by a lock; several processes may also open the same file (writers wait up to
:data:`BUSY_TIMEOUT_S` for each other).
"""

from __future__ import annotations

import math
import numbers
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from mtforge.abtest.router import VARIANTS
from mtforge.errors import ConfigError

#: The post (and its "Translate" button) was shown to the user.
IMPRESSION = "impression"
#: The user clicked "Translate" on the post.
CLICK_TRANSLATE = "click_translate"
#: Activities that count as engagement with a post.
ENGAGEMENTS = frozenset({"like", "comment", "share", "follow", "friend_request"})
#: Seconds a writer waits for another process's write lock before failing.
BUSY_TIMEOUT_S = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    post_id TEXT NOT NULL CHECK (post_id <> ''),
    user_id TEXT NOT NULL CHECK (user_id <> ''),
    variant TEXT NOT NULL CHECK (variant IN ('A', 'B')),
    event TEXT NOT NULL CHECK (event <> ''),
    time REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_time ON events (time);
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only: UPDATE is not allowed'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only: DELETE is not allowed'); END;
"""


@dataclass(frozen=True)
class Event:
    """One user activity on a post.

    ``variant`` is the model that served the post (``"A"`` or ``"B"``); ``event`` is
    :data:`IMPRESSION`, :data:`CLICK_TRANSLATE`, one of :data:`ENGAGEMENTS` or any other
    activity name (stored, not counted as engagement); ``time`` is in unix seconds.
    """

    post_id: str
    user_id: str
    variant: str
    event: str
    time: float


def _check(index: int, event: Event) -> tuple[str, str, str, str, float]:
    """The event as a row, or :class:`ConfigError` naming the event's index, field and value."""
    def bad(field: str, value: object, want: str) -> ConfigError:
        return ConfigError(f"event {index}: {field} must be {want}, got {value!r}")

    if not isinstance(event, Event):
        raise ConfigError(f"event {index}: expected an Event, got {event!r}")
    for field in ("post_id", "user_id", "event"):
        value = getattr(event, field)
        if not isinstance(value, str) or not value:
            raise bad(field, value, "a non-empty string")
    if event.variant not in VARIANTS:
        raise bad("variant", event.variant, "'A' or 'B'")
    if isinstance(event.time, bool) or not isinstance(event.time, numbers.Real) or not math.isfinite(event.time):
        raise bad("time", event.time, "finite unix seconds")
    return event.post_id, event.user_id, event.variant, event.event, float(event.time)


class EventStore:
    """An append-only SQLite event log at ``path`` (created with its parent folders when
    missing; an existing log is opened and appended to). Usable as a context manager, which
    closes it; a closed store raises :class:`sqlite3.ProgrammingError` on use."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = self._connect()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)

    def log(self, events: Iterable[Event]) -> int:
        """Append ``events`` in one transaction and return how many were written.

        Every event is checked first: an empty ``post_id``, ``user_id`` or ``event``, a
        ``variant`` other than ``"A"``/``"B"`` or a non-finite ``time`` raises
        :class:`ConfigError` naming the event's index, the field and the value, and nothing
        is written. Safe to call from several threads at once.
        """
        rows = [_check(i, event) for i, event in enumerate(events)]
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    "INSERT INTO events (post_id, user_id, variant, event, time) VALUES (?, ?, ?, ?, ?)", rows)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        return len(rows)

    def events(self, since: float | None = None) -> Iterator[Event]:
        """Every logged event (those with ``time >= since`` when ``since`` is given), in the
        order they were logged. Reads a snapshot on its own connection: events logged while
        iterating are not seen, and iterating does not block writers."""
        with self._lock:
            self._conn.execute("SELECT 1")  # raises ProgrammingError once the store is closed
        conn = self._connect()
        try:
            query = "SELECT post_id, user_id, variant, event, time FROM events"
            cursor = (conn.execute(query + " ORDER BY id") if since is None
                      else conn.execute(query + " WHERE time >= ? ORDER BY id", (since,)))
            for row in cursor:
                yield Event(*row)
        finally:
            conn.close()

    def close(self) -> None:
        """Close the store's connection (idempotent)."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
