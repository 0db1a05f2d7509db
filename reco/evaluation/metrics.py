"""Ranking metrics at k with binary relevance, averaged over test customers.

precision = hits / k; recall = hits / min(|relevant|, k); nDCG with gain 1 per hit and the ideal
ranking of min(|relevant|, k) hits; MAP = mean over customers of sum(precision@i at each hit) /
min(|relevant|, k); hit rate = share of customers with at least one hit; coverage = share of the
catalogue recommended to anyone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def ranking_metrics(
    recommended: np.ndarray, relevant: Sequence[np.ndarray], k: int, n_items: int
) -> dict[str, float]:
    """``recommended`` is (customers, >= k) item indices, best first, -1 for empty slots."""
    recs = np.asarray(recommended)[:, :k]
    if len(recs) != len(relevant):
        raise ValueError(f"{len(recs)} recommendation rows for {len(relevant)} relevance sets")
    if len(recs) == 0:
        return {f"{m}@{k}": 0.0 for m in ("ndcg", "recall", "precision", "map", "hit_rate", "coverage")} | {
            "users": 0}
    hits = np.zeros(recs.shape, dtype=bool)
    n_rel = np.zeros(len(recs))
    for row, rel in enumerate(relevant):
        hits[row] = np.isin(recs[row], rel) & (recs[row] >= 0)
        n_rel[row] = len(rel)
    cap = np.minimum(n_rel, k)
    n_hits = hits.sum(axis=1)
    discounts = 1.0 / np.log2(np.arange(2, recs.shape[1] + 2))
    dcg = (hits * discounts).sum(axis=1)
    idcg = np.array([discounts[: int(c)].sum() for c in cap])
    precision_at = np.cumsum(hits, axis=1) / np.arange(1, recs.shape[1] + 1)
    ap = (precision_at * hits).sum(axis=1) / cap
    valid = recs[recs >= 0]
    return {
        f"ndcg@{k}": float(np.mean(dcg / idcg)),
        f"recall@{k}": float(np.mean(n_hits / cap)),
        f"precision@{k}": float(np.mean(n_hits / k)),
        f"map@{k}": float(np.mean(ap)),
        f"hit_rate@{k}": float(np.mean(n_hits > 0)),
        f"coverage@{k}": float(len(np.unique(valid)) / n_items) if n_items else 0.0,
        "users": len(recs),
    }
