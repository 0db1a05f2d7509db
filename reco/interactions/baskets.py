"""Baskets: a customer's purchases of one day, the unit of next-basket and complement models."""

from __future__ import annotations

import numpy as np
import pandas as pd

from reco.interactions.idmapping import IdMapping


def basket_lines(events: pd.DataFrame, mapping: IdMapping, now: pd.Timestamp | None = None) -> pd.DataFrame:
    """One row per (customer, day, item) bought up to ``now``, in ``mapping``'s space: columns ``u`` (customer
    index), ``d`` (day number) and ``i`` (item index); ids ``mapping`` does not know are left out."""
    ts = pd.to_datetime(events["timestamp"])
    keep = (ts <= now).to_numpy() if now is not None else np.ones(len(events), dtype=bool)
    users = mapping.user_indices(events.loc[keep, "customer_id"].astype(str))
    items = mapping.item_indices(events.loc[keep, "item_id"].astype(str))
    days = ts[keep].to_numpy().astype("datetime64[D]").astype(np.int64)
    known = (users >= 0) & (items >= 0)
    return pd.DataFrame({"u": users[known], "d": days[known], "i": items[known]}).drop_duplicates()
