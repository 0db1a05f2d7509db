"""The live API's row-wise event normaliser gives exactly what the vectorised ingest normaliser gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
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

# The value rules shared with the API (reco.ingest.rules): what one bad row once did to training.
RULES = [
    _row(quantity=float("inf")), _row(quantity="inf"), _row(quantity="1e308"), _row(quantity="-1e7"),
    _row(quantity="NaN"),  # text NaN is refused; a float NaN is a missing value (default 1), as in a frame
    _row(price=float("inf")), _row(price="1e400"), _row(price=2e9), _row(discount="inf"),
    # (with microseconds, as T has: a frame's text timestamps follow one format)
    _row(timestamp=datetime(9999, 12, 31, 23, 59, 59, 1)), _row(timestamp=datetime(1, 1, 1, 0, 0, 0, 1)),
    _row(timestamp=datetime(1970, 1, 1, 0, 0, 0, 1)), _row(timestamp=datetime(2999, 1, 1, 0, 0, 0, 1)),
    _row(timestamp=datetime(2100, 1, 1, 0, 0, 0, 1)),
    _row(timestamp=datetime(1970, 1, 1, 23, 0, 0, 1, tzinfo=timezone(timedelta(hours=-2)))),  # 01:00 UTC: kept
    _row(customer_id="c" * 129), _row(item_id="i" * 129), _row(order_id="o" * 129), _row(event_id="e" * 65),
    _row(customer_id="c" * 128, item_id="i" * 128, event_id="e" * 64),  # at the limits: kept
    _row(quantity=-1e6, price=1e9),  # at the limits: kept
]


@pytest.mark.parametrize("rows", [ROWS, ROWS[:1], [ROWS[2]], ROWS[5:9], NUMERIC, RULES],
                         ids=["all", "one", "only-dropped", "some", "numeric", "rules"])
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


def test_value_rules_drop_what_would_break_training() -> None:
    ctx = FileContext("api", "events", now=datetime(2026, 1, 1))
    batch = normalise_event_records(RULES, ctx)
    # years 1, 2999 and 9999 are past what pandas' timestamps hold: unreadable, as in a file
    assert dict(ctx.dropped) == {"bad_quantity": 5, "bad_price": 3, "bad_discount": 1, "bad_timestamp": 3,
                                 "timestamp_in_future": 1, "timestamp_too_early": 1, "id_too_long": 4}
    assert len(batch.events) == 3
    assert batch.events["timestamp"].between(pd.Timestamp("1970-01-02"), pd.Timestamp("2026-01-02")).all()
    # the clock skew: a day after now is accepted, a day and a second is not
    edge = [_row(timestamp=datetime(2026, 1, 2)), _row(timestamp=datetime(2026, 1, 2, 0, 0, 1))]
    ctx = FileContext("api", "events", now=datetime(2026, 1, 1))
    assert len(normalise_events(_frame(edge), ctx, {}).events) == 1 and ctx.dropped == {"timestamp_in_future": 1}
    ctx = FileContext("api", "events", now=datetime(2026, 1, 1))  # as JSON text
    normalise_event_records([_row(timestamp="9999-12-31T23:59:59"), _row(timestamp="0001-01-01"),
                             _row(timestamp="1970-01-01T00:00:00Z"), _row(timestamp="2026-01-03")], ctx)
    assert ctx.dropped == {"bad_timestamp": 2, "timestamp_too_early": 1, "timestamp_in_future": 1}


def test_text_is_cleaned_the_same_per_distinct_value_as_per_row(monkeypatch: pytest.MonkeyPatch) -> None:
    from reco.ingest import normalise

    rng = np.random.default_rng(0)
    values = np.array([" a ", "b", "", "  ", "c\x00d", "x y ", None, "é "], dtype=object)
    rows = 5 * normalise.DISTINCT_FIRST
    column = pd.Series(rng.choice(values, rows), index=np.arange(rows) * 3)
    column[3] = float("nan")
    by_value = normalise._clean_text(column)
    monkeypatch.setattr(normalise, "DISTINCT_FIRST", 10**12)  # the row-by-row path
    by_row = normalise._clean_text(column)
    assert by_value.index.equals(by_row.index)
    assert by_value.tolist() == [None if v is None or v != v else v for v in by_row]
    assert set(by_value.dropna()) == {"a", "b", "cd", "x y", "é"}
