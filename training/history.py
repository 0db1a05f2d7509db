"""What every job reads first: the store's history up to its as-of time (reco.interactions.asof)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pandas as pd

from reco.exceptions import InputError
from reco.interactions.asof import AsOf, resolve_as_of
from reco.store import EventStore

logger = logging.getLogger(__name__)


def history_as_of(store: EventStore, job: str, as_of: pd.Timestamp | str | None = None,
                  event_types: Sequence[str] = ("purchase",),
                  columns: Sequence[str] = ("customer_id", "item_id", "timestamp")) -> tuple[pd.DataFrame, AsOf]:
    """The store's events up to the as-of time, and that time; a tail left out is logged as a warning."""
    store.create_schema()
    events = store.read_events(tuple(event_types), columns=tuple(columns))
    if events.empty:
        raise InputError(f"the event store at {store.safe_url} holds no purchases; run 'reco ingest' first")
    when = resolve_as_of(events["timestamp"], as_of)
    if when.describe():
        logger.warning("%s: %s", job, when.describe())
    return events[events["timestamp"] <= when.as_of], when
