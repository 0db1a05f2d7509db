"""Turn a renamed source chunk into canonical rows, counting every row it cannot use by reason.

One row is counted under one reason only: the first check it fails, in the order below. The value
rules shared with the API (id length, finite numbers, the timestamp range) are in ``reco.ingest.rules``.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
from pandas.tseries.api import guess_datetime_format

from reco.clock import utc_now
from reco.exceptions import InputError
from reco.ingest.rules import (
    ID_TOO_LONG,
    MAX_AMOUNT,
    MAX_EVENT_ID_LENGTH,
    MAX_ID_LENGTH,
    MAX_QUANTITY,
    TIMESTAMP_IN_FUTURE,
    TIMESTAMP_TOO_EARLY,
    timestamp_masks,
    timestamp_reason,
)
from reco.store.tables import CHANNELS, EVENT_COLUMNS, EVENT_TYPES, MARKETING_KINDS, OUTCOME_COLUMNS
from reco.vocabulary import OFFER_CHANNELS, OUTCOMES

EVENT_FIELDS: tuple[str, ...] = (
    "customer_id", "item_id", "timestamp", "event_type", "quantity", "price", "order_id", "channel",
    "discount", "coupon_discount", "event_id", "name", "category",
)
ITEM_FIELDS: tuple[str, ...] = ("item_id", "name", "category", "price", "active")
CUSTOMER_FIELDS: tuple[str, ...] = (
    "customer_id", "consent_personalisation", "consent_marketing", "preferred_channel",
)
MARKETING_FIELDS: tuple[str, ...] = ("customer_id", "campaign_id", "kind", "timestamp")
OUTCOME_FIELDS: tuple[str, ...] = ("customer_id", "offer_id", "outcome", "channel", "timestamp", "decision_id",
                                   "outcome_id")
FIELDS: dict[str, tuple[str, ...]] = {"events": EVENT_FIELDS, "items": ITEM_FIELDS, "customers": CUSTOMER_FIELDS,
                                      "marketing": MARKETING_FIELDS, "offer-outcomes": OUTCOME_FIELDS}
REQUIRED: dict[str, tuple[str, ...]] = {
    "events": ("customer_id", "item_id", "timestamp"),
    "items": ("item_id",),
    "customers": ("customer_id",),
    "marketing": ("customer_id", "campaign_id"),  # timestamp too, but a preset may derive it (see presets)
    "offer-outcomes": ("customer_id", "offer_id"),  # outcome and timestamp too, or given with --set
}
OUTCOME_SYNONYMS: dict[str, str] = {
    **{o: o for o in OUTCOMES},
    "send": "sent", "contact": "sent", "contacted": "sent", "exposure": "sent", "mailed": "sent",
    "deliver": "delivered", "open": "opened", "click": "clicked", "redeem": "redeemed", "redemption": "redeemed",
    "decline": "declined", "rejected": "declined", "unsubscribed": "declined",
}
MARKETING_SYNONYMS: dict[str, str] = {
    **{k: k for k in MARKETING_KINDS},
    "exposure": "contact", "sent": "contact", "received": "contact", "mailed": "contact", "targeted": "contact",
    "redeemed": "redemption", "redeem": "redemption", "coupon_redemption": "redemption",
}

EVENT_TYPE_SYNONYMS: dict[str, str] = {
    **{t: t for t in EVENT_TYPES},
    "buy": "purchase", "order": "purchase", "sale": "purchase", "transaction": "purchase",
    "purchased": "purchase", "refund": "return", "cancel": "return", "cancellation": "return",
    "returned": "return", "cart": "add_to_cart", "addtocart": "add_to_cart", "add-to-cart": "add_to_cart",
    "add to cart": "add_to_cart", "basket": "add_to_cart", "click": "view", "pageview": "view",
    "page_view": "view", "detail": "view", "viewed": "view",
}
CHANNEL_SYNONYMS: dict[str, str] = {
    **{c: c for c in CHANNELS},
    "online": "web", "website": "web", "ecommerce": "web", "e-commerce": "web", "mobile": "app",
    "mobile_app": "app", "pos": "store", "instore": "store", "in-store": "store", "in_store": "store",
    "shop": "store", "retail": "store", "call": "phone", "callcenter": "phone", "call_center": "phone",
    "mail": "email", "newsletter": "email", "e-mail": "email",
}
OFFER_CHANNEL_SYNONYMS: dict[str, str] = {
    **{k: v for k, v in CHANNEL_SYNONYMS.items() if v in OFFER_CHANNELS}, **{c: c for c in OFFER_CHANNELS},
    "text": "sms", "text message": "sms", "push": "app", "in-app": "app", "coupon": "store", "mailer": "email",
}
TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1", "on"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0", "off"})
EPOCH_FORMATS = {"epoch": "s", "epoch_s": "s", "epoch_ms": "ms"}


@dataclass
class FileContext:
    """What one source accumulates across its chunks: drop counts, the first bad value, the date format."""

    source: str
    kind: str
    date_format: str | None = None
    now: datetime = field(default_factory=utc_now)  # timestamps after now + the clock skew are refused
    decimal: str = "."
    dropped: Counter = field(default_factory=Counter)
    bad_timestamps: int = 0
    first_bad_timestamp: tuple[int, object] | None = None

    def flag(self, keep: pd.Series, mask: pd.Series, reason: str) -> pd.Series:
        """Count rows newly failing ``mask`` under ``reason``; return the narrowed keep mask."""
        newly = mask & keep
        count = int(newly.sum())
        if count:
            self.dropped[reason] += count
        return keep & ~mask


DISTINCT_FIRST = 1_000  # from twice this many rows, text columns are cleaned per distinct value


def _clean_text(s: pd.Series) -> pd.Series:
    """Stripped text with empty values as None (vectorised: this runs on every column of every row)."""
    s = s.astype(object)
    kind = pd.api.types.infer_dtype(s, skipna=True)
    if kind == "string" and len(s) >= 2 * DISTINCT_FIRST:
        # Ids, dates and names repeat: clean each distinct text once (exact, as all values are str).
        codes, distinct = pd.factorize(s)
        if len(distinct) <= len(s) // 2:
            cleaned = _clean_text(pd.Series(distinct, dtype=object)).to_numpy(dtype=object)
            return pd.Series(np.where(codes >= 0, cleaned[codes], None), index=s.index, dtype=object)
    if kind not in ("string", "empty"):
        s = s.map(lambda v: v if v is None or (isinstance(v, float) and v != v) else str(v))
    s = s.str.replace("\x00", "", regex=False).str.strip()  # NUL: no database stores it, no real id has it
    return s.where(s.notna() & (s != ""), None)


def _number(s: pd.Series | None, index: pd.Index, decimal: str = ".", limit: float = MAX_AMOUNT
            ) -> tuple[pd.Series, pd.Series]:
    """Parse numbers; returns (values, bad) where bad marks a value given that is not a number, not finite,
    or larger in size than ``limit``."""
    if s is None:
        return pd.Series(np.nan, index=index), pd.Series(False, index=index)
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        values = s.astype(float)  # exact: no round trip through text; NaN here is a missing value
        return values, pd.Series(np.abs(values.to_numpy()) > limit, index=index)
    text = _clean_text(s)
    if decimal != ".":
        text = text.str.replace(".", "", regex=False).str.replace(decimal, ".", regex=False)
    values = pd.to_numeric(text, errors="coerce").astype(float)
    bad = (values.isna() & text.notna()) | (np.abs(values.to_numpy()) > limit)  # 'inf', '1e308': unusable
    return values, bad


def _booleans(s: pd.Series, ctx: FileContext, column: str) -> pd.Series:
    text = _clean_text(s).map(lambda v: None if v is None else v.lower())
    bad = text.notna() & ~text.isin(TRUE_WORDS | FALSE_WORDS)
    if bad.any():
        row = int(bad.idxmax())
        raise InputError(
            f"not a yes/no value; valid: {', '.join(sorted(TRUE_WORDS | FALSE_WORDS))}",
            source=ctx.source, column=column, row=row, value=s.loc[row],
        )
    return text.map(lambda v: None if v is None else v in TRUE_WORDS)


def parse_timestamps(raw: pd.Series, ctx: FileContext) -> pd.Series:
    """Parse to naive UTC datetimes with one format per file (given, or guessed from the first value)."""
    if pd.api.types.is_datetime64_any_dtype(raw):
        parsed = raw
    else:
        text = _clean_text(raw)
        fmt = ctx.date_format
        if fmt in EPOCH_FORMATS:
            parsed = pd.to_datetime(pd.to_numeric(text, errors="coerce"), unit=EPOCH_FORMATS[fmt],
                                    errors="coerce", utc=True)
        else:
            if fmt is None:
                first = text.dropna()
                guessed = guess_datetime_format(first.iloc[0]) if len(first) else None
                ctx.date_format = fmt = guessed or "mixed"
            try:
                parsed = pd.to_datetime(text, format=fmt, errors="coerce", utc=True)
            except ValueError as exc:
                raise InputError(f"cannot use date format {fmt!r}: {exc}", source=ctx.source,
                                 column="timestamp") from exc
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return parsed.astype("datetime64[us]")


def _timestamps(raw: pd.Series, ctx: FileContext, keep: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parsed timestamps and ``keep`` narrowed by missing and unparseable ones (counted; the first bad
    value remembered for the error that names it)."""
    ts = parse_timestamps(raw, ctx)
    missing = raw.isna() if raw.dtype != object else _clean_text(raw).isna()
    bad = ts.isna() & ~missing
    if bad.any():
        ctx.bad_timestamps += int(bad.sum())
        if ctx.first_bad_timestamp is None:
            row = int(bad.idxmax())
            ctx.first_bad_timestamp = (row, raw.loc[row])
    keep = ctx.flag(keep, missing, "missing_timestamp")
    keep = ctx.flag(keep, bad, "bad_timestamp")
    early, future = timestamp_masks(ts, ctx.now)
    keep = ctx.flag(keep, early, TIMESTAMP_TOO_EARLY)
    return ts, ctx.flag(keep, future, TIMESTAMP_IN_FUTURE)


