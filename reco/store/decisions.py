"""Offer decisions and the exports that made them (reco.offers.engine, ``reco export offers``).

A treated (not control) decision is a *planned contact*: the CRM will send it, so it counts against the
customer's caps and the offer's budget from the moment it is exported, until an outcome that names its
decision id arrives (then the outcome counts, not both). Control decisions are never contacts; they are
kept so that ``reco report offers`` can compare the treated with them. An erased customer's decisions go
with the rest of their data.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, delete, insert, select

from reco.store.bulk import rows_in, stage_insert
from reco.store.tables import DECISION_COLUMNS, offer_decisions, offer_exports, offer_outcomes


class DecisionStore:
    """The offer decisions and exports of one store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record_export(self, conn: Connection, export_id: str, created_at: datetime, decided_at: datetime,
                      model_version: str | None, summary: dict[str, Any], decisions: pd.DataFrame) -> int:
        """Store an export and its decisions (``DECISION_COLUMNS``) inside the caller's transaction."""
        conn.execute(insert(offer_exports).values(export_id=export_id, created_at=created_at, decided_at=decided_at,
                                                  model_version=model_version,
                                                  summary=json.dumps(summary, sort_keys=True, default=str)))
        return stage_insert(conn, "offer_decisions", DECISION_COLUMNS, decisions.assign(export_id=export_id),
                            "ON CONFLICT (decision_id) DO NOTHING")

    def export(self, export_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(offer_exports).where(offer_exports.c.export_id == export_id)).mappings().first()
        if row is None:
            return None
        return {**dict(row), "summary": json.loads(row["summary"])}

    def exports(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(offer_exports.c.export_id).order_by(offer_exports.c.created_at)).scalars())

    def decisions(self, customer_ids: Sequence[str] | None = None, export_id: str | None = None) -> pd.DataFrame:
        """Stored decisions (of some customers, or of one export, or all), oldest first."""
        stmt = select(offer_decisions).order_by(offer_decisions.c.decided_at, offer_decisions.c.decision_id)
        if export_id is not None:
            stmt = stmt.where(offer_decisions.c.export_id == export_id)
        with self.engine.connect() as conn:
            rows = (conn.execute(stmt).fetchall() if customer_ids is None
                    else rows_in(conn, stmt, offer_decisions.c.customer_id, customer_ids))
        frame = pd.DataFrame(rows, columns=list(DECISION_COLUMNS))
        for column in ("decided_at", "valid_until"):
            frame[column] = pd.to_datetime(frame[column])
        frame["control"] = frame["control"].astype(bool)
        return frame

    def planned_contacts(self, customer_ids: Sequence[str] | None = None) -> pd.DataFrame:
        """Treated decisions whose outcome has not arrived yet, as contacts (customer_id, offer_id, outcome
        'sent', channel, timestamp = when decided, decision_id)."""
        decided = self.decisions(customer_ids)
        decided = decided[~decided["control"]]
        if decided.empty:
            return pd.DataFrame(columns=["customer_id", "offer_id", "outcome", "channel", "timestamp", "decision_id"])
        stmt = select(offer_outcomes.c.decision_id).where(offer_outcomes.c.decision_id.is_not(None))
        with self.engine.connect() as conn:
            rows = (conn.execute(stmt.distinct()).fetchall() if customer_ids is None
                    else rows_in(conn, stmt, offer_outcomes.c.customer_id, customer_ids))
        reported = {r[0] for r in rows}
        decided = decided[~decided["decision_id"].isin(reported)]
        return pd.DataFrame({"customer_id": decided["customer_id"], "offer_id": decided["offer_id"], "outcome": "sent",
                             "channel": decided["channel"], "timestamp": decided["decided_at"],
                             "decision_id": decided["decision_id"]}).reset_index(drop=True)

    def erase_customer(self, conn: Connection, customer_id: str) -> int:
        """Delete a customer's decisions inside the erasure's transaction; returns how many."""
        return int(conn.execute(delete(offer_decisions).where(offer_decisions.c.customer_id == customer_id)).rowcount)
