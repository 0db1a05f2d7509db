"""Complements in the harness: hide one item of each basket of the holdout window and predict it from the
rest of the basket.

A basket is a customer's purchases of one day with at least two items the training window knows. One of
its items, drawn with a fixed seed, is held out; each model scores every item from the others (which it
may not return) and the held-out item's rank gives hit rate@k and nDCG@k (one relevant item). Models are
fitted on the events before the holdout: the complements model (confidence with a lift filter), raw
co-occurrence counts and popularity.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix

from reco.evaluation.split import temporal_split
from reco.models import ComplementsRecommender, PopularityRecommender, Recommender

logger = logging.getLogger(__name__)


def complement_models() -> dict[str, Recommender]:
    return {"complements": ComplementsRecommender(), "cooccurrence_counts": ComplementsRecommender(score="counts"),
            "popularity": PopularityRecommender()}


def evaluate_complements(events: pd.DataFrame, holdout_days: float = 30.0, k: int = 10, seed: int = 0,
                         models: dict[str, Recommender] | None = None) -> dict[str, Any]:
    """hit rate@k and nDCG@k of each model (default ``complement_models()``) on the held-out basket items."""
    split = temporal_split(events, holdout_days)
    mapping = split.mapping
    test = events[(pd.to_datetime(events["timestamp"]) >= split.cut)
                  & (pd.to_datetime(events["timestamp"]) <= split.end)]
    items = mapping.item_indices(test["item_id"].astype(str))
    lines = pd.DataFrame({"c": test["customer_id"].astype(str).to_numpy(),
                          "d": pd.to_datetime(test["timestamp"]).to_numpy().astype("datetime64[D]"), "i": items})
    lines = lines[lines["i"] >= 0].drop_duplicates()
    sizes = lines.groupby(["c", "d"])["i"].transform("size")
    lines = lines[sizes >= 2]
    basket = lines.groupby(["c", "d"], sort=True).ngroup().to_numpy()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lines))
    first = pd.Series(order).groupby(basket[order]).first()  # one random line per basket
    held = np.zeros(len(lines), dtype=bool)
    held[first.to_numpy()] = True
    n_baskets = int(basket.max()) + 1 if len(basket) else 0
    rest = csr_matrix((np.ones(int((~held).sum()), dtype=np.float32), (basket[~held], lines["i"].to_numpy()[~held])),
                      shape=(n_baskets, mapping.n_items))
    target = np.full(n_baskets, -1, dtype=np.int64)
    target[basket[held]] = lines["i"].to_numpy()[held]
    results: dict[str, dict[str, float]] = {}
    seconds: dict[str, float] = {}
    for name, model in (models or complement_models()).items():
        started = time.perf_counter()
        model.fit_events(split.train, mapping, now=split.cut)
        seconds[name] = round(time.perf_counter() - started, 2)
        ids, _ = model.recommend(np.full(n_baskets, -1), rest, n=k, filter_already_purchased=True)
        hit = ids == target[:, None]
        rank = np.where(hit.any(axis=1), hit.argmax(axis=1), -1)
        found = rank >= 0
        ndcg = np.where(found, 1.0 / np.log2(np.maximum(rank, 0) + 2.0), 0.0)
        results[name] = {f"hit_rate@{k}": round(float(found.mean()) if n_baskets else 0.0, 4),
                         f"ndcg@{k}": round(float(ndcg.mean()) if n_baskets else 0.0, 4)}
        logger.info("complements: %s hit rate@%d %.4f, nDCG@%d %.4f (%.1fs)", name, k, results[name][f"hit_rate@{k}"],
                    k, results[name][f"ndcg@{k}"], seconds[name])
    return {"baskets": n_baskets, "holdout_days": holdout_days, "cut": split.cut.isoformat(), "k": k,
            "models": results, "fit_seconds": seconds}


def format_complements(result: dict[str, Any]) -> str:
    k = result["k"]
    lines = [f"complements: {result['baskets']:,} holdout baskets from {result['cut'][:10]}, one item hidden each",
             f"{'model':<22}{'hit_rate@' + str(k):>14}{'ndcg@' + str(k):>12}{'fit s':>8}"]
    for name, m in sorted(result["models"].items(), key=lambda kv: -kv[1][f"ndcg@{k}"]):
        lines.append(f"{name:<22}{m[f'hit_rate@{k}']:>14.4f}{m[f'ndcg@{k}']:>12.4f}{result['fit_seconds'][name]:>8.2f}")
    return "\n".join(lines)