def _long(ids: pd.Series, limit: int = MAX_ID_LENGTH) -> pd.Series:
    """Which (cleaned) ids are longer than the store holds."""
    return ids.str.len().gt(limit).fillna(False).astype(bool)


def _content_id(key: str) -> str:
    """A stable 32-hex id from a row's canonical content (so the same row always gets the same id)."""
    return hashlib.blake2b(key.encode("utf-8"), digest_size=16).hexdigest()


def _content_ids(key: pd.Series) -> pd.Series:
    return key.map(_content_id)


def event_id(customer: str, item: str, timestamp_us: int, event_type: str, quantity: float, price: float,
             order: str | None, channel: str) -> str:
    """A stable id for one event from its canonical content, so the same row always gets the same id."""
    return _content_id("\x1f".join((customer, item, str(timestamp_us), event_type, str(float(quantity)),
                                    str(float(price)), order or "", channel)))


def event_ids(df: pd.DataFrame) -> pd.Series:
    """``event_id`` for every canonical event row."""
    ts = df["timestamp"].astype("datetime64[us]").astype("int64")
    columns = (df["customer_id"], df["item_id"], ts, df["event_type"], df["quantity"], df["price"],
               df["order_id"].fillna(""), df["channel"])
    return pd.Series([event_id(*row) for row in zip(*(c.tolist() for c in columns), strict=True)],
                     index=df.index, dtype=object)


