"""The offer catalogue's table: offers stored as their validated definitions (reco.offers.Offer).

Writes replace whole offers, in one transaction for a whole catalogue file, so a catalogue is never
stored half; every offer read back is validated again, so a hand-edited row cannot serve a bad offer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

import pandas as pd
from sqlalchemy import Connection, Engine, delete, insert, select, update

from reco.clock import utc_now
from reco.offers.catalogue import Offer
from reco.store.bulk import rows_in, stage_insert
from reco.store.tables import OUTCOME_COLUMNS, offer_outcomes, offers


class OfferStore:
    """The offers of one store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def upsert(self, conn: Connection, chosen: Iterable[Offer]) -> tuple[int, int]:
        """Store offers inside the caller's transaction; returns (new, replaced)."""
        new = replaced = 0
        now = utc_now()
        for offer in chosen:
            values = {"definition": json.dumps(offer.to_record(), sort_keys=True), "updated_at": now}
            changed = conn.execute(update(offers).where(offers.c.offer_id == offer.offer_id).values(**values)).rowcount
            if changed:
                replaced += 1
            else:
                conn.execute(insert(offers).values(offer_id=offer.offer_id, **values))
                new += 1
        return new, replaced

    def all(self) -> list[Offer]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(offers.c.definition).order_by(offers.c.offer_id)).scalars().all()
        return [Offer.model_validate(json.loads(r)) for r in rows]

    def get(self, offer_id: str) -> Offer | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(offers.c.definition).where(offers.c.offer_id == offer_id)).scalar_one_or_none()
        return None if row is None else Offer.model_validate(json.loads(row))

    def delete(self, conn: Connection, offer_id: str) -> bool:
        return bool(conn.execute(delete(offers).where(offers.c.offer_id == offer_id)).rowcount)

    # ------------------------------------------------------------------ outcomes
    def insert_outcomes(self, conn: Connection, df: pd.DataFrame) -> int:
        """Insert canonical outcomes (``OUTCOME_COLUMNS``); one whose id is stored already is skipped."""
        return stage_insert(conn, "offer_outcomes", OUTCOME_COLUMNS, df, "ON CONFLICT (outcome_id) DO NOTHING")

    def outcomes(self, customers: str | Sequence[str] | None = None) -> pd.DataFrame:
        """Stored outcomes (of one customer, of several, or all), oldest first."""
        stmt = select(offer_outcomes).order_by(offer_outcomes.c.timestamp, offer_outcomes.c.outcome_id)
        ids = [customers] if isinstance(customers, str) else customers
        with self.engine.connect() as conn:
            rows = (conn.execute(stmt).fetchall() if ids is None
                    else rows_in(conn, stmt, offer_outcomes.c.customer_id, ids))
            frame = pd.DataFrame(rows, columns=list(OUTCOME_COLUMNS))
        frame["timestamp"] = pd.to_datetime(frame["timestamp"])
        return frame

    def erase_customer(self, conn: Connection, customer_id: str) -> int:
        """Delete a customer's outcomes inside the erasure's transaction; returns how many."""
        return int(conn.execute(delete(offer_outcomes).where(offer_outcomes.c.customer_id == customer_id)).rowcount)
