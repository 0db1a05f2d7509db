"""What every job reads first: the store's history up to its as-of time (reco.interactions.asof), with
purchases returned in full left out (reco.store.returns)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pandas as pd

from reco.exceptions import InputError
from reco.interactions.asof import AsOf, resolve_as_of
from reco.interactions.catalogue import with_categories
from reco.store import EventStore
from reco.store.returns import net_purchases

logger = logging.getLogger(__name__)


def history_as_of(store: EventStore, job: str, as_of: pd.Timestamp | str | None = None,
                  event_types: Sequence[str] = ("purchase",),
                  columns: Sequence[str] = ("customer_id", "item_id", "timestamp")) -> tuple[pd.DataFrame, AsOf]:
    """The store's events up to the as-of time, and that time; a tail left out is logged as a warning.
    Purchases are netted against the returns up to that time, unless returns are asked for themselves
    (then the caller sees both, as the churn and value models want)."""
    store.create_schema()
    net = "purchase" in event_types and "return" not in event_types
    read = (*event_types, "return") if net else tuple(event_types)
    wanted = [*columns, *(c for c in ("event_type", "quantity") if net and c not in columns)]
    events = store.read_events(read, columns=wanted)
    purchases = events if not net else events[events["event_type"] == "purchase"]
    if purchases.empty:
        raise InputError(f"the event store at {store.safe_url} holds no purchases; run 'reco ingest' first")
    when = resolve_as_of(purchases["timestamp"], as_of)
    if when.describe():
        logger.warning("%s: %s", job, when.describe())
    events = events[events["timestamp"] <= when.as_of]
    if net:
        events = net_purchases(events)[list(columns)].reset_index(drop=True)
    return events, when


def purchase_history(store: EventStore, job: str, as_of: pd.Timestamp | str | None = None) -> tuple[pd.DataFrame, AsOf]:
    """What the recommender jobs read: ``history_as_of``'s purchases, each with its item's catalogue
    category (a ``category`` column, missing where the catalogue names none), which the ranker uses."""
    events, when = history_as_of(store, job, as_of)
    return with_categories(events, store.items()), when
