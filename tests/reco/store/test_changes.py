"""The change feed: which customers changed, from any connection, in commit order, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select, text

from reco.store import EventStore, changes
from reco.store import db as store_db
from reco.store.changes import ChangeWatcher, PostgresChangeWatcher
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


def test_events_consent_and_erasure_name_their_customers_by_hash(store: EventStore, store_url: str) -> None:
    watcher = store.change_watcher()
    assert watcher is not None and watcher.poll() == set()
    writer = EventStore(store_url)  # another engine: as another process would write
    with writer.transaction() as conn:
        writer.insert_events(conn, _purchases(["ann", "bob", "ann"]))
    assert _poll(watcher) == {store.hasher("ann"), store.hasher("bob")}
    assert watcher.poll() == set()  # nothing committed since
    with writer.transaction() as conn:
        assert writer.insert_events(conn, _purchases(["ann", "bob"])) == 0  # already stored: no change
    assert _poll(watcher) == set()
    writer.set_consent("cat", personalisation=False)
    writer.erase_customer("bob")
    assert _poll(watcher) == {store.hasher("cat"), store.hasher("bob")}
    with writer.engine.connect() as conn:
        rows = conn.execute(select(customer_changes.c.customer_hash)).scalars().all()
    assert "ann" not in rows and "bob" not in rows  # ids never land in the feed
    watcher.close()
    writer.dispose()


def _poll(watcher: ChangeWatcher) -> set[str] | None:
    """A poll after PostgreSQL's notifications had time to cross the socket (SQLite's are there at once)."""
    time.sleep(0.05)
    return watcher.poll()


def test_a_failed_write_leaves_no_change(store: EventStore) -> None:
    watcher = store.change_watcher()
    assert watcher is not None
    with pytest.raises(RuntimeError), store.transaction() as conn:
        store.insert_events(conn, _purchases(["ann"]))
        raise RuntimeError("rolled back")
    assert _poll(watcher) == set() and store.count_events() == 0
    watcher.close()


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
    assert watcher.poll() == {sqlite_store.hasher("y")}
    with sqlite_store.engine.connect() as conn:
        kept = conn.execute(select(customer_changes.c.customer_hash)).scalars().all()
    assert len(kept) <= 3 and EVERYONE not in kept  # only the last CHANGES_KEPT (+ this one) remain


@pytest.mark.postgres
def test_postgres_sends_big_changes_as_everyone_and_survives_a_lost_connection(
        pg_schema_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = EventStore(pg_schema_url)
    store.create_schema()
    watcher = store.change_watcher()
    assert isinstance(watcher, PostgresChangeWatcher)
    monkeypatch.setattr(store_db, "CHANGE_BATCH", 3)
    with store.transaction() as conn:
        store.insert_events(conn, _purchases(["a", "b", "c", "d"]))
    assert _poll(watcher) is None
    monkeypatch.setattr(changes, "NOTIFY_CHUNK", 2)
    monkeypatch.setattr(store_db, "NOTIFY_CHUNK", 2)
    with store.transaction() as conn:
        store.insert_events(conn, _purchases(["a", "b", "c"], prefix="f"))  # three hashes in two payloads
    assert _poll(watcher) == {store.hasher(c) for c in "abc"}
    with store.engine.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :name"),
                     {"name": changes.APPLICATION_NAME})
        conn.commit()
    deadline = time.monotonic() + 5
    while _poll(watcher) is not None:  # the server's goodbye takes a moment to arrive
        assert time.monotonic() < deadline, "the lost connection was never noticed"
    assert _poll(watcher) is None  # listening again, but what came in between is unknown
    store.set_consent("z", personalisation=False)
    assert _poll(watcher) == {store.hasher("z")}
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(customer_changes)).scalar_one() == 0  # NOTIFY only
    watcher.close()
    store.dispose()


def test_memory_databases_have_no_watcher() -> None:
    assert EventStore("sqlite://").change_watcher() is None