# The columns normalise_events returns, in its order: the stored ones but ``source`` (the ingest run adds it),
# with the id last (it is computed from the others).
EVENT_COLUMNS_OUT: tuple[str, ...] = (*(c for c in EVENT_COLUMNS if c not in ("event_id", "source")), "event_id")


@dataclass
class EventBatch:
    events: pd.DataFrame
    items: pd.DataFrame
    customers: pd.DataFrame


def normalise_events(df: pd.DataFrame, ctx: FileContext, constants: dict[str, str]) -> EventBatch:
    """Canonical events, the catalogue rows they mention and their customers, from one chunk."""
    index = df.index
    col = {f: (df[f] if f in df.columns else None) for f in EVENT_FIELDS}
    for name, value in constants.items():
        if col.get(name) is None:
            col[name] = pd.Series(value, index=index, dtype=object)
    keep = pd.Series(True, index=index)

    item = _clean_text(col["item_id"])
    keep = ctx.flag(keep, item.isna(), "missing_item_id")
    keep = ctx.flag(keep, _long(item), ID_TOO_LONG)

    # The catalogue learns from every row with an item, also rows that later fail a personal check.
    raw_price, bad_price = _number(col["price"], index, ctx.decimal)
    catalogue = pd.DataFrame({
        "item_id": item,
        "name": _clean_text(col["name"]) if col["name"] is not None else None,
        "category": _clean_text(col["category"]) if col["category"] is not None else None,
        "price": raw_price.where(~bad_price & (raw_price >= 0)),
    }, index=index)[keep]
    items = catalogue.groupby("item_id", sort=False).last().reset_index() if len(catalogue) else catalogue

    customer = _clean_text(col["customer_id"])
    keep = ctx.flag(keep, customer.isna(), "missing_customer_id")
    order = _clean_text(col["order_id"]) if col["order_id"] is not None else pd.Series(
        None, index=index, dtype=object)
    given = _clean_text(col["event_id"]) if col["event_id"] is not None else None
    too_long = _long(customer) | _long(order)
    if given is not None:
        too_long |= _long(given, MAX_EVENT_ID_LENGTH)
    keep = ctx.flag(keep, too_long, ID_TOO_LONG)

    ts, keep = _timestamps(col["timestamp"], ctx, keep)

    etype_text = (
        _clean_text(col["event_type"]).map(lambda v: None if v is None else v.lower())
        if col["event_type"] is not None else pd.Series("purchase", index=index, dtype=object)
    )
    etype = etype_text.map(lambda v: EVENT_TYPE_SYNONYMS.get(v) if v is not None else "purchase")
    keep = ctx.flag(keep, etype.isna(), "unknown_event_type")

    qty, bad_qty = _number(col["quantity"], index, ctx.decimal, MAX_QUANTITY)
    qty = qty.fillna(1.0)
    keep = ctx.flag(keep, bad_qty, "bad_quantity")
    keep = ctx.flag(keep, qty == 0, "zero_quantity")
    negative_purchase = (qty < 0) & (etype == "purchase")
    etype = etype.where(~negative_purchase, "return")
    qty = qty.abs()

    keep = ctx.flag(keep, bad_price, "bad_price")
    keep = ctx.flag(keep, raw_price < 0, "negative_price")

    discount, bad_disc = _number(col["discount"], index, ctx.decimal)
    keep = ctx.flag(keep, bad_disc, "bad_discount")
    coupon, bad_coupon = _number(col["coupon_discount"], index, ctx.decimal)
    keep = ctx.flag(keep, bad_coupon, "bad_coupon_discount")

    channel_text = _clean_text(col["channel"]) if col["channel"] is not None else None
    channel = (
        channel_text.map(lambda v: "other" if v is None else CHANNEL_SYNONYMS.get(v.lower(), "other"))
        if channel_text is not None else pd.Series("other", index=index, dtype=object)
    )

    events = pd.DataFrame({
        "customer_id": customer, "item_id": item, "timestamp": ts, "event_type": etype,
        "quantity": qty, "price": raw_price, "order_id": order, "channel": channel,
        "discount": discount, "coupon_discount": coupon,
    }, index=index)[keep]
    given = given[keep] if given is not None else None
    if len(events):
        ids = event_ids(events)
        events["event_id"] = ids if given is None else given.where(given.notna(), ids)
    else:
        events["event_id"] = pd.Series(dtype=object)
    customers = pd.DataFrame({"customer_id": events["customer_id"].drop_duplicates()})
    return EventBatch(events=events, items=items, customers=customers)


