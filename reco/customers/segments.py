"""RFM segments and value tiers a marketer can read, from recency, frequency and spend.

Recency, frequency and spend are each scored 1..5 by quintile of rank (5 = most recent, most orders,
most spend). Segments are assigned in this order: ``new`` (first purchase within ``new_days``), then
``champions`` (R >= 4 and F >= 4), ``loyal`` (R >= 3 and F >= 3), ``promising`` (R >= 3), ``at risk``
(F >= 3: used to buy often, not lately), ``hibernating`` (R = 2) and ``lost`` (the rest).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SEGMENTS: tuple[str, ...] = ("new", "champions", "loyal", "promising", "at risk", "hibernating", "lost")
TIERS: tuple[str, ...] = ("top", "high", "medium", "low")


def quintile_score(values: pd.Series, higher_is_better: bool = True) -> pd.Series:
    """1..5 by rank quintile (ties share the average rank, so equal values get equal scores)."""
    pct = values.rank(pct=True, method="average", ascending=higher_is_better)
    return np.ceil(pct * 5).clip(1, 5).astype(int)


def rfm_segments(recency_days: pd.Series, orders: pd.Series, spend: pd.Series, tenure_days: pd.Series,
                 new_days: float = 30.0) -> pd.DataFrame:
    """r, f, m scores and the segment per customer (same index as the inputs)."""
    r = quintile_score(-recency_days)
    f = quintile_score(orders)
    m = quintile_score(spend)
    segment = np.select(
        [tenure_days <= new_days, (r >= 4) & (f >= 4), (r >= 3) & (f >= 3), r >= 3, f >= 3, r == 2],
        list(SEGMENTS[:-1]), default=SEGMENTS[-1])
    return pd.DataFrame({"r_score": r, "f_score": f, "m_score": m, "segment": segment}, index=recency_days.index)


def value_tiers(value: pd.Series) -> pd.Series:
    """``top`` (best 10% by value), ``high`` (next 20%), ``medium`` (next 30%), ``low`` (the rest)."""
    pct = value.rank(pct=True, ascending=False, method="first")
    tier = np.select([pct <= 0.1, pct <= 0.3, pct <= 0.6], list(TIERS[:3]), default=TIERS[3])
    return pd.Series(np.where(value.isna(), None, tier), index=value.index, name="value_tier")
