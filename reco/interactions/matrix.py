"""Build the user x item matrix that every recommender trains on."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix

from reco.exceptions import ConfigurationError
from reco.interactions.idmapping import IdMapping

WEIGHTINGS: tuple[str, ...] = ("binary", "count", "log1p", "recency")


def build_user_items(
    events: pd.DataFrame,
    weighting: str = "log1p",
    half_life_days: float = 90.0,
    now: datetime | pd.Timestamp | None = None,
    mapping: IdMapping | None = None,
) -> tuple[csr_matrix, IdMapping]:
    """A float32 CSR matrix of customers x items from events (columns customer_id, item_id, timestamp).

    Weightings, per (customer, item) pair with ``c`` events:
    ``binary`` 1; ``count`` c; ``log1p`` log(1 + c); ``recency`` the sum of 0.5 ** (age / half_life)
    over the pair's events, age measured from ``now`` (default: the latest event).
    With ``mapping`` given, rows and columns follow it and ids it does not know are left out.
    """
    if weighting not in WEIGHTINGS:
        raise ConfigurationError(f"weighting {weighting!r} is not valid; valid: {', '.join(WEIGHTINGS)}")
    if weighting == "recency" and not half_life_days > 0:
        raise ConfigurationError(f"half_life_days must be > 0, got {half_life_days!r}")
    missing = {"customer_id", "item_id"} - set(events.columns)
    if weighting == "recency":
        missing |= {"timestamp"} - set(events.columns)
    if missing:
        raise ConfigurationError(f"events lack column(s) {sorted(missing)}")

    if mapping is None:
        users = np.sort(events["customer_id"].astype(str).unique())
        items = np.sort(events["item_id"].astype(str).unique())
        mapping = IdMapping(users, items)
    rows = mapping.user_indices(events["customer_id"].astype(str))
    cols = mapping.item_indices(events["item_id"].astype(str))
    known = (rows >= 0) & (cols >= 0)
    rows, cols = rows[known], cols[known]

    if weighting == "recency":
        ts = pd.to_datetime(events["timestamp"]).to_numpy()[known]
        ref = np.datetime64(pd.Timestamp(now) if now is not None else ts.max()) if len(ts) else None
        age_days = (ref - ts) / np.timedelta64(1, "D") if ref is not None else np.zeros(0)
        data = np.power(0.5, np.clip(age_days, 0, None) / half_life_days)
    else:
        data = np.ones(len(rows))
    matrix = csr_matrix(
        (data.astype(np.float64), (rows, cols)), shape=(mapping.n_users, mapping.n_items)
    )
    matrix.sum_duplicates()
    if weighting == "binary":
        matrix.data[:] = 1.0
    elif weighting == "log1p":
        matrix.data = np.log1p(matrix.data)
    matrix = matrix.astype(np.float32)
    matrix.eliminate_zeros()
    return matrix, mapping


def user_rows(item_lists: Iterable[Iterable[str]], mapping: IdMapping) -> csr_matrix:
    """Binary rows in the model's item space from each customer's item ids (unknown items ignored)."""
    indptr, indices = [0], []
    for items in item_lists:
        idx = np.unique(mapping.item_indices(items))
        idx = idx[idx >= 0]
        indices.extend(idx.tolist())
        indptr.append(len(indices))
    data = np.ones(len(indices), dtype=np.float32)
    return csr_matrix((data, np.asarray(indices, dtype=np.int32), np.asarray(indptr)),
                      shape=(len(indptr) - 1, mapping.n_items))