def _clean_value(v: object) -> str | None:
    """``_clean_text`` for one value."""
    if v is None or (isinstance(v, float) and v != v):
        return None
    text = str(v).replace("\x00", "").strip()
    return text or None


def _number_value(v: object, limit: float = MAX_AMOUNT) -> tuple[float, bool]:
    """``_number`` for one value: (value or NaN, whether it was given but is no finite number within
    ``limit``). A float NaN is a missing value, as in a frame; the text 'NaN' is refused, as in a file
    (and the API refuses JSON's NaN before it gets here)."""
    if isinstance(v, int | float | np.number) and not isinstance(v, bool | np.bool_):  # a yes/no is no number
        number = float(v)
        if number != number:
            return np.nan, False
        return (number, False) if abs(number) <= limit else (np.nan, True)
    text = _clean_value(v)
    if text is None:
        return np.nan, False
    try:
        number = float(text)
    except (ValueError, OverflowError):
        return np.nan, True
    return (number, False) if abs(number) <= limit else (np.nan, True)


def _timestamp_value(v: object) -> tuple[np.datetime64 | None, bool]:
    """(naive UTC datetime64[us] or None, whether it was given but unparseable) for one value."""
    if v is None or (isinstance(v, float) and v != v) or v is pd.NaT:
        return None, False
    if isinstance(v, str):
        v = _clean_value(v)
        if v is None:
            return None, False
    try:
        ts = pd.Timestamp(v)  # type: ignore[arg-type]
    except (ValueError, TypeError, OverflowError):
        return None, True
    if ts is pd.NaT:
        return None, True
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    if not pd.Timestamp.min <= ts <= pd.Timestamp.max:  # what the frame path's parser cannot read either
        return None, True
    return np.datetime64(ts.to_datetime64(), "us"), False


