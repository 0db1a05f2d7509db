"""Metrics against hand-computed values; the split never leaks; the harness ranks sensible models."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from reco.evaluation import evaluate_models, format_table, ranking_metrics, temporal_split
from reco.exceptions import ConfigurationError
from reco.models import BuyAgainRecommender, PopularityRecommender, RecentPopularityRecommender


def test_metrics_by_hand() -> None:
    recs = np.array([[5, 1, 7, -1], [2, 3, 4, 6]])
    relevant = [np.array([1, 7, 9]), np.array([8])]
    m = ranking_metrics(recs, relevant, k=4, n_items=10)
    dcg0 = 1 / math.log2(3) + 1 / math.log2(4)
    idcg0 = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert m["ndcg@4"] == pytest.approx((dcg0 / idcg0 + 0) / 2)
    assert m["recall@4"] == pytest.approx((2 / 3 + 0) / 2)
    assert m["precision@4"] == pytest.approx((2 / 4 + 0) / 2)
    assert m["map@4"] == pytest.approx(((1 / 2 + 2 / 3) / 3 + 0) / 2)
    assert m["hit_rate@4"] == pytest.approx(0.5)
    assert m["coverage@4"] == pytest.approx(7 / 10)
    assert m["users"] == 2


def test_recall_caps_relevance_at_k() -> None:
    m = ranking_metrics(np.array([[0, 1]]), [np.arange(5)], k=2, n_items=5)
    assert m["recall@2"] == 1.0 and m["ndcg@2"] == 1.0 and m["map@2"] == 1.0


def _events() -> pd.DataFrame:
    rows = [
        ("a", "x", "2024-01-01"), ("a", "y", "2024-01-05"), ("b", "x", "2024-01-10"),
        ("a", "x", "2024-02-05"), ("a", "z", "2024-02-06"), ("b", "w", "2024-02-07"),
        ("c", "x", "2024-02-08"), ("b", "x", "2024-02-09"),
    ]
    return pd.DataFrame(rows, columns=["customer_id", "item_id", "timestamp"]).assign(
        timestamp=lambda d: pd.to_datetime(d["timestamp"]))


def test_split_relevance_and_no_leakage() -> None:
    split = temporal_split(_events(), holdout_days=10)
    assert split.cut == pd.Timestamp("2024-01-30")
    assert (split.train["timestamp"] < split.cut).all()
    assert list(split.mapping.item_ids) == ["x", "y"], "items first seen in the holdout are not relevant"
    users = [split.mapping.user_ids[u] for u in split.users["all"]]
    assert users == ["a", "b"], "c bought nothing before the cut"
    rel = {split.mapping.user_ids[u]: [split.mapping.item_ids[i] for i in r]
           for u, r in zip(split.users["all"], split.relevant["all"], strict=True)}
    assert rel == {"a": ["x"], "b": ["x"]}
    assert len(split.users["new"]) == 0, "x is a rebuy for both, so task new has no test customers"


def test_a_holdout_of_strangers_only_measures_no_one() -> None:
    # Only a customer (and an item) never seen before buy in the holdout: no one to measure, in either task.
    events = pd.DataFrame({"customer_id": ["a", "b", "z"], "item_id": ["x", "y", "w"],
                           "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-20"])})
    split = temporal_split(events, holdout_days=7)
    for task in ("all", "new"):
        assert len(split.users[task]) == 0 and split.relevant[task] == []
    result = evaluate_models(events, {"popularity": PopularityRecommender()}, holdout_days=7, k=3)
    assert result.tasks["all"]["popularity"]["users"] == 0


def test_validation_split_ends_at_the_test_cut() -> None:
    test = temporal_split(_events(), holdout_days=10)
    validation = temporal_split(_events(), holdout_days=25, end=test.cut)
    assert validation.end == test.cut and validation.cut == test.cut - pd.Timedelta(days=25)
    assert validation.train["timestamp"].max() < validation.cut


def test_bad_holdout_names_the_data_range() -> None:
    with pytest.raises(ConfigurationError, match="2024-01-01"):
        temporal_split(_events(), holdout_days=400)


def test_harness_on_a_repeat_buying_log() -> None:
    rng = np.random.default_rng(1)
    rows = []
    for c in range(80):
        staples = rng.choice(30, size=3, replace=False)
        for day in range(0, 120, 7):
            for s in staples:
                rows.append((f"c{c}", f"i{s}", pd.Timestamp("2024-01-01") + pd.Timedelta(days=day + c % 5)))
            rows.append((f"c{c}", f"i{rng.integers(30, 60)}", pd.Timestamp("2024-01-01") + pd.Timedelta(days=day)))
    events = pd.DataFrame(rows, columns=["customer_id", "item_id", "timestamp"])
    result = evaluate_models(events, {"popularity": PopularityRecommender(),
                                      "recent_popularity": RecentPopularityRecommender(window_days=14),
                                      "buy_again": BuyAgainRecommender()},
                             holdout_days=14, k=5, default_model="buy_again")
    ndcg = {name: m["ndcg@5"] for name, m in result.tasks["all"].items()}
    # Relevance holds the 3 staples plus one-off items nobody can predict: about 3 hits of 5 is the ceiling.
    assert ndcg["buy_again"] > 0.7 and ndcg["popularity"] < 0.2, ndcg
    assert "buy_again" not in result.tasks["new"], "buy-again cannot recommend new items"
    table = format_table(result)
    assert "*buy_again" in table and "task new" in table
    assert result.to_dict()["tasks"]["all"]["buy_again"]["users"] == 80


def test_candidate_recall_of_the_ranker_per_source() -> None:
    from reco.evaluation.harness import candidate_recall
    from reco.models import RankerRecommender
    from reco.models.ranker import SOURCES

    rng = np.random.default_rng(2)
    rows = []
    for c in range(60):
        staples = rng.choice(20, size=3, replace=False)
        for day in range(0, 150, 10):
            for s in staples:
                rows.append((f"c{c}", f"i{s}", pd.Timestamp("2024-01-01") + pd.Timedelta(days=day)))
            rows.append((f"c{c}", f"i{rng.integers(20, 40)}", pd.Timestamp("2024-01-01") + pd.Timedelta(days=day)))
    events = pd.DataFrame(rows, columns=["customer_id", "item_id", "timestamp"])
    events["category"] = np.where(events["item_id"].str[1:].astype(int) < 20, "staples", "extras")
    ranker = RankerRecommender(factors=8, iterations=5, max_iter=20, cutoffs=2, label_days=10, candidates=5)
    result = evaluate_models(events, {"ranker": ranker}, holdout_days=20, k=5, default_model="ranker")
    recall = result.candidate_recall["all"]["ranker"]
    assert set(recall) == {*SOURCES, "total"}
    assert recall["history"] > 0.7  # staples are bought again
    assert recall["category"] > 0  # the extras of their own 'extras' category
    assert max(recall[s] for s in SOURCES) <= recall["total"] <= 1.0
    assert result.candidate_recall["new"]["ranker"]["history"] == 0.0  # a new item was never bought
    assert "candidate recall of ranker" in format_table(result)
    # by hand: two customers, keys row * n_items + item
    assert candidate_recall({"a": np.array([1, 12]), "b": np.array([13])}, [np.array([1, 2]), np.array([3])], 10) == {
        "a": round(1 / 3, 4), "b": round(1 / 3, 4), "total": round(2 / 3, 4)}
