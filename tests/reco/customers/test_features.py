"""Customer features at a cutoff: hand-computed values, no look-ahead, and clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reco.customers.features import FEATURES, churn_labels, customer_features
from reco.exceptions import InputError

CUT = pd.Timestamp("2024-07-01")


def _log() -> pd.DataFrame:
    rows = [
        # customer a: orders 100, 70, 40 and 10 days before the cutoff; one return; one coupon order
        ("a", "x", CUT - pd.Timedelta(days=100), "purchase", 2, 5.0, "o1", "web", None, None),
        ("a", "y", CUT - pd.Timedelta(days=100), "purchase", 1, 10.0, "o1", "web", None, None),
        ("a", "x", CUT - pd.Timedelta(days=70), "purchase", 1, 5.0, "o2", "store", None, 1.0),
        ("a", "z", CUT - pd.Timedelta(days=40), "purchase", 4, 2.5, "o3", "web", None, None),
        ("a", "z", CUT - pd.Timedelta(days=39), "return", -1, 2.5, "r1", "web", None, None),
        ("a", "x", CUT - pd.Timedelta(days=10), "purchase", 1, 5.0, "o4", "web", 0.5, None),
        # customer b: one order 200 days before, then one after the cutoff (not a feature, but a label)
        ("b", "x", CUT - pd.Timedelta(days=200), "purchase", 1, 5.0, "o5", "app", None, None),
        ("b", "y", CUT + pd.Timedelta(days=5), "purchase", 1, 10.0, "o6", "app", None, None),
        # customer c: only after the cutoff: not scored
        ("c", "x", CUT + pd.Timedelta(days=1), "purchase", 1, 5.0, "o7", "web", None, None),
    ]
    return pd.DataFrame(rows, columns=["customer_id", "item_id", "timestamp", "event_type", "quantity", "price",
                                       "order_id", "channel", "discount", "coupon_discount"])


def test_values_match_a_hand_computation() -> None:
    x = customer_features(_log(), CUT)
    assert list(x.columns) == list(FEATURES) and list(x.index) == ["a", "b"]
    a = x.loc["a"]
    assert a["recency_days"] == 10 and a["tenure_days"] == 100 and a["orders"] == 4
    assert a["orders_90d"] == 3 and a["orders_prev_90d"] == 1 and a["orders_30d"] == 1
    assert a["spend"] == pytest.approx(20 + 5 + 10 + 5)
    assert a["spend_90d"] == pytest.approx(20) and a["spend_prev_90d"] == pytest.approx(20)
    assert a["basket_value"] == pytest.approx(10.0)
    assert a["gap_mean"] == pytest.approx(30) and a["gap_cv"] == pytest.approx(0) and a["gap_last"] == 30
    assert a["overdue"] == pytest.approx(10 / 30)
    assert a["distinct_items"] == 3 and a["return_orders_share"] == pytest.approx(0.25)
    assert a["return_value_share"] == pytest.approx(2.5 / 40)
    assert a["discount_share"] == pytest.approx(0.25) and a["coupon_share"] == pytest.approx(0.25)
    assert a["channel_web_share"] == pytest.approx(0.75) and a["channels_used"] == 2
    b = x.loc["b"]
    assert b["orders"] == 1 and np.isnan(b["gap_mean"]) and b["channel_app_share"] == 1


def test_nothing_after_the_cutoff_changes_the_features() -> None:
    log = _log()
    later = log.copy()
    later.loc[later["timestamp"] >= CUT, "quantity"] = 99
    pd.testing.assert_frame_equal(customer_features(log, CUT), customer_features(later, CUT))


def test_label_is_no_purchase_within_the_horizon() -> None:
    x = customer_features(_log(), CUT)
    labels = churn_labels(_log(), x.index, CUT, horizon_days=30)
    assert labels.to_dict() == {"a": 1, "b": 0}
    assert churn_labels(_log(), x.index, CUT, horizon_days=3).to_dict() == {"a": 1, "b": 1}


def test_missing_column_is_named() -> None:
    with pytest.raises(InputError, match=r"missing column\(s\) \['event_type'\]"):
        customer_features(_log().drop(columns="event_type"), CUT)


def test_campaign_features_count_contacts_and_redemptions_before_the_cutoff() -> None:
    marketing = pd.DataFrame({
        "customer_id": ["a", "a", "a", "a", "b"],
        "kind": ["contact", "contact", "redemption", "contact", "contact"],
        "timestamp": [CUT - pd.Timedelta(days=200), CUT - pd.Timedelta(days=30), CUT - pd.Timedelta(days=20),
                      CUT + pd.Timedelta(days=1), CUT - pd.Timedelta(days=5)],
    })
    x = customer_features(_log(), CUT, marketing)
    a, b = x.loc["a"], x.loc["b"]
    assert (a["campaigns_total"], a["campaigns_90d"], a["redemptions_total"], a["redemptions_90d"]) == (2, 1, 1, 1)
    assert a["redemption_rate"] == 0.5 and a["days_since_redemption"] == 20
    assert (b["campaigns_total"], b["redemptions_total"]) == (1, 0) and np.isnan(b["days_since_redemption"])
    without = customer_features(_log(), CUT)
    assert (without["campaigns_total"] == 0).all() and without["days_since_redemption"].isna().all()