def normalise_event_records(records: Sequence[Mapping[str, object]], ctx: FileContext,
                            first_row: int = 1) -> EventBatch:
    """``normalise_events`` for a few rows given as mappings (the live API's per-request path).

    The same checks in the same order, drop reasons, catalogue rows and ids, without pandas per
    column: for one event pandas' per-operation cost is most of the request. Values are Python
    scalars; timestamps are datetimes (naive: UTC) or ISO text; numbers use ``.`` as the decimal
    point. Row numbers count from ``first_row``. Tests check both paths give identical frames.
    """
    events, catalogue = event_records(records, ctx, first_row)
    index = pd.Index([r["_row"] for r in events], dtype="int64")
    dtypes = {"timestamp": "datetime64[us]", "quantity": float, "price": float, "discount": float,
              "coupon_discount": float}
    frame = pd.DataFrame({c: np.array([r[c] for r in events], dtype=dtypes.get(c, object))
                          for c in EVENT_COLUMNS_OUT}, index=index)
    items = pd.DataFrame(catalogue, columns=["item_id", "name", "category", "price"])
    items["price"] = items["price"].astype(float)
    customers = pd.DataFrame({"customer_id": frame["customer_id"].drop_duplicates()})
    return EventBatch(events=frame, items=items, customers=customers)


