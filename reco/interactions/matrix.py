"""Build the user x item matrix that every recommender trains on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix

from reco.exceptions import ConfigurationError
from reco.interactions.idmapping import IdMapping

WEIGHTINGS: tuple[str, ...] = ("binary", "count", "log1p", "recency")
# Extra per-(customer, item) channels a model may ask for, each an aligned block after the weights:
# distinct purchase days; days since the last purchase + 1; days since the first purchase + 1; the
# customer's shopping days (visits) in all; their visits since the item's last purchase + 1; and the
# item's visit-decayed frequency, the sum of VISIT_DECAY ** (visits since) over the visits that had it
# (recency counted in the customer's own visits, as next-basket models such as TIFU-KNN count it).
CHANNELS: tuple[str, ...] = ("days", "last", "first", "visits", "visits_since", "visit_decayed")
VISIT_DECAY = 0.9
# Smallest stored weight: a bought pair never decays out of the matrix (filters rely on its pattern).
_MIN_WEIGHT = 1e-30


@dataclass(frozen=True)
class MatrixSpec:
    """How a model wants its customer x item matrix built from events (see ``build_user_items``)."""

    weighting: str = "log1p"
    half_life_days: float = 90.0
    window_days: float | None = None
    channels: tuple[str, ...] = ()

    @property
    def n_blocks(self) -> int:
        """Blocks of ``n_items`` columns in the matrix: the weights, then one per channel."""
        return 1 + len(self.channels)

    def build(
        self,
        events: pd.DataFrame,
        now: datetime | pd.Timestamp | None = None,
        mapping: IdMapping | None = None,
        window: bool = True,
    ) -> tuple[csr_matrix, IdMapping]:
        """The matrix to fit on; with ``window=False`` the full history (what recommend filters with)."""
        return build_user_items(events, weighting=self.weighting, half_life_days=self.half_life_days,
                                now=now, mapping=mapping, window_days=self.window_days if window else None,
                                channels=self.channels)

    def row(self, item_indices: np.ndarray, age_days: np.ndarray, n_items: int) -> csr_matrix:
        """One customer's full-history row from their events' item indices (-1: unknown, left out) and
        ages in days: what ``build(..., window=False)`` gives for that customer, without pandas, for
        the serving path where a DataFrame costs more than the arithmetic."""
        known = np.asarray(item_indices) >= 0
        cols = np.asarray(item_indices, dtype=np.int64)[known]
        return _assemble(np.zeros(len(cols), dtype=np.int64), cols, np.asarray(age_days, dtype=float)[known],
                         (1, n_items), self.weighting, self.half_life_days, None, self.channels)

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["channels"] = list(self.channels)
        return values


def build_user_items(
    events: pd.DataFrame,
    weighting: str = "log1p",
    half_life_days: float = 90.0,
    now: datetime | pd.Timestamp | None = None,
    mapping: IdMapping | None = None,
    window_days: float | None = None,
    channels: tuple[str, ...] | list[str] = (),
) -> tuple[csr_matrix, IdMapping]:
    """A float32 CSR matrix of customers x items from events (columns customer_id, item_id, timestamp).

    Weightings, per (customer, item) pair with ``c`` events:
    ``binary`` 1; ``count`` c; ``log1p`` log(1 + c); ``recency`` the sum of 0.5 ** (age / half_life)
    over the pair's events, age measured from ``now`` (default: the latest event).
    With ``window_days`` only events in the last that many days before ``now`` count.
    With ``mapping`` given, rows and columns follow it and ids it does not know are left out.
    Each of ``channels`` (see ``CHANNELS``) appends a block of ``n_items`` columns with the same
    pattern as the weights, so column ``b * n_items + i`` is channel ``b`` of item ``i``.
    Every bought pair is stored (weights never decay to zero), so the pattern is the purchase history.
    """
    unknown = [c for c in channels if c not in CHANNELS]
    if unknown:
        raise ConfigurationError(f"channel(s) {unknown} are not valid; valid: {', '.join(CHANNELS)}")
    if weighting not in WEIGHTINGS:
        raise ConfigurationError(f"weighting {weighting!r} is not valid; valid: {', '.join(WEIGHTINGS)}")
    if weighting == "recency" and not half_life_days > 0:
        raise ConfigurationError(f"half_life_days must be > 0, got {half_life_days!r}")
    missing = {"customer_id", "item_id"} - set(events.columns)
    if weighting == "recency" or window_days is not None or channels:
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
    age_days = np.zeros(len(rows))
    if weighting == "recency" or window_days is not None or channels:
        ts = pd.to_datetime(events["timestamp"]).to_numpy(dtype="datetime64[ns]")
        ref = np.datetime64(pd.Timestamp(now), "ns") if now is not None else (ts.max() if len(ts) else None)
        if ref is not None:
            age_days = (ref - ts) / np.timedelta64(1, "D")
    matrix = _assemble(rows[known], cols[known], age_days[known], (mapping.n_users, mapping.n_items), weighting,
                       half_life_days, window_days, channels)
    return matrix, mapping


def _assemble(
    rows: np.ndarray, cols: np.ndarray, age_days: np.ndarray, shape: tuple[int, int], weighting: str,
    half_life_days: float, window_days: float | None, channels: Sequence[str],
) -> csr_matrix:
    """The matrix from known (row, column, age in days) triples: the numpy core of ``build_user_items``."""
    if window_days is not None:
        recent = (age_days < window_days) & (age_days >= 0)
        rows, cols, age_days = rows[recent], cols[recent], age_days[recent]
    decayed = weighting == "recency"
    data = np.power(0.5, np.clip(age_days, 0, None) / half_life_days) if decayed else np.ones(len(rows))
    matrix = csr_matrix((data.astype(np.float64), (rows, cols)), shape=shape)
    matrix.sum_duplicates()
    if weighting == "binary":
        matrix.data[:] = 1.0
    elif weighting == "log1p":
        matrix.data = np.log1p(matrix.data)
    matrix = matrix.astype(np.float32)
    np.maximum(matrix.data, _MIN_WEIGHT, out=matrix.data)
    matrix.sort_indices()
    if channels:
        matrix = _with_channels(matrix, rows, cols, age_days, channels)
    return matrix


def _with_channels(
    weights: csr_matrix, rows: np.ndarray, cols: np.ndarray, age_days: np.ndarray, channels: Sequence[str]
) -> csr_matrix:
    """``weights`` followed by one aligned block per channel (same rows, same stored pairs)."""
    n_users, n_items = weights.shape
    keys = rows.astype(np.int64) * n_items + cols
    day = np.floor(np.clip(age_days, 0, None)).astype(np.int64)
    pair_keys = np.unique(keys)  # sorted like the csr data (row-major, sorted indices)
    pair = np.searchsorted(pair_keys, keys)
    last = np.full(len(pair_keys), np.iinfo(np.int64).max)
    np.minimum.at(last, pair, day)
    first = np.zeros(len(pair_keys), dtype=np.int64)
    np.maximum.at(first, pair, day)
    span = int(day.max(initial=0)) + 1
    distinct = np.unique(pair * span + day)
    days = np.bincount(distinct // span, minlength=len(pair_keys))
    values = {"days": days, "last": last + 1, "first": first + 1}
    if {"visits", "visits_since", "visit_decayed"} & set(channels):
        values.update(_visit_channels(rows, day, span, distinct // span, distinct % span, pair_keys // n_items,
                                      n_users))
    data = [weights.data] + [values[c].astype(np.float32) for c in channels]
    counts = np.diff(weights.indptr)
    blocks = len(data)
    # Row r holds its pairs once per block: block b's columns are shifted by b * n_items.
    starts = weights.indptr[:-1]
    out_indptr = np.r_[0, np.cumsum(counts * blocks)].astype(np.int64)
    out_indices = np.empty(weights.nnz * blocks, dtype=np.int64)
    out_data = np.empty(weights.nnz * blocks, dtype=np.float32)
    row_of = np.repeat(np.arange(n_users), counts)
    within = np.arange(weights.nnz) - starts[row_of]
    for b, values_b in enumerate(data):
        target = out_indptr[row_of] + b * counts[row_of] + within
        out_indices[target] = weights.indices + b * n_items
        out_data[target] = values_b
    return csr_matrix((out_data, out_indices, out_indptr), shape=(n_users, n_items * blocks))


def _visit_channels(rows: np.ndarray, day: np.ndarray, span: int, pair_of: np.ndarray, pair_day: np.ndarray,
                    pair_row: np.ndarray, n_users: int) -> dict[str, np.ndarray]:
    """Per pair: the customer's visits (distinct purchase days) in all, their visits after the pair's last
    one + 1, and the sum of ``VISIT_DECAY ** rank`` over the pair's visits (rank 0: the customer's latest).
    ``pair_of`` / ``pair_day``: each distinct (pair, day), sorted; ``pair_row``: each pair's row."""
    visits = np.unique(rows.astype(np.int64) * span + day)  # per row, most recent (smallest age) first
    row_of_visit = visits // span
    starts = np.searchsorted(row_of_visit, np.arange(n_users))
    rank = np.searchsorted(visits, pair_row[pair_of] * span + pair_day) - starts[pair_row[pair_of]]
    n_pairs = len(pair_row)
    since = np.full(n_pairs, np.iinfo(np.int64).max)
    np.minimum.at(since, pair_of, rank)
    decayed = np.bincount(pair_of, weights=np.power(VISIT_DECAY, rank), minlength=n_pairs)
    per_row = np.bincount(row_of_visit, minlength=n_users)
    return {"visits": per_row[pair_row], "visits_since": since + 1, "visit_decayed": decayed}
