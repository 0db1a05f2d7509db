"""The value rules every stored row passes, whichever way it arrives: a file, a SQL query or the API.

Ingest's normaliser counts a row that breaks one under a drop reason; the API refuses the request with
a 422 naming the field. Both read the limits from here, so the two paths cannot drift apart:

- ids (customer, item, order, campaign) hold at most ``MAX_ID_LENGTH`` characters, event ids at most
  ``MAX_EVENT_ID_LENGTH``: what the store's columns hold on every backend;
- numbers are finite and of a size a shop can mean: a quantity within ``MAX_QUANTITY`` units either
  way, a price or discount within ``MAX_AMOUNT``; ``inf``, ``1e308`` and an explicit NaN are refused (an
  empty value is missing, not NaN). One ``1e308`` once overflowed every customer feature to infinity;
- a timestamp lies between ``EARLIEST_TIMESTAMP`` (epoch zero and earlier are nulls in disguise) and
  ``MAX_CLOCK_SKEW`` after the moment it is checked (a source's clock may run a little ahead; an event
  from next year may not). One event dated 9999 once made every training job fail.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from reco.clock import utc_now

MAX_ID_LENGTH = 128
MAX_EVENT_ID_LENGTH = 64
MAX_QUANTITY = 1e6  # units in one event line (UCI Online Retail's largest real one: 80,995)
MAX_AMOUNT = 1e9  # a unit price or a discount, in the shop's currency
EARLIEST_TIMESTAMP = datetime(1970, 1, 2)
MAX_CLOCK_SKEW = timedelta(days=1)

# Drop reasons of the rules above (in ingest's ``dropped`` counts).
ID_TOO_LONG = "id_too_long"
TIMESTAMP_TOO_EARLY = "timestamp_too_early"
TIMESTAMP_IN_FUTURE = "timestamp_in_future"


def latest_timestamp(now: datetime | None = None) -> datetime:
    """The latest timestamp accepted when checked at ``now`` (default: this moment)."""
    return (now or utc_now()) + MAX_CLOCK_SKEW


def timestamp_reason(ts: datetime | np.datetime64 | pd.Timestamp, now: datetime | None = None) -> str | None:
    """The drop reason of one naive UTC timestamp, or None when it is in range."""
    value = pd.Timestamp(ts)
    if value < pd.Timestamp(EARLIEST_TIMESTAMP):
        return TIMESTAMP_TOO_EARLY
    if value > pd.Timestamp(latest_timestamp(now)):
        return TIMESTAMP_IN_FUTURE
    return None


def timestamp_masks(ts: pd.Series, now: datetime | None = None) -> tuple[pd.Series, pd.Series]:
    """(too early, in the future) for a column of naive UTC timestamps (NaT is neither)."""
    values = ts.astype("datetime64[us]")
    return values < np.datetime64(EARLIEST_TIMESTAMP, "us"), values > np.datetime64(latest_timestamp(now), "us")


def check_timestamp(value: datetime, now: datetime | None = None) -> datetime:
    """``value`` (aware: converted to naive UTC) if in range, else a ValueError that says the range."""
    try:
        naive = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo is not None else value
    except OverflowError as exc:  # an offset pushed it past year 1 or 9999
        raise ValueError(f"timestamp {value.isoformat()} is out of range") from exc
    reason = timestamp_reason(naive, now)
    if reason == TIMESTAMP_TOO_EARLY:
        raise ValueError(f"timestamp {value.isoformat()} is before {EARLIEST_TIMESTAMP:%Y-%m-%d}; send the real time "
                         "of the event")
    if reason == TIMESTAMP_IN_FUTURE:
        raise ValueError(f"timestamp {value.isoformat()} is in the future (more than "
                         f"{MAX_CLOCK_SKEW.total_seconds() / 3600:g} h after now, UTC)")
    return value
