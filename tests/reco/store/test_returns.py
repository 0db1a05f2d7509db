"""A purchase returned in full is no purchase signal: not in a customer's history, not in training data."""

from __future__ import annotations

import pandas as pd

from reco.store import EventStore
from reco.store.returns import net_purchases, returned_in_full


def _events(rows: list[tuple[str, str, str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame({
        "event_id": [f"e{k}" for k in range(len(rows))], "customer_id": [r[0] for r in rows],
        "item_id": [r[1] for r in rows], "timestamp": pd.to_datetime([r[2] for r in rows]),
        "event_type": [r[3] for r in rows], "quantity": [r[4] for r in rows], "price": 2.0, "order_id": None,
        "channel": "web", "discount": None, "coupon_discount": None, "source": "test"})


ROWS = [("c1", "kept", "2024-01-01", "purchase", 2.0), ("c1", "sent-back", "2024-01-02", "purchase", 2.0),
        ("c1", "sent-back", "2024-01-05", "return", 2.0), ("c1", "partly", "2024-01-03", "purchase", 3.0),
        ("c1", "partly", "2024-01-06", "return", 1.0), ("c2", "sent-back", "2024-01-02", "purchase", 1.0),
        ("c1", "never-bought", "2024-01-07", "return", 1.0)]


def test_the_rule() -> None:
    assert returned_in_full([("a", 2), ("b", 3), ("a", 1)], [("a", 3), ("b", 1), ("z", 5)]) == {"a"}
    assert returned_in_full([("a", 1)], []) == set()
    net = net_purchases(_events(ROWS))
    assert sorted(zip(net["customer_id"], net["item_id"], strict=True)) == [
        ("c1", "kept"), ("c1", "partly"), ("c2", "sent-back")]


def test_histories_leave_out_what_was_returned_in_full(store: EventStore) -> None:
    with store.transaction() as conn:
        store.insert_events(conn, _events(ROWS))
    assert store.customer_events("c1")["item_id"].tolist() == ["kept", "partly"]
    assert store.customer_events("c1", ("purchase", "return"))["item_id"].tolist() == [
        "kept", "partly", "sent-back", "partly", "never-bought"]
    many = store.customers_events(["c1", "c2"])
    assert sorted(zip(many["customer_id"], many["item_id"], strict=True)) == [
        ("c1", "kept"), ("c1", "partly"), ("c2", "sent-back")]
