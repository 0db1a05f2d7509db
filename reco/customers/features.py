"""Customer features at a cutoff date, from the events before it only, and the churn label after it.

One row per customer with a purchase before the cutoff. Orders are ``order_id`` where the data has
one, else calendar days. Money is ``quantity * price`` (a missing price counts as 0). Returns are
events of type ``return`` (Online Retail's cancellations arrive as such). Everything is relative to
the cutoff, so features from different cutoffs can be stacked into one training set.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from reco.exceptions import InputError
from reco.store.tables import CHANNELS

REQUIRED = ("customer_id", "timestamp", "event_type")
OPTIONAL = ("item_id", "quantity", "price", "order_id", "channel", "discount", "coupon_discount")
FEATURES: tuple[str, ...] = (
    "recency_days", "tenure_days", "orders", "orders_30d", "orders_90d", "orders_prev_90d", "orders_365d",
    "orders_per_month", "spend", "spend_90d", "spend_prev_90d", "spend_trend", "orders_trend", "basket_value",
    "basket_items", "gap_mean", "gap_cv", "gap_last", "overdue", "distinct_items", "items_per_order",
    "return_orders_share", "return_value_share", "discount_share", "coupon_share",
    *(f"channel_{c}_share" for c in CHANNELS), "channels_used",
    "campaigns_total", "campaigns_90d", "redemptions_total", "redemptions_90d", "redemption_rate",
    "days_since_redemption",
)
QUARTER = pd.Timedelta(days=90)


def check_events(events: pd.DataFrame, source: str = "events") -> pd.DataFrame:
    """The events with the columns the customer models read; a missing required column is an InputError."""
    missing = [c for c in REQUIRED if c not in events.columns]
    if missing:
        raise InputError(f"missing column(s) {missing}; have {list(events.columns)}", source=source)
    out = events.copy()
    for column, fill in (("item_id", None), ("quantity", 1.0), ("price", np.nan), ("order_id", None),
                         ("channel", "other"), ("discount", np.nan), ("coupon_discount", np.nan)):
        if column not in out.columns:
            out[column] = fill
    out["timestamp"] = pd.to_datetime(out["timestamp"])
    out["customer_id"] = out["customer_id"].astype(str)
    return out


def line_values(events: pd.DataFrame) -> pd.Series:
    """Money per event line: quantity x price, a missing or unreadable number counting as 0."""
    return (pd.to_numeric(events["quantity"], errors="coerce").fillna(0.0)
            * pd.to_numeric(events["price"], errors="coerce").fillna(0.0))


def _orders(events: pd.DataFrame) -> pd.DataFrame:
    """One row per (customer, order): its time (first line), value, lines, channel, discount and coupon use."""
    day = events["timestamp"].dt.strftime("d%Y-%m-%d")
    key = events["order_id"].astype(object).where(events["order_id"].notna(), day)
    value = line_values(events)
    frame = pd.DataFrame({
        "customer_id": events["customer_id"].to_numpy(), "order": key.to_numpy(), "timestamp": events["timestamp"],
        "value": value.to_numpy(), "lines": 1, "channel": events["channel"].fillna("other").to_numpy(),
        "discount": (pd.to_numeric(events["discount"], errors="coerce").fillna(0).abs() > 0).to_numpy(),
        "coupon": (pd.to_numeric(events["coupon_discount"], errors="coerce").fillna(0).abs() > 0).to_numpy(),
    })
    return frame.groupby(["customer_id", "order"], sort=False).agg(
        timestamp=("timestamp", "min"), value=("value", "sum"), lines=("lines", "sum"), channel=("channel", "first"),
        discount=("discount", "max"), coupon=("coupon", "max")).reset_index()


def customer_features(events: pd.DataFrame, cutoff: pd.Timestamp, marketing: pd.DataFrame | None = None
                      ) -> pd.DataFrame:
    """``FEATURES`` per customer (index ``customer_id``) as of ``cutoff``, from events strictly before it.

    ``marketing`` (customer_id, kind, timestamp; see ``EventStore.read_marketing``) adds campaign contacts
    and redemptions before the cutoff; without it those features are 0 (days since a redemption unknown).
    """
    events = check_events(events)
    cutoff = pd.Timestamp(cutoff)
    before = events[events["timestamp"] < cutoff]
    purchases = before[before["event_type"] == "purchase"]
    if purchases.empty:
        return pd.DataFrame(columns=list(FEATURES), index=pd.Index([], name="customer_id"), dtype=float)
    orders = _orders(purchases).sort_values(["customer_id", "timestamp"], kind="stable")
    age = (cutoff - orders["timestamp"]).dt.total_seconds().to_numpy() / 86400.0
    orders["age"] = age
    g = orders.groupby("customer_id", sort=True)
    out = pd.DataFrame(index=g.size().index)
    out.index.name = "customer_id"
    out["recency_days"] = g["age"].min()
    out["tenure_days"] = g["age"].max()
    out["orders"] = g.size().astype(float)
    for name, lo, hi in (("orders_30d", 0, 30), ("orders_90d", 0, 90), ("orders_prev_90d", 90, 180),
                         ("orders_365d", 0, 365)):
        out[name] = orders[(age >= lo) & (age < hi)].groupby("customer_id").size().reindex(out.index, fill_value=0)
    out["orders_per_month"] = out["orders"] / np.maximum(out["tenure_days"], 30.0) * 30.0
    out["spend"] = g["value"].sum()
    out["spend_90d"] = orders[age < 90].groupby("customer_id")["value"].sum().reindex(out.index, fill_value=0.0)
    out["spend_prev_90d"] = (orders[(age >= 90) & (age < 180)].groupby("customer_id")["value"].sum()
                             .reindex(out.index, fill_value=0.0))
    out["spend_trend"] = np.log1p(out["spend_90d"].clip(lower=0)) - np.log1p(out["spend_prev_90d"].clip(lower=0))
    out["orders_trend"] = out["orders_90d"] - out["orders_prev_90d"]
    out["basket_value"] = out["spend"] / out["orders"]
    out["basket_items"] = g["lines"].mean()

    gaps = -np.diff(age)
    same = orders["customer_id"].to_numpy()[1:] == orders["customer_id"].to_numpy()[:-1]
    gap_frame = pd.DataFrame({"customer_id": orders["customer_id"].to_numpy()[1:][same], "gap": gaps[same]})
    gg = gap_frame.groupby("customer_id")["gap"]
    out["gap_mean"] = gg.mean().reindex(out.index)
    out["gap_cv"] = (gg.std() / gg.mean().clip(lower=1e-9)).reindex(out.index)
    out["gap_last"] = gg.last().reindex(out.index)
    out["overdue"] = out["recency_days"] / out["gap_mean"].clip(lower=1.0)

    out["distinct_items"] = purchases.groupby("customer_id")["item_id"].nunique().reindex(out.index, fill_value=0)
    out["items_per_order"] = out["distinct_items"] / out["orders"]

    returns = before[before["event_type"] == "return"]
    if returns.empty:
        out["return_orders_share"] = 0.0
        out["return_value_share"] = 0.0
    else:
        r_orders = _orders(returns).groupby("customer_id")
        out["return_orders_share"] = (r_orders.size().reindex(out.index, fill_value=0) / out["orders"]).clip(upper=1)
        value = r_orders["value"].sum().abs().reindex(out.index, fill_value=0.0)
        out["return_value_share"] = (value / out["spend"].abs().clip(lower=1e-9)).clip(upper=1)
    out["discount_share"] = g["discount"].mean()
    out["coupon_share"] = g["coupon"].mean()
    shares = pd.crosstab(orders["customer_id"], orders["channel"], normalize="index").reindex(out.index, fill_value=0)
    for channel in CHANNELS:
        out[f"channel_{channel}_share"] = shares[channel] if channel in shares.columns else 0.0
    out["channels_used"] = (shares > 0).sum(axis=1)
    _campaign_features(out, marketing, cutoff)
    return out[list(FEATURES)].astype(float)


def _campaign_features(out: pd.DataFrame, marketing: pd.DataFrame | None, cutoff: pd.Timestamp) -> None:
    """Contacts and redemptions before ``cutoff`` (all time and last 90 days), redemption rate, recency."""
    for name in ("campaigns_total", "campaigns_90d", "redemptions_total", "redemptions_90d", "redemption_rate"):
        out[name] = 0.0
    out["days_since_redemption"] = np.nan
    if marketing is None or marketing.empty:
        return
    missing = [c for c in ("customer_id", "kind", "timestamp") if c not in marketing.columns]
    if missing:
        raise InputError(f"missing column(s) {missing}; have {list(marketing.columns)}", source="marketing")
    ts = pd.to_datetime(marketing["timestamp"])
    before = marketing[ts < cutoff].assign(customer_id=lambda d: d["customer_id"].astype(str))
    age = (cutoff - pd.to_datetime(before["timestamp"])).dt.total_seconds() / 86400.0
    for kind, prefix in (("contact", "campaigns"), ("redemption", "redemptions")):
        rows = before[before["kind"] == kind]
        out[f"{prefix}_total"] = rows.groupby("customer_id").size().reindex(out.index, fill_value=0).astype(float)
        recent = rows[age[rows.index] < 90]
        out[f"{prefix}_90d"] = recent.groupby("customer_id").size().reindex(out.index, fill_value=0).astype(float)
    out["redemption_rate"] = out["redemptions_total"] / out["campaigns_total"].clip(lower=1)
    redeemed = before[before["kind"] == "redemption"]
    out["days_since_redemption"] = age[redeemed.index].groupby(redeemed["customer_id"]).min().reindex(out.index)


def churn_labels(events: pd.DataFrame, customers: pd.Index, cutoff: pd.Timestamp, horizon_days: float) -> pd.Series:
    """1 where a customer in ``customers`` made no purchase in [cutoff, cutoff + horizon), else 0."""
    events = check_events(events)
    cutoff = pd.Timestamp(cutoff)
    ts = events["timestamp"]
    window = events[(events["event_type"] == "purchase") & (ts >= cutoff)
                    & (ts < cutoff + pd.Timedelta(days=float(horizon_days)))]
    active = customers.isin(window["customer_id"].unique())
    return pd.Series(np.where(active, 0, 1), index=customers, name="churned")
