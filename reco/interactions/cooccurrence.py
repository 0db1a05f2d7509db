"""Item co-occurrence weighted by how close in time a customer bought (or rated) the two items.

Two items bought in one basket or one browsing session say more about each other than two items
bought months apart. ``session_cooccurrence`` counts, for every item pair, the customers who bought
both, each weighted by ``exp(-gap / timescale)`` for the closest pair of their purchases of the two:
1 for the same basket, about 0 for purchases far apart. Its diagonal is the number of customers who
bought the item, so it sits on the same scale as the binary Gram matrix ``X'X`` (which it never exceeds).
"""

from __future__ import annotations

import itertools
import logging
import math

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix, csr_matrix

from reco.exceptions import ConfigurationError
from reco.interactions.idmapping import IdMapping

logger = logging.getLogger(__name__)

# Pairs further apart than this many timescales weigh below exp(-9) ~ 1e-4 and are left out.
HORIZON_TIMESCALES = 9.0
# Purchase pairs expanded at once (bounds memory to ~0.5 GB of temporaries).
PAIRS_PER_CHUNK = 10_000_000


def session_cooccurrence(
    events: pd.DataFrame,
    mapping: IdMapping,
    timescale_minutes: float,
    now: pd.Timestamp | None = None,
) -> csr_matrix:
    """Symmetric items x items CSR matrix (float64) of time-weighted co-purchase counts, in ``mapping``'s space.

    ``events`` needs customer_id, item_id and timestamp; ids ``mapping`` does not know and events after
    ``now`` are left out. Cost grows with the purchase pairs closer than ``HORIZON_TIMESCALES`` timescales.
    """
    if not isinstance(timescale_minutes, int | float) or not timescale_minutes > 0 or not math.isfinite(
            timescale_minutes):
        raise ConfigurationError(f"timescale_minutes must be a positive number, got {timescale_minutes!r}")
    missing = {"customer_id", "item_id", "timestamp"} - set(events.columns)
    if missing:
        raise ConfigurationError(f"events lack column(s) {sorted(missing)}")
    n = mapping.n_items
    users = mapping.user_indices(events["customer_id"].astype(str))
    items = mapping.item_indices(events["item_id"].astype(str))
    ts = pd.to_datetime(events["timestamp"]).to_numpy(dtype="datetime64[s]").astype(np.int64)
    keep = (users >= 0) & (items >= 0)
    if now is not None:
        keep &= ts <= np.datetime64(pd.Timestamp(now), "s").astype(np.int64)
    users, items, ts = users[keep], items[keep], ts[keep]
    if not len(users):
        return csr_matrix((n, n), dtype=np.float64)

    tau = float(timescale_minutes) * 60.0
    horizon = math.ceil(HORIZON_TIMESCALES * tau)
    # One event per (customer, item, second), in customer then time order.
    order = np.lexsort((items, ts, users))
    users, items, ts = users[order], items[order], ts[order]
    distinct = np.ones(len(users), dtype=bool)
    distinct[1:] = (users[1:] != users[:-1]) | (ts[1:] != ts[:-1]) | (items[1:] != items[:-1])
    users, items, ts = users[distinct], items[distinct], ts[distinct]

    # Customers' timelines laid end to end with gaps wider than the horizon, so a window never spans two.
    rel = ts - ts.min()
    key = users * (int(rel.max()) + 2 * horizon + 1) + rel
    ends = np.searchsorted(key, key + horizon, side="right")
    later = ends - np.arange(len(key)) - 1  # partners of each event among its customer's later events
    diagonal = np.bincount(np.unique(users * n + items) % n, minlength=n).astype(np.float64)

    pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    cum = np.cumsum(later)
    total = int(cum[-1])
    # Chunks of whole customers, about PAIRS_PER_CHUNK pairs each (a customer's pairs must meet in one).
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    chunk = (cum[starts] - later[starts]) // PAIRS_PER_CHUNK
    bounds = np.r_[starts[np.r_[True, chunk[1:] != chunk[:-1]]], len(users)]
    for lo, hi in itertools.pairwise(bounds):
        counts = later[lo:hi]
        size = int(counts.sum())
        if not size:
            continue
        src = np.repeat(np.arange(lo, hi), counts)
        dst = src + 1 + np.arange(size) - np.repeat(np.cumsum(counts) - counts, counts)
        a, b = items[src], items[dst]
        different = a != b
        src, a, b = src[different], a[different], b[different]
        weight = np.exp(-(ts[dst[different]] - ts[src]) / tau)
        first, second = np.minimum(a, b), np.maximum(a, b)
        # Each customer counts once per pair, with the weight of their closest purchases of the two.
        pair = users[src] * (n * n) + first * n + second
        order = np.argsort(pair, kind="stable")
        pair, weight = pair[order], weight[order]
        heads = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])
        best = np.maximum.reduceat(weight, heads)
        flat = pair[heads] % (n * n)
        pieces.append((flat // n, flat % n, best))
        if total > PAIRS_PER_CHUNK:
            logger.info("session co-occurrence: %s of %s purchase pairs", f"{int(cum[hi - 1]):,}", f"{total:,}")
    rows = np.concatenate([p[0] for p in pieces] + [np.zeros(0, dtype=np.int64)])
    cols = np.concatenate([p[1] for p in pieces] + [np.zeros(0, dtype=np.int64)])
    vals = np.concatenate([p[2] for p in pieces] + [np.zeros(0)])
    upper = coo_matrix((vals, (rows, cols)), shape=(n, n)).tocsr()
    upper.sum_duplicates()
    result = upper + upper.T + csr_matrix((diagonal, (np.arange(n), np.arange(n))), shape=(n, n))
    result.sort_indices()
    return result.tocsr()