def event_records(records: Sequence[Mapping[str, object]], ctx: FileContext, first_row: int = 1
                  ) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """``normalise_event_records`` as plain rows: the kept events (``EVENT_COLUMNS_OUT`` and ``_row``,
    the row number) and the catalogue rows they mention (item_id, name, category, price), in order."""
    events: list[dict[str, object]] = []
    catalogue: dict[str, dict[str, object]] = {}
    for number, record in enumerate(records, start=first_row):
        ts, bad_ts = _timestamp_value(record.get("timestamp"))
        if bad_ts:  # counted over every row, as the share of bad timestamps is about the source
            ctx.bad_timestamps += 1
            if ctx.first_bad_timestamp is None:
                ctx.first_bad_timestamp = (number, record.get("timestamp"))
        item = _clean_value(record.get("item_id"))
        if item is None or len(item) > MAX_ID_LENGTH:
            ctx.dropped["missing_item_id" if item is None else ID_TOO_LONG] += 1
            continue
        price, bad_price = _number_value(record.get("price"))
        entry = catalogue.setdefault(item, {"item_id": item, "name": None, "category": None, "price": np.nan})
        for key, value in (("name", _clean_value(record.get("name"))),
                           ("category", _clean_value(record.get("category"))),
                           ("price", price if not bad_price and price >= 0 else np.nan)):
            if value is not None and value == value:
                entry[key] = value  # the last non-empty value per column, as groupby().last()

        customer = _clean_value(record.get("customer_id"))
        if customer is None:
            ctx.dropped["missing_customer_id"] += 1
            continue
        order = _clean_value(record.get("order_id"))
        given = _clean_value(record.get("event_id"))
        if (len(customer) > MAX_ID_LENGTH or (order is not None and len(order) > MAX_ID_LENGTH)
                or (given is not None and len(given) > MAX_EVENT_ID_LENGTH)):
            ctx.dropped[ID_TOO_LONG] += 1
            continue
        if ts is None:
            ctx.dropped["bad_timestamp" if bad_ts else "missing_timestamp"] += 1
            continue
        out_of_range = timestamp_reason(ts, ctx.now)
        if out_of_range:
            ctx.dropped[out_of_range] += 1
            continue
        text = _clean_value(record.get("event_type"))
        etype = "purchase" if text is None else EVENT_TYPE_SYNONYMS.get(text.lower())
        if etype is None:
            ctx.dropped["unknown_event_type"] += 1
            continue
        qty, bad_qty = _number_value(record.get("quantity"), MAX_QUANTITY)
        qty = 1.0 if qty != qty else qty
        reason = ("bad_quantity" if bad_qty else "zero_quantity" if qty == 0 else "bad_price" if bad_price
                  else "negative_price" if price < 0 else None)
        discount, bad_disc = _number_value(record.get("discount"))
        coupon, bad_coupon = _number_value(record.get("coupon_discount"))
        reason = reason or ("bad_discount" if bad_disc else "bad_coupon_discount" if bad_coupon else None)
        if reason:
            ctx.dropped[reason] += 1
            continue
        if qty < 0 and etype == "purchase":
            etype = "return"
        channel = _clean_value(record.get("channel"))
        row: dict[str, object] = {
            "customer_id": customer, "item_id": item, "timestamp": ts, "event_type": etype, "quantity": abs(qty),
            "price": price, "order_id": order,
            "channel": "other" if channel is None else CHANNEL_SYNONYMS.get(channel.lower(), "other"),
            "discount": discount, "coupon_discount": coupon,
        }
        row["event_id"] = given or event_id(
            customer, item, int(ts.astype("int64")), etype, abs(qty), price, order, str(row["channel"]))
        row["_row"] = number
        events.append(row)
    return events, list(catalogue.values())


