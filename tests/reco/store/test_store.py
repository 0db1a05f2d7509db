"""The event store on SQLite and PostgreSQL: idempotent inserts, upserts, reads, atomic transactions."""

from __future__ import annotations

import pandas as pd
import pytest

from reco.exceptions import ConfigurationError
from reco.store import EventStore, make_engine


def _events(ids: list[str], customer: str = "c1") -> pd.DataFrame:
    return pd.DataFrame({
        "event_id": ids, "customer_id": customer, "item_id": [f"i{k}" for k in range(len(ids))],
        "timestamp": pd.to_datetime(["2024-01-01 10:00:00.123456"] * len(ids)), "event_type": "purchase",
        "quantity": 1.0, "price": 2.5, "order_id": "o1", "channel": "web", "discount": None,
        "coupon_discount": None, "source": "test",
    })


def test_insert_events_is_idempotent_and_counts_only_new_rows(store: EventStore) -> None:
    with store.transaction() as conn:
        assert store.insert_events(conn, _events(["a", "b"])) == 2
    with store.transaction() as conn:
        assert store.insert_events(conn, _events(["a", "b", "c"])) == 1
    assert store.count_events() == 3


def test_timestamps_round_trip_with_microseconds(store: EventStore) -> None:
    with store.transaction() as conn:
        store.insert_events(conn, _events(["a"]))
    df = store.read_events()
    assert df["timestamp"].iloc[0] == pd.Timestamp("2024-01-01 10:00:00.123456")
    assert store.event_time_range()[0] == pd.Timestamp("2024-01-01 10:00:00.123456").to_pydatetime()


def test_failed_transaction_leaves_store_unchanged(store: EventStore) -> None:
    with store.transaction() as conn:
        store.insert_events(conn, _events(["a"]))
    with pytest.raises(RuntimeError), store.transaction() as conn:
        store.insert_events(conn, _events(["x", "y"]))
        raise RuntimeError("boom midway")
    assert store.count_events() == 1


def test_item_upsert_keeps_known_values_when_new_ones_are_empty(store: EventStore) -> None:
    with store.transaction() as conn:
        store.upsert_items(conn, pd.DataFrame({"item_id": ["i1"], "name": ["Mug"], "price": [3.0]}))
        store.upsert_items(conn, pd.DataFrame({"item_id": ["i1"], "name": [None], "price": [4.0]}))
    items = store.items().set_index("item_id")
    assert items.loc["i1", "name"] == "Mug"
    assert items.loc["i1", "price"] == 4.0
    assert bool(items.loc["i1", "active"]) is True


def test_customer_consent_is_not_overwritten_by_event_ingest(store: EventStore) -> None:
    with store.transaction() as conn:
        store.upsert_customers(conn, pd.DataFrame({"customer_id": ["c1"], "consent_personalisation": [False]}),
                               overwrite=True)
        store.upsert_customers(conn, pd.DataFrame({"customer_id": ["c1", "c2"]}), overwrite=False)
    assert store.personalisation_allowed("c1") is False
    assert store.personalisation_allowed("c2") is True
    assert store.personalisation_allowed("unknown") is True
    assert store.opted_out_customers() == {"c1"}


def test_customer_events_reads_fresh_history(store: EventStore) -> None:
    with store.transaction() as conn:
        store.insert_events(conn, _events(["a", "b"], customer="c9"))
    history = store.customer_events("c9")
    assert sorted(history["item_id"]) == ["i0", "i1"]
    assert (history["timestamp"] == pd.Timestamp("2024-01-01 10:00:00.123456")).all()
    assert store.customer_events("nobody").empty


@pytest.mark.parametrize("url", ["mysql://x@y/z", "not a url"])
def test_unsupported_database_urls_are_refused_with_the_valid_ones(url: str) -> None:
    with pytest.raises(ConfigurationError, match=r"sqlite|postgresql"):
        make_engine(url)


def test_plain_postgresql_url_uses_psycopg3() -> None:
    engine = make_engine("postgresql://u@127.0.0.1:1/db")
    assert engine.dialect.driver == "psycopg"
    engine.dispose()


