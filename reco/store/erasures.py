"""Erasures: which customers were erased, by keyed hash only (reco.store.hashing), and which erasures
still have model files to scrub.

An erasure deletes the customer's rows and records their hash in one transaction: from then on ingest
drops their rows, consent for them is refused and they are never personalised again. Saved model
versions hold ids too (id mappings, score tables), outside the database; an erasure is also noted as
*pending* until every version is scrubbed, and whoever finds pending ones (the API's periodic sync,
the train and score jobs) scrubs every version by hashing the ids it holds, so a file that failed
once is retried until done, and the id is never kept in clear to do it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, Engine, delete, func, insert, select

from reco.clock import utc_now
from reco.store.bulk import rows_in
from reco.store.hashing import CustomerHasher
from reco.store.tables import erasures, pending_erasures


class ErasureLog:
    """The erasures of one store."""

    def __init__(self, engine: Engine, hasher: CustomerHasher) -> None:
        self.engine = engine
        self.hasher = hasher

    def record(self, conn: Connection, customer_id: str) -> None:
        """Note the erasure inside the caller's transaction (again: nothing new), and that its files are
        pending until ``done``."""
        if self.erased_among(conn, [customer_id]):
            return
        hashed, now = self.hasher(customer_id), utc_now()
        conn.execute(insert(erasures).values(customer_hash=hashed, erased_at=now))
        conn.execute(insert(pending_erasures).values(customer_hash=hashed, erased_at=now))

    def erased_among(self, conn: Connection, customer_ids: Iterable[str]) -> set[str]:
        """Which of ``customer_ids`` were erased, under any secret ever used."""
        ids = {str(c) for c in customer_ids}
        if not ids or conn.execute(select(func.count()).select_from(erasures)).scalar_one() == 0:
            return set()
        keys = {h: c for c in ids for h in self.hasher.candidates(c)}
        return {keys[r[0]] for r in rows_in(conn, select(erasures.c.customer_hash), erasures.c.customer_hash,
                                            list(keys))}

    def is_erased(self, customer_id: str) -> bool:
        with self.engine.connect() as conn:
            return bool(self.erased_among(conn, [customer_id]))

    def pending(self) -> dict[str, datetime]:
        """Hashes of erasures whose model files are not all scrubbed yet, with when they happened."""
        with self.engine.connect() as conn:
            return {r[0]: r[1] for r in conn.execute(select(pending_erasures.c.customer_hash,
                                                            pending_erasures.c.erased_at))}

    def done(self, hashes: Iterable[str]) -> None:
        """Every model file is scrubbed of these erasures."""
        chosen = list(hashes)
        with self.engine.begin() as conn:
            for start in range(0, len(chosen), 1000):
                conn.execute(delete(pending_erasures).where(pending_erasures.c.customer_hash.in_(
                    chosen[start:start + 1000])))