def normalise_items(df: pd.DataFrame, ctx: FileContext) -> pd.DataFrame:
    index = df.index
    keep = pd.Series(True, index=index)
    item = _clean_text(df["item_id"])
    keep = ctx.flag(keep, item.isna(), "missing_item_id")
    keep = ctx.flag(keep, _long(item), ID_TOO_LONG)
    price, bad_price = _number(df.get("price"), index, ctx.decimal)
    keep = ctx.flag(keep, bad_price, "bad_price")
    keep = ctx.flag(keep, price < 0, "negative_price")
    if "active" in df.columns:
        text = _clean_text(df["active"]).map(lambda v: None if v is None else v.lower())
        bad = text.notna() & ~text.isin(TRUE_WORDS | FALSE_WORDS)
        keep = ctx.flag(keep, bad, "bad_active")
        active = text.map(lambda v: True if v is None else v in TRUE_WORDS)
    else:
        active = pd.Series(True, index=index)
    out = pd.DataFrame({
        "item_id": item,
        "name": _clean_text(df["name"]) if "name" in df.columns else None,
        "category": _clean_text(df["category"]) if "category" in df.columns else None,
        "price": price,
        "active": active,
    }, index=index)
    return out[keep]


def normalise_customers(df: pd.DataFrame, ctx: FileContext) -> pd.DataFrame:
    index = df.index
    keep = pd.Series(True, index=index)
    customer = _clean_text(df["customer_id"])
    keep = ctx.flag(keep, customer.isna(), "missing_customer_id")
    keep = ctx.flag(keep, _long(customer), ID_TOO_LONG)
    out = pd.DataFrame({"customer_id": customer}, index=index)
    for column in ("consent_personalisation", "consent_marketing"):
        if column in df.columns:
            out[column] = _booleans(df[column], ctx, column)
    if "preferred_channel" in df.columns:
        text = _clean_text(df["preferred_channel"])
        # the channel they want offers on: one of the offers' channels (sms too, which no purchase is made on)
        channel = text.map(lambda v: None if v is None else OFFER_CHANNEL_SYNONYMS.get(v.lower()))
        bad = text.notna() & channel.isna()
        if bad.any():
            row = int(bad.idxmax())
            raise InputError(f"unknown channel; valid: {', '.join(OFFER_CHANNELS)}", source=ctx.source,
                             column="preferred_channel", row=row, value=text.loc[row])
        out["preferred_channel"] = channel
    return out[keep]


def normalise_marketing(df: pd.DataFrame, ctx: FileContext, constants: dict[str, str]) -> pd.DataFrame:
    """Canonical campaign contacts and redemptions; the id is a hash of the row, so re-ingest adds nothing."""
    index = df.index
    col = {f: (df[f] if f in df.columns else None) for f in MARKETING_FIELDS}
    for name, value in constants.items():
        if name in col and col[name] is None:
            col[name] = pd.Series(value, index=index, dtype=object)
    keep = pd.Series(True, index=index)
    customer = _clean_text(col["customer_id"])
    keep = ctx.flag(keep, customer.isna(), "missing_customer_id")
    campaign = _clean_text(col["campaign_id"])
    keep = ctx.flag(keep, campaign.isna(), "missing_campaign_id")
    keep = ctx.flag(keep, _long(customer) | _long(campaign), ID_TOO_LONG)
    if col["timestamp"] is None:
        raise InputError("required column 'timestamp' not found; name the source column with --map timestamp=COLUMN",
                         source=ctx.source, column="timestamp")
    ts, keep = _timestamps(col["timestamp"], ctx, keep)
    if col["kind"] is None:
        raise InputError(f"column 'kind' ({' or '.join(MARKETING_KINDS)}) is missing; map it with --map "
                         "kind=COLUMN or set it with --set kind=contact", source=ctx.source, column="kind")
    kind_text = _clean_text(col["kind"]).map(lambda v: None if v is None else v.lower())
    kind = kind_text.map(lambda v: None if v is None else MARKETING_SYNONYMS.get(v))
    bad_kind = kind.isna() & kind_text.notna()
    if bad_kind.any():
        row = int(bad_kind.idxmax())
        raise InputError(f"unknown marketing kind; valid: {', '.join(MARKETING_KINDS)}", source=ctx.source,
                         column="kind", row=row, value=kind_text.loc[row])
    keep = ctx.flag(keep, kind.isna(), "missing_kind")
    out = pd.DataFrame({"customer_id": customer, "campaign_id": campaign, "kind": kind, "timestamp": ts},
                       index=index)[keep]
    key = (out["customer_id"] + "\x1f" + out["campaign_id"] + "\x1f" + out["kind"] + "\x1f"
           + out["timestamp"].astype("datetime64[us]").astype("int64").astype(str))
    out.insert(0, "marketing_id", _content_ids(key))
    return out


