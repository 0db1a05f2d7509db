"""What an API process may answer from memory: only customers no change has touched since their read."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from reco.store import EventStore
from reco.store import db as store_db
from serving import freshness
from serving.freshness import FreshCustomers


@pytest.fixture
def setup(tmp_path: Path) -> tuple[EventStore, FreshCustomers]:
    store = EventStore(f"sqlite:///{tmp_path / 'reco.db'}")
    store.create_schema()
    watcher = store.change_watcher()
    assert watcher is not None
    return store, FreshCustomers(watcher, size=3, hasher=store.hasher)


def _buy(store: EventStore, *customers: str) -> None:
    frame = pd.DataFrame({
        "event_id": [f"{c}-{pd.Timestamp.now().value}" for c in customers], "customer_id": list(customers),
        "item_id": "i1", "timestamp": pd.Timestamp("2024-01-01"), "event_type": "purchase", "quantity": 1.0,
        "price": 1.0, "order_id": None, "channel": "web", "discount": None, "coupon_discount": None, "source": "t",
    })
    with store.transaction() as conn:
        store.insert_events(conn, frame)


def test_a_change_drops_only_that_customer(setup: tuple[EventStore, FreshCustomers]) -> None:
    store, fresh = setup
    since = fresh.begin()
    fresh.remember("ann", (True, b"f1"), since)
    fresh.remember("bob", (False, None), since)
    assert fresh.get("ann") == (True, b"f1") and fresh.get("bob") == (False, None)
    _buy(store, "ann")
    assert fresh.get("ann") == (True, b"f1")  # not seen until the next refresh, which every request runs first
    fresh.refresh()
    assert fresh.get("ann") is None and fresh.get("bob") == (False, None)
    store.set_consent("bob", personalisation=True)
    fresh.refresh()
    assert fresh.get("bob") is None


def test_a_read_that_may_predate_a_change_is_not_kept(setup: tuple[EventStore, FreshCustomers]) -> None:
    store, fresh = setup
    since = fresh.begin()  # a request starts reading ann ...
    _buy(store, "ann")  # ... ann buys meanwhile, and another request's refresh sees it
    fresh.refresh()
    fresh.remember("ann", (True, b"old"), since)
    assert fresh.get("ann") is None
    fresh.remember("cat", (True, b"c"), since)  # cat did not change: kept
    assert fresh.get("cat") == (True, b"c")
    later = fresh.begin()
    fresh.remember("ann", (True, b"new"), later)  # a read begun after the change is current
    assert fresh.get("ann") == (True, b"new")


def test_a_bulk_change_forgets_everyone_and_reads_in_flight(setup: tuple[EventStore, FreshCustomers],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    store, fresh = setup
    since = fresh.begin()
    fresh.remember("ann", (True, b"a"), since)
    monkeypatch.setattr(store_db, "CHANGE_BATCH", 1)
    _buy(store, "x", "y")
    fresh.refresh()
    assert len(fresh) == 0
    fresh.remember("ann", (True, b"a"), since)
    assert fresh.get("ann") is None


def test_forgotten_change_history_counts_as_a_change(setup: tuple[EventStore, FreshCustomers],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    store, fresh = setup
    monkeypatch.setattr(freshness, "CHANGES_REMEMBERED", 1)
    since = fresh.begin()
    _buy(store, "ann")
    fresh.refresh()
    _buy(store, "bob")
    fresh.refresh()  # ann's change is no longer told apart from anyone's
    fresh.remember("ann", (True, b"a"), since)
    fresh.remember("cat", (True, b"c"), since)
    assert fresh.get("ann") is None and fresh.get("cat") is None


def test_bounded_and_forget(setup: tuple[EventStore, FreshCustomers]) -> None:
    _, fresh = setup
    since = fresh.begin()
    for customer in ("a", "b", "c", "d"):
        fresh.remember(customer, (True, customer.encode()), since)
    assert len(fresh) == 3 and fresh.get("a") is None and fresh.get("d") == (True, b"d")
    fresh.forget("d")
    assert fresh.get("d") is None and len(fresh) == 2
