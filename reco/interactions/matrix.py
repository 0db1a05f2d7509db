"""Build the user x item matrix that every recommender trains on."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix

from reco.exceptions import ConfigurationError
from reco.interactions.idmapping import IdMapping

WEIGHTINGS: tuple[str, ...] = ("binary", "count", "log1p", "recency")


@dataclass(frozen=True)
class MatrixSpec:
    """How a model wants its customer x item matrix built from events (see ``build_user_items``)."""

    weighting: str = "log1p"
    half_life_days: float = 90.0
    window_days: float | None = None

    def build(
        self,
        events: pd.DataFrame,
        now: datetime | pd.Timestamp | None = None,
        mapping: IdMapping | None = None,
        window: bool = True,
    ) -> tuple[csr_matrix, IdMapping]:
        """The matrix to fit on; with ``window=False`` the full history (what recommend filters with)."""
        return build_user_items(events, weighting=self.weighting, half_life_days=self.half_life_days,
                                now=now, mapping=mapping, window_days=self.window_days if window else None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_user_items(
    events: pd.DataFrame,
    weighting: str = "log1p",
    half_life_days: float = 90.0,
    now: datetime | pd.Timestamp | None = None,
    mapping: IdMapping | None = None,
    window_days: float | None = None,
) -> tuple[csr_matrix, IdMapping]:
    """A float32 CSR matrix of customers x items from events (columns customer_id, item_id, timestamp).

    Weightings, per (customer, item) pair with ``c`` events:
    ``binary`` 1; ``count`` c; ``log1p`` log(1 + c); ``recency`` the sum of 0.5 ** (age / half_life)
    over the pair's events, age measured from ``now`` (default: the latest event).
    With ``window_days`` only events in the last that many days before ``now`` count.
    With ``mapping`` given, rows and columns follow it and ids it does not know are left out.
    """
    if weighting not in WEIGHTINGS:
        raise ConfigurationError(f"weighting {weighting!r} is not valid; valid: {', '.join(WEIGHTINGS)}")
    if weighting == "recency" and not half_life_days > 0:
        raise ConfigurationError(f"half_life_days must be > 0, got {half_life_days!r}")
    missing = {"customer_id", "item_id"} - set(events.columns)
    if weighting == "recency" or window_days is not None:
        missing |= {"timestamp"} - set(events.columns)
    if window_days is not None and not window_days > 0:
        raise ConfigurationError(f"window_days must be > 0, got {window_days!r}")
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

    age_days = np.zeros(len(rows))
    if weighting == "recency" or window_days is not None:
        ts = pd.to_datetime(events["timestamp"]).to_numpy(dtype="datetime64[ns]")
        ref = np.datetime64(pd.Timestamp(now), "ns") if now is not None else (ts.max() if len(ts) else None)
        if ref is not None:
            age_days = ((ref - ts) / np.timedelta64(1, "D"))[known]
    if window_days is not None:
        recent = (age_days < window_days) & (age_days >= 0)
        rows, cols, age_days = rows[recent], cols[recent], age_days[recent]
    decayed = weighting == "recency"
    data = np.power(0.5, np.clip(age_days, 0, None) / half_life_days) if decayed else np.ones(len(rows))
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