def test_customer_events_come_in_time_then_item_order_with_exact_times(store: EventStore) -> None:
    stamps = ["2024-03-02 08:00:00", "2024-01-01 10:00:00.123456", "2024-03-02 08:00:00", "2023-12-31 23:59:59.5"]
    rows = pd.DataFrame({
        "event_id": list("abcd"), "customer_id": "c7", "item_id": ["z", "y", "a", "x"],
        "timestamp": pd.to_datetime(stamps, format="ISO8601"),
        "event_type": ["purchase", "purchase", "purchase", "return"],
        "quantity": 1.0, "price": 2.5, "order_id": "o1", "channel": "web", "discount": None,
        "coupon_discount": None, "source": "test",
    })
    with store.transaction() as conn:
        store.insert_events(conn, rows)
    purchases = store.customer_events("c7")
    assert purchases["item_id"].tolist() == ["y", "a", "z"]
    assert purchases["timestamp"].tolist() == [pd.Timestamp(s) for s in (stamps[1], stamps[0], stamps[0])]
    both = store.customer_events("c7", event_types=("purchase", "return"))
    assert both["item_id"].tolist() == ["x", "y", "a", "z"]
    assert both["timestamp"].iloc[0] == pd.Timestamp("2023-12-31 23:59:59.5")


def test_stored_times_in_another_text_layout_still_parse() -> None:
    """SQLite keeps times as text; rows written by another tool may use a layout numpy does not read."""
    from reco.store.db import _datetimes

    got = _datetimes(["2024-01-01 10:00:00.000001", "2024/01/02 11:30"])
    assert got.tolist() == [pd.Timestamp("2024-01-01 10:00:00.000001"), pd.Timestamp("2024-01-02 11:30")]


def test_many_customers_read_as_each_reads_alone(store: EventStore) -> None:
    """The warm-up's bulk read gives every customer exactly the rows (order and times) of their own read."""
    stamps = pd.to_datetime(["2024-03-02 08:00:00", "2024-01-01 10:00:00.123456", "2024-03-02 08:00:00",
                             "2023-12-31 23:59:59.5", "2024-02-01 00:00:00"], format="ISO8601")
    rows = pd.DataFrame({
        "event_id": list("abcde"), "customer_id": ["c7", "c7", "c7", "c2", "c2"], "item_id": ["z", "y", "a", "x", "y"],
        "timestamp": stamps, "event_type": ["purchase", "purchase", "purchase", "purchase", "return"],
        "quantity": 1.0, "price": 2.5, "order_id": "o1", "channel": "web", "discount": None,
        "coupon_discount": None, "source": "test",
    })
    with store.transaction() as conn:
        store.insert_events(conn, rows)
    many = store.customers_events(["c7", "c2", "nobody", "c7"])
    assert sorted(many["customer_id"].unique()) == ["c2", "c7"]
    for customer, mine in many.groupby("customer_id"):
        alone = store.customer_events(customer)
        assert mine["item_id"].tolist() == alone["item_id"].tolist()
        assert mine["timestamp"].to_numpy().tolist() == alone["timestamp"].to_numpy().tolist()
    assert store.customers_events([]).empty


def test_recent_customers_come_latest_first_without_the_opted_out(store: EventStore) -> None:
    rows = pd.concat([_events(["a"], customer="old"), _events(["b"], customer="new"),
                      _events(["c"], customer="shy")], ignore_index=True)
    rows["timestamp"] = pd.to_datetime(["2024-01-01", "2024-03-01", "2024-02-01"])
    with store.transaction() as conn:
        store.insert_events(conn, rows)
    assert store.recent_customers(10) == ["new", "shy", "old"]
    assert store.recent_customers(1) == ["new"]
    store.set_consent("shy", personalisation=False)
    assert store.recent_customers(10) == ["new", "old"]


def test_erasures_since_a_time(store: EventStore) -> None:
    assert store.latest_erasure() is None and store.erasures_since(None) == []
    with store.transaction() as conn:
        store.insert_events(conn, _events(["a"], customer="gone"))
    store.erase_customer("gone")
    when = store.latest_erasure()
    assert when is not None
    assert store.erasures_since(when) == [(store.hasher("gone"), when)]
    assert store.erasures_since(when + pd.Timedelta(seconds=1).to_pytimedelta()) == []
