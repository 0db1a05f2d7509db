"""Item categories as the ranker uses them: the shop's own popular items within each customer's categories
(a candidate source), and how much and how lately a customer buys in a candidate's category (features).

Categories reach a model as an optional ``category`` column of the purchase events (the item's catalogue
category, see ``reco.interactions.catalogue.with_categories``); a log without one simply has no categories,
and everything here then proposes nothing and describes every candidate as "no category" (-1).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix

from reco.interactions.idmapping import IdMapping
from reco.models.base import rank_within_rows

NO_CATEGORY = -1


def item_category_codes(events: pd.DataFrame, mapping: IdMapping) -> np.ndarray:
    """One integer code per item of ``mapping`` (``NO_CATEGORY`` where the events name none): the category
    of each item's latest event that names one. Codes number the distinct categories 0..k-1."""
    codes = np.full(mapping.n_items, NO_CATEGORY, dtype=np.int32)
    if "category" not in events.columns:
        return codes
    named = events[["item_id", "category"]].dropna()
    if named.empty:
        return codes
    latest = named.drop_duplicates("item_id", keep="last")
    items = mapping.item_indices(latest["item_id"].astype(str))
    known = items >= 0
    number, _ = pd.factorize(latest["category"].astype(str).to_numpy()[known])
    codes[items[known]] = number.astype(np.int32)
    return codes


def n_categories(codes: np.ndarray) -> int:
    return int(codes.max()) + 1 if len(codes) else 0


def category_shares(codes: np.ndarray, popularity: np.ndarray) -> np.ndarray:
    """Each item's share of its category's ``popularity`` (float32); NaN for an item without a category."""
    has = codes >= 0
    totals = np.bincount(codes[has], weights=popularity[has], minlength=n_categories(codes))
    shares = np.full(len(codes), np.nan, dtype=np.float32)
    shares[has] = popularity[has] / np.maximum(totals[codes[has]], 1e-12)
    return shares


def category_items(codes: np.ndarray, shares: np.ndarray, per_category: int) -> csr_matrix:
    """(categories x items): the ``per_category`` items of each category with the largest ``shares`` (see
    ``category_shares``; ties by item index), valued by their share; items without one are in none."""
    k = n_categories(codes)
    has = np.flatnonzero((codes >= 0) & (shares > 0))
    order, rank = rank_within_rows(codes[has], has, shares[has])
    keep = has[order[rank < per_category]]
    return csr_matrix((shares[keep].astype(np.float32), (codes[keep], keep)), shape=(k, len(codes)))


def customer_categories(weights: csr_matrix, codes: np.ndarray) -> csr_matrix:
    """(customers x categories): each customer's share of their purchase weight in each category, over
    their items that have one (rows sorted by category)."""
    k = n_categories(codes)
    weights = csr_matrix(weights)
    cats = codes[weights.indices]
    rows = np.repeat(np.arange(weights.shape[0]), np.diff(weights.indptr))
    keep = cats >= 0
    totals = csr_matrix((weights.data[keep].astype(np.float64), (rows[keep], cats[keep])),
                        shape=(weights.shape[0], k))
    totals.sum_duplicates()
    sums = np.asarray(totals.sum(axis=1)).ravel()
    totals.data /= np.repeat(np.maximum(sums, 1e-12), np.diff(totals.indptr))
    totals.sort_indices()
    return csr_matrix(totals, dtype=np.float32)


def category_since_last(rows: np.ndarray, items: np.ndarray, last: np.ndarray, codes: np.ndarray,
                        n_users: int) -> csr_matrix:
    """(customers x categories): 1 + days since the customer last bought anything in the category (stored
    only where they did; 1 + so that a purchase today is not an absent entry)."""
    k = n_categories(codes)
    cats = codes[items]
    keep = cats >= 0
    frame = pd.DataFrame({"key": rows[keep].astype(np.int64) * max(k, 1) + cats[keep], "last": last[keep]})
    latest = frame.groupby("key", sort=True)["last"].min()
    keys = latest.index.to_numpy()
    return csr_matrix((latest.to_numpy(dtype=np.float32) + 1, (keys // max(k, 1), keys % max(k, 1))),
                      shape=(n_users, k))


def lookup(matrix: csr_matrix, rows: np.ndarray, cols: np.ndarray, missing: float = 0.0) -> np.ndarray:
    """``matrix[rows, cols]`` for many pairs at once (``missing`` where nothing is stored or ``cols`` < 0),
    without densifying: a sorted search of ``row * n_cols + col`` keys."""
    matrix = csr_matrix(matrix)
    matrix.sort_indices()
    out = np.full(len(rows), missing, dtype=np.float32)
    if not matrix.nnz or not len(rows):
        return out
    width = np.int64(max(matrix.shape[1], 1))
    stored = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr)) * width + matrix.indices
    wanted = rows.astype(np.int64) * width + cols
    at = np.minimum(np.searchsorted(stored, wanted), len(stored) - 1)
    hit = (stored[at] == wanted) & (cols >= 0)
    out[hit] = matrix.data[at[hit]]
    return out
