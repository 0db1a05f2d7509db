"""Which customers changed in the store since a process last looked, from any process: lets an API
process keep answers in memory and still see a purchase, a consent change or an erasure at once.

Writers note each change inside their own transaction (``EventStore.record_changes``), so a change is
visible exactly when its data is. Customers come as erasure hashes (``reco.store.db.erasure_key``),
never as ids; ``poll`` answers ``None`` for "anything may have changed" (a bulk load, or a watcher
that lost track), on which a reader forgets everything it holds.

- SQLite: ``PRAGMA data_version`` on a connection of the watcher's own changes whenever another
  connection (in this process or any other) commits, and reading it costs microseconds, so the common
  case touches no table. When it moved, the new rows of ``customer_changes`` say which customers.
- PostgreSQL: writers ``NOTIFY`` a channel named after their schema, delivered on commit and in commit
  order to every listening connection; the watcher's own connection ``LISTEN``s. A poll makes one round
  trip on it (``SELECT 1``, about 0.1 ms) before draining what arrived: without it a change committed
  just before was missed by 6 of 1,000 immediate polls (notifications travel on their own), with it by
  none, so a purchase counts from the very next request as on SQLite. A dropped connection reads as
  ``None`` and is opened again on the next poll.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

import psycopg
from psycopg import sql

from reco.store.tables import EVERYONE

logger = logging.getLogger(__name__)

CHANNEL_PREFIX = "reco_changes_"
APPLICATION_NAME = "reco-change-watcher"  # how its connection shows in pg_stat_activity
NOTIFY_CHUNK = 100  # hashes per NOTIFY payload (PostgreSQL caps a payload at 8,000 bytes)


def channel_for(schema: str) -> str:
    """The NOTIFY channel of a schema: PostgreSQL identifiers hold at most 63 bytes."""
    return (CHANNEL_PREFIX + schema)[:63]


class ChangeWatcher:
    """What every watcher answers; safe to share between threads. ``waits_on_network``: a poll makes a
    network round trip, so an event loop must not run it (SQLite's reads shared memory; PostgreSQL's not)."""

    waits_on_network = False

    def poll(self) -> set[str] | None:
        """Hashes of the customers changed since the last poll (empty: none), or None for "maybe anyone"."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class SQLiteChangeWatcher(ChangeWatcher):
    """Polls one SQLite database's ``customer_changes`` feed."""

    def __init__(self, database: str) -> None:
        self._conn = sqlite3.connect(database, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA busy_timeout=30000")
        self._lock = threading.Lock()
        with self._lock:
            self._version = self._data_version()
            self._seq = int(self._conn.execute("SELECT coalesce(max(seq), 0) FROM customer_changes").fetchone()[0])

    def _data_version(self) -> int:
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def poll(self) -> set[str] | None:
        with self._lock:
            version = self._data_version()
            if version == self._version:
                return set()
            self._version = version
            rows = self._conn.execute("SELECT seq, customer_hash FROM customer_changes WHERE seq > ? ORDER BY seq",
                                      (self._seq,)).fetchall()
            if not rows:
                return set()
            fell_behind = rows[0][0] != self._seq + 1  # rows were pruned before this watcher read them
            self._seq = int(rows[-1][0])
        hashes = {h for _, h in rows}
        return None if fell_behind or EVERYONE in hashes else hashes

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class PostgresChangeWatcher(ChangeWatcher):
    """LISTENs on the store schema's channel on a connection of its own (psycopg, autocommit)."""

    waits_on_network = True

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._lock = threading.Lock()
        self._conn: psycopg.Connection | None = None
        with self._lock:
            self._connect()

    def _connect(self) -> None:
        conn = psycopg.connect(self._dsn, autocommit=True, application_name=APPLICATION_NAME, connect_timeout=10)
        schema = conn.execute("SELECT current_schema()").fetchone()
        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel_for(schema[0] if schema else "public"))))
        self._conn = conn

    def poll(self) -> set[str] | None:
        with self._lock:
            try:
                if self._conn is None or self._conn.closed:
                    self._connect()
                    return None  # what was sent while it was not listening is unknown
                self._conn.execute("SELECT 1")  # the backend hands over what was committed before it
                payloads = [n.payload for n in self._conn.notifies(timeout=0)]
            except psycopg.Error as exc:
                logger.warning("change watcher lost its PostgreSQL connection: %s", exc)
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
                return None
        hashes = {h for payload in payloads for h in payload.split(",") if h}
        return None if EVERYONE in hashes else hashes

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
