"""Which customers changed in the store since a process last looked, from any process: lets an API
process keep answers in memory and still see a purchase, a consent change or an erasure at once.

SQLite only. ``PRAGMA data_version`` on a connection of the watcher's own changes whenever another
connection (in this process or any other) commits, and reading it costs microseconds, so the common
case (nothing committed) touches no table. When it moved, the new rows of ``customer_changes`` say
which customers. Customers come as erasure hashes (``reco.store.db.erasure_key``); ``None`` from
``poll`` means "anything may have changed": a bulk load, or rows pruned before the watcher read them.
"""

from __future__ import annotations

import sqlite3
import threading

from reco.store.tables import EVERYONE


class ChangeWatcher:
    """Polls one SQLite database's ``customer_changes`` feed; safe to share between threads."""

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
        """Hashes of the customers changed since the last poll (empty: none), or None for "maybe anyone"."""
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
