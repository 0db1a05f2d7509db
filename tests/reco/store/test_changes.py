"""The change feed: which customers changed, from any connection, in commit order; SQLite only."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from reco.store import EventStore
from reco.store import db as store_db
from reco.store.db import erasure_key
from reco.store.tables import EVERYONE, customer_changes


def _purchases(customers: list[str], prefix: str = "e") -> pd.DataFrame:
    return pd.DataFrame({
        "event_id": [f"{prefix}{k}" for k in range(len(customers))], "customer_id": customers,
        "item_id": "i1", "timestamp": pd.Timestamp("2024-01-01"), "event_type": "purchase", "quantity": 1.0,
        "price": 1.0, "order_id": None, "channel": "web", "discount": None, "coupon_discount": None, "source": "t",
    })


@pytest.fixture
def sqlite_store(tmp_path: Path) -> EventStore:
    store = EventStore(f"sqlite:///{tmp_path / 'reco.db'}")
    store.create_schema()
    return store


def test_events_consent_and_erasure_name_their_customers_by_hash(sqlite_store: EventStore, tmp_path: Path) -> None:
    watcher = sqlite_store.change_watcher()
    assert watcher is not None and watcher.poll() == set()
    writer = EventStore(f"sqlite:///{tmp_path / 'reco.db'}")  # another engine: as another process would write
    with writer.transaction() as conn:
        writer.insert_events(conn, _purchases(["ann", "bob", "ann"]))
    assert watcher.poll() == {erasure_key("ann"), erasure_key("bob")}
    assert watcher.poll() == set()  # nothing committed since
    with writer.transaction() as conn:
        assert writer.insert_events(conn, _purchases(["ann", "bob"])) == 0  # already stored: no change
    assert watcher.poll() == set()
    writer.set_consent("cat", personalisation=False)
    writer.erase_customer("bob")
    assert watcher.poll() == {erasure_key("cat"), erasure_key("bob")}
    rows = writer.engine.connect().execute(select(customer_changes.c.customer_hash)).scalars().all()
    assert "ann" not in rows and "bob" not in rows  # ids never land in the feed
    watcher.close()
    writer.dispose()


def test_a_failed_write_leaves_no_change(sqlite_store: EventStore) -> None:
    watcher = sqlite_store.change_watcher()
    assert watcher is not None
    with pytest.raises(RuntimeError), sqlite_store.transaction() as conn:
        sqlite_store.insert_events(conn, _purchases(["ann"]))
        raise RuntimeError("rolled back")
    assert watcher.poll() == set() and sqlite_store.count_events() == 0


def test_bulk_loads_and_pruned_rows_read_as_anyone(sqlite_store: EventStore, monkeypatch: pytest.MonkeyPatch) -> None:
    watcher = sqlite_store.change_watcher()
    assert watcher is not None
    monkeypatch.setattr(store_db, "CHANGE_BATCH", 3)
    with sqlite_store.transaction() as conn:
        sqlite_store.insert_events(conn, _purchases(["a", "b", "c", "d"]))
    assert watcher.poll() is None  # more than CHANGE_BATCH customers: everyone
    monkeypatch.setattr(store_db, "CHANGES_KEPT", 2)
    for k in range(4):
        sqlite_store.set_consent(f"x{k}", personalisation=True)
    assert watcher.poll() is None  # the watcher's next rows were pruned: it cannot tell who changed
    sqlite_store.set_consent("y", personalisation=True)
    assert watcher.poll() == {erasure_key("y")}
    with sqlite_store.engine.connect() as conn:
        kept = conn.execute(select(customer_changes.c.customer_hash)).scalars().all()
    assert len(kept) <= 3 and EVERYONE not in kept  # only the last CHANGES_KEPT (+ this one) remain


@pytest.mark.postgres
def test_postgres_has_no_watcher_and_writes_no_feed(pg_schema_url: str) -> None:
    store = EventStore(pg_schema_url)
    store.create_schema()
    assert store.change_watcher() is None
    store.set_consent("ann", personalisation=False)
    with store.transaction() as conn:
        store.insert_events(conn, _purchases(["ann"]))
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(customer_changes)).scalar_one() == 0
    store.dispose()


def test_memory_databases_have_no_watcher() -> None:
    assert EventStore("sqlite://").change_watcher() is None
