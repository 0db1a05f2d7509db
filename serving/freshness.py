"""Which customers this API process may answer from memory, without reading the store first.

A recommendation needs the customer's consent verdict and purchase history, read from the store on
every request unless this process knows they have not changed since it last read them. That is what
``FreshCustomers`` keeps: per customer, the verdict and the history's fingerprint, dropped as soon as
the store's change feed (``reco.store.changes.ChangeWatcher``) names the customer, from whichever
process wrote. A request polls the feed first (microseconds on SQLite when nothing was committed, one
0.1 ms round trip on PostgreSQL), so a purchase, consent change or erasure counts from the very next
request in every worker, as with a store read.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from reco.store.changes import ChangeWatcher
from reco.store.hashing import CustomerHasher

CHANGES_REMEMBERED = 100_000  # recent changes kept to judge reads in flight; older ones count as "maybe"


class FreshCustomers:
    """Bounded LRU of customer -> what was read for them (for recommendations: personalisation allowed and
    the history's fingerprint; for offers: their answers), holding only what no change since its read
    has touched; safe to share between threads. Each instance needs its own watcher (a poll consumes the
    changes it returns)."""

    def __init__(self, watcher: ChangeWatcher, size: int, hasher: CustomerHasher) -> None:
        """``hasher``: the store's (the feed names customers by its hashes)."""
        self.watcher = watcher
        self.hasher = hasher
        self.size = size
        self._known: OrderedDict[str, Any] = OrderedDict()
        self._ids: dict[str, str] = {}  # erasure hash -> customer id, for the customers in _known
        self._changed: OrderedDict[str, int] = OrderedDict()  # hash -> generation of its latest change
        self._unknown_through = 0  # changes at or before this generation are no longer told apart
        self._generation = 0
        self._lock = threading.Lock()

    def refresh(self) -> None:
        """Drop the customers the store says changed since the last refresh (everyone on a bulk change)."""
        changed = self.watcher.poll()
        if not changed and changed is not None:
            return
        with self._lock:
            self._generation += 1
            if changed is None:
                self._known.clear()
                self._ids.clear()
                self._changed.clear()
                self._unknown_through = self._generation
                return
            for hashed in changed:
                self._changed[hashed] = self._generation
                self._changed.move_to_end(hashed)
                customer = self._ids.pop(hashed, None)
                if customer is not None:
                    self._known.pop(customer, None)
            while len(self._changed) > CHANGES_REMEMBERED:
                _, generation = self._changed.popitem(last=False)
                self._unknown_through = max(self._unknown_through, generation)

    def get(self, customer_id: str) -> Any:
        """What was read for the customer, if nothing changed since (call ``refresh`` first); else None."""
        with self._lock:
            entry = self._known.get(customer_id)
            if entry is not None:
                self._known.move_to_end(customer_id)
            return entry

    def begin(self) -> int:
        """Refresh, and the generation to pass to ``remember`` for a read of the store started now."""
        self.refresh()
        return self._generation

    def remember(self, customer_id: str, value: Any, since: int) -> None:
        """Keep what a read begun at generation ``since`` found, unless a change to the customer was seen
        after it began (the read may predate it); a change not seen yet is dropped at the next refresh."""
        hashed = self.hasher(customer_id)
        with self._lock:
            if self._unknown_through > since or self._changed.get(hashed, 0) > since:
                return
            self._known[customer_id] = value
            self._known.move_to_end(customer_id)
            self._ids[hashed] = customer_id
            while len(self._known) > self.size:
                gone, _ = self._known.popitem(last=False)
                self._ids.pop(self.hasher(gone), None)

    def forget(self, customer_id: str) -> None:
        with self._lock:
            if self._known.pop(customer_id, None) is not None:
                self._ids.pop(self.hasher(customer_id), None)

    def __len__(self) -> int:
        return len(self._known)