def normalise_outcomes(df: pd.DataFrame, ctx: FileContext, constants: dict[str, str]) -> pd.DataFrame:
    """Canonical offer outcomes (``OUTCOME_COLUMNS`` but ``source``); the id is the source's or a hash of the
    row, so loading the same outcomes twice adds nothing."""
    index = df.index
    col = {f: (df[f] if f in df.columns else None) for f in OUTCOME_FIELDS}
    for name, value in constants.items():
        if name in col and col[name] is None:
            col[name] = pd.Series(value, index=index, dtype=object)
    for required, hint in (("timestamp", "--map timestamp=COLUMN"),
                           ("outcome", f"--map outcome=COLUMN or --set outcome=sent ({', '.join(OUTCOMES)})")):
        if col[required] is None:
            raise InputError(f"required column {required!r} not found; give it with {hint}", source=ctx.source,
                             column=required)
    keep = pd.Series(True, index=index)
    customer, offer = _clean_text(col["customer_id"]), _clean_text(col["offer_id"])
    keep = ctx.flag(keep, customer.isna(), "missing_customer_id")
    keep = ctx.flag(keep, offer.isna(), "missing_offer_id")
    decision = _clean_text(col["decision_id"]) if col["decision_id"] is not None else pd.Series(None, index=index,
                                                                                                dtype=object)
    given = _clean_text(col["outcome_id"]) if col["outcome_id"] is not None else None
    too_long = _long(customer) | _long(offer) | _long(decision, MAX_EVENT_ID_LENGTH)
    if given is not None:
        too_long |= _long(given, MAX_EVENT_ID_LENGTH)
    keep = ctx.flag(keep, too_long, ID_TOO_LONG)
    ts, keep = _timestamps(col["timestamp"], ctx, keep)
    outcome = _clean_text(col["outcome"]).map(lambda v: OUTCOME_SYNONYMS.get(v.lower()) if isinstance(v, str) else None)
    keep = ctx.flag(keep, outcome.isna(), "unknown_outcome")
    channel_text = _clean_text(col["channel"]) if col["channel"] is not None else pd.Series(None, index=index,
                                                                                            dtype=object)
    channel = channel_text.map(lambda v: OFFER_CHANNEL_SYNONYMS.get(v.lower()) if isinstance(v, str) else None)
    keep = ctx.flag(keep, channel.isna() & channel_text.notna(), "unknown_channel")
    out = pd.DataFrame({"customer_id": customer, "offer_id": offer, "outcome": outcome, "channel": channel,
                        "timestamp": ts, "decision_id": decision}, index=index)[keep]
    key = (out["customer_id"] + "\x1f" + out["offer_id"] + "\x1f" + out["outcome"] + "\x1f"
           + out["channel"].fillna("") + "\x1f" + out["decision_id"].fillna("") + "\x1f"
           + out["timestamp"].astype("datetime64[us]").astype("int64").astype(str))
    ids = _content_ids(key) if len(out) else pd.Series(dtype=object)
    out.insert(0, "outcome_id", ids if given is None else given[keep].where(given[keep].notna(), ids))
    return out[[c for c in OUTCOME_COLUMNS if c != "source"]]
