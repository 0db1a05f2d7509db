"""The hybrid: exact trend from events, task-specific weights, reasons, and what it learns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reco.exceptions import ConfigurationError
from reco.interactions import IdMapping
from reco.models import HybridRecommender

NOW = pd.Timestamp("2024-03-31")


def _events() -> pd.DataFrame:
    rows = []
    for c in range(12):  # everyone bought 'staple' repeatedly long ago; 'hot' sells in the last week
        rows += [(f"c{c}", "staple", NOW - pd.Timedelta(days=200 + 7 * k)) for k in range(3)]
        rows.append((f"c{c}", "milk", NOW - pd.Timedelta(days=60 + c)))
    rows += [(f"n{c}", "hot", NOW - pd.Timedelta(days=2 + c % 3)) for c in range(4)]
    rows += [("c0", "cold", NOW - pd.Timedelta(days=3))]
    return pd.DataFrame(rows, columns=["customer_id", "item_id", "timestamp"])


def _fit(**params: float) -> tuple[HybridRecommender, IdMapping, pd.DataFrame]:
    events = _events()
    mapping = IdMapping(np.sort(events["customer_id"].unique()), np.sort(events["item_id"].unique()))
    model = HybridRecommender(factors=2, iterations=5, **params).fit_events(events, mapping, now=NOW)
    return model, mapping, events


def test_trend_counts_distinct_recent_buyers_exactly() -> None:
    model, mapping, _ = _fit(trend_window_days=7)
    trend = dict(zip(mapping.item_ids, model.trend_, strict=True))
    assert trend["hot"] == 1.0 and trend["cold"] == pytest.approx(0.25) and trend["staple"] == 0.0


def test_plain_fit_approximates_trend_from_the_decayed_matrix() -> None:
    model, mapping, events = _fit(trend_window_days=7)
    matrix, _ = model.input_spec.build(events, now=NOW, mapping=mapping)
    approx = HybridRecommender(factors=2, iterations=5, trend_window_days=7).fit(matrix)
    np.testing.assert_allclose(approx.trend_, model.trend_)  # single recent purchases: exact


def test_mode_all_leads_with_repurchase_mode_new_with_trend() -> None:
    model, mapping, events = _fit(weight_buy_again=1.0, weight_collaborative=0.0, weight_trend=0.0,
                                  new_weight_collaborative=0.0, new_weight_trend=1.0)
    history, _ = model.input_spec.build(events, now=NOW, mapping=mapping, window=False)
    u = mapping.user_index("c3")
    again, _ = model.recommend(u, history[u], n=2, filter_already_purchased=False)
    # staple: 3 purchases ~207 days ago, 3 * 0.5 ** (207 / 120) ~ 0.91; milk: 1 at 63 days, ~ 0.69.
    assert [mapping.item_ids[i] for i in again] == ["staple", "milk"], "frequency x recency decides"
    new, _ = model.recommend(u, history[u], n=1, filter_already_purchased=True)
    assert mapping.item_ids[new[0]] == "hot"
    because = model.explain(history[u], again)
    assert (because == again).all(), "a bought item is explained by itself"


def test_negative_weights_and_windows_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="weight_trend must be a non-negative number, got -1"):
        HybridRecommender(weight_trend=-1).input_spec  # noqa: B018
    with pytest.raises(ConfigurationError, match="trend_window_days"):
        HybridRecommender(trend_window_days=0).input_spec  # noqa: B018
    with pytest.raises(ConfigurationError, match="has no parameter 'colour'"):
        HybridRecommender().set_params(colour="blue")
