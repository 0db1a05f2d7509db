"""What the store holds, counted for the dashboard's overview: events per day and channel, and how many
customers there are, how many consented to what and how many were erased. Aggregates only: no row here
names a customer."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine, case, func, select

from reco.store.tables import customers, erasures, events


class Activity:
    """Counts over one store's events, customers and erasures."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def events_per_day(self, days: int = 90) -> pd.DataFrame:
        """Events per day, event type and channel over the last ``days`` days of data (counted back from
        the newest event, so a store of old history still shows its last months): columns day
        (datetime), event_type, channel, events, revenue (price x quantity, purchases and returns alike)."""
        columns = ["day", "event_type", "channel", "events", "revenue"]
        with self.engine.connect() as conn:
            newest = conn.execute(select(func.max(events.c.timestamp))).scalar()
            if newest is None:
                return pd.DataFrame(columns=columns)
            newest = pd.Timestamp(newest).to_pydatetime()
            day = func.date(events.c.timestamp)  # an SQL date on PostgreSQL, 'YYYY-MM-DD' text on SQLite
            query = (select(day, events.c.event_type, events.c.channel, func.count(),
                            func.sum(events.c.price * events.c.quantity))
                     .where(events.c.timestamp > newest - timedelta(days=days))
                     .group_by(day, events.c.event_type, events.c.channel))
            rows = conn.execute(query).fetchall()
        frame = pd.DataFrame(rows, columns=columns)
        frame["day"] = pd.to_datetime(frame["day"])
        frame["events"] = frame["events"].astype(int)
        frame["revenue"] = frame["revenue"].astype(float).fillna(0.0)
        return frame.sort_values(["day", "event_type", "channel"]).reset_index(drop=True)

    def customer_counts(self) -> dict[str, Any]:
        """Customers with events, customers on record, those who opted out of personalisation, those who
        consented to marketing, and erasures."""
        with self.engine.connect() as conn:
            with_events = conn.execute(select(func.count(func.distinct(events.c.customer_id)))).scalar() or 0
            on_record, opted_out, marketing = conn.execute(select(
                func.count(),
                func.coalesce(func.sum(case((customers.c.consent_personalisation.is_(False), 1), else_=0)), 0),
                func.coalesce(func.sum(case((customers.c.consent_marketing.is_(True), 1), else_=0)), 0),
            )).one()
            erased = conn.execute(select(func.count()).select_from(erasures)).scalar() or 0
        return {"with_events": int(with_events), "on_record": int(on_record), "opted_out": int(opted_out),
                "marketing_consent": int(marketing), "erased": int(erased)}
