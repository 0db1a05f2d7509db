"""The live API's row-wise event normaliser gives exactly what the vectorised ingest normaliser gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pandas as pd
import pytest

from reco.ingest.normalise import FileContext, normalise_event_records, normalise_events

T = datetime(2024, 3, 1, 12, 30, 15, 123456)
GOOD = {"customer_id": "c1", "item_id": "i1", "timestamp": T, "event_type": "purchase", "quantity": 2.0,
        "price": 3.5, "order_id": "o1", "channel": "web", "event_id": None}


def _row(**changes: object) -> dict[str, object]:
    return {**GOOD, **changes}


# Every drop reason, every synonym rule and the awkward values an API client can send.
ROWS = [
    _row(),
    _row(customer_id="  c2 ", item_id="i2\x00", price=None, order_id=None),
    _row(item_id=None),  # missing_item_id
    _row(item_id="   "),  # missing_item_id (blank)
    _row(customer_id=None, item_id="i3", price=9.0),  # missing_customer_id, still a catalogue row
    _row(timestamp=None),  # missing_timestamp
    _row(event_type="teleport"),  # unknown_event_type
    _row(event_type="Buy"),  # synonym, any case
    _row(event_type=None),  # default purchase
    _row(quantity="lots"),  # bad_quantity
    _row(quantity=True),  # bad_quantity: a yes/no is no number
    _row(quantity=0.0),  # zero_quantity
    _row(quantity=-1.0),  # a negative purchase is a return
    _row(event_type="return", quantity=-2.0),
    _row(quantity=None),  # default 1
    _row(price="free"),  # bad_price
    _row(price=-1.0),  # negative_price
    _row(channel="In-Store"), _row(channel="carrier pigeon"), _row(channel=None),
    _row(event_id=" given-id "),
    _row(timestamp=datetime(2024, 3, 1, 14, 30, tzinfo=timezone(timedelta(hours=2)))),  # aware: to UTC
    _row(item_id="i1", price=2.25, quantity=1e-5, order_id="o9"),
    _row(item_id="i1", price=None),  # the catalogue keeps i1's last non-empty price
    _row(customer_id="c3", item_id="i4", event_type="view", channel="app", timestamp=datetime(2024, 1, 1, tzinfo=UTC)),
]


def _frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    """The same rows as one DataFrame, numbered from 1, timestamps as naive UTC (what the API sent before)."""
    naive = [{**r, "timestamp": r["timestamp"].astimezone(UTC).replace(tzinfo=None)
              if isinstance(r["timestamp"], datetime) and r["timestamp"].tzinfo else r["timestamp"]} for r in rows]
    frame = pd.DataFrame(naive)
    frame.index = frame.index + 1
    return frame


# Numbers as the API sends them (JSON numbers, so float columns): exact values, no round trip through text.
NUMERIC = [_row(price=0.1 + 0.2, quantity=1e-5), _row(price=None, quantity=-3.0), _row(price=1e16, quantity=2.0)]


@pytest.mark.parametrize("rows", [ROWS, ROWS[:1], [ROWS[2]], ROWS[5:9], NUMERIC],
                         ids=["all", "one", "only-dropped", "some", "numeric"])
def test_row_path_equals_vectorised_path(rows: list[dict[str, object]]) -> None:
    fast_ctx, slow_ctx = FileContext("api", "events"), FileContext("api", "events")
    fast = normalise_event_records(rows, fast_ctx)
    slow = normalise_events(_frame(rows), slow_ctx, {})
    pd.testing.assert_frame_equal(fast.events, slow.events, check_index_type=False)
    pd.testing.assert_frame_equal(fast.items.reset_index(drop=True), slow.items.reset_index(drop=True),
                                  check_dtype=False)
    assert fast.customers["customer_id"].tolist() == slow.customers["customer_id"].tolist()
    assert fast_ctx.dropped == slow_ctx.dropped
    assert (fast_ctx.bad_timestamps, fast_ctx.first_bad_timestamp) == (
        slow_ctx.bad_timestamps, slow_ctx.first_bad_timestamp)


def test_row_path_keeps_row_numbers_drop_reasons_and_utc() -> None:
    ctx = FileContext("api", "events")
    rows = [*ROWS, _row(timestamp="not a date"), _row(timestamp=" 2024-03-02T08:00:00+01:00 "), _row(item_id=None,
                                                                                                   timestamp="nope")]
    batch = normalise_event_records(rows, ctx)
    assert ctx.dropped["missing_item_id"] == 3 and ctx.dropped["bad_price"] == 1 and ctx.dropped["bad_timestamp"] == 1
    assert (ctx.bad_timestamps, ctx.first_bad_timestamp) == (2, (len(ROWS) + 1, "not a date"))
    aware = ROWS.index(_row(timestamp=datetime(2024, 3, 1, 14, 30, tzinfo=timezone(timedelta(hours=2))))) + 1
    assert batch.events.loc[aware, "timestamp"] == pd.Timestamp("2024-03-01 12:30")
    assert batch.events.loc[len(ROWS) + 2, "timestamp"] == pd.Timestamp("2024-03-02 07:00")
    negative = ROWS.index(_row(quantity=-1.0)) + 1
    assert batch.events.loc[negative, "event_type"] == "return" and batch.events.loc[negative, "quantity"] == 1.0
    assert batch.events.loc[ROWS.index(_row(event_id=" given-id ")) + 1, "event_id"] == "given-id"
    only = normalise_event_records(ROWS, FileContext("api", "events"))
    assert only.items.set_index("item_id").loc["i1", "price"] == 2.25  # the last non-empty price of i1
