"""RFM segments and value tiers: every customer lands in one named group, by the documented rules."""

from __future__ import annotations

import numpy as np
import pandas as pd

from reco.customers.segments import SEGMENTS, quintile_score, rfm_segments, value_tiers


def test_quintile_scores_follow_rank_and_share_ties() -> None:
    values = pd.Series([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], dtype=float)
    assert quintile_score(values).tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert quintile_score(pd.Series([3.0] * 5)).nunique() == 1


def test_segments_by_the_documented_rules() -> None:
    n = 100
    rng = np.random.default_rng(0)
    recency = pd.Series(rng.uniform(1, 300, n))
    orders = pd.Series(rng.integers(1, 30, n).astype(float))
    spend = orders * 20
    tenure = pd.Series(rng.uniform(10, 400, n))
    out = rfm_segments(recency, orders, spend, tenure)
    assert set(out["segment"]) <= set(SEGMENTS)
    assert (out.loc[tenure <= 30, "segment"] == "new").all()
    old = tenure > 30
    champions = old & (out["r_score"] >= 4) & (out["f_score"] >= 4)
    assert (out.loc[champions, "segment"] == "champions").all()
    lost = old & (out["r_score"] == 1) & (out["f_score"] <= 2)
    assert (out.loc[lost, "segment"] == "lost").all()
    at_risk = old & (out["r_score"] <= 2) & (out["f_score"] >= 3)
    assert (out.loc[at_risk, "segment"] == "at risk").all()
    most_recent = recency.idxmin()
    assert out.loc[most_recent, "r_score"] == 5


def test_value_tiers_split_10_20_30_40_and_leave_unknown_values_empty() -> None:
    value = pd.Series(np.arange(100, dtype=float)[::-1])
    tiers = value_tiers(value)
    assert tiers.value_counts().to_dict() == {"low": 40, "medium": 30, "high": 20, "top": 10}
    assert tiers.iloc[0] == "top" and tiers.iloc[-1] == "low"
    assert value_tiers(pd.Series([1.0, np.nan])).iloc[1] is None
