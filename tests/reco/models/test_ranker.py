"""The learned ranker: it learns purchase cycles from windows inside the training data, without leakage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sklearn

from reco.evaluation import ranking_metrics, temporal_split
from reco.evaluation.harness import candidate_recall
from reco.exceptions import ArtifactError, ConfigurationError
from reco.models import BuyAgainRecommender, PopularityRecommender, Recommender
from reco.models.ranker import FEATURES, RankerRecommender

START = pd.Timestamp("2024-01-01")


def cycle_log(n_customers: int = 150, days: int = 420, seed: int = 0) -> pd.DataFrame:
    """Each customer re-buys three staples on their own cycles (14, 28 and 42 days, random phase) and
    now and then one of the other items at random: which staple is due next is knowable from timing."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n_customers):
        staples = rng.choice(30, size=3, replace=False)
        for item, cycle in zip(staples, (14, 28, 42), strict=True):
            for day in range(int(rng.integers(0, cycle)), days, cycle):
                at = START + pd.Timedelta(days=day, hours=int(rng.integers(8, 20)))
                rows.append((f"C{c:03d}", f"I{item:02d}", at))
        for day in rng.choice(days, size=6, replace=False):
            rows.append((f"C{c:03d}", f"I{int(rng.integers(0, 30)):02d}", START + pd.Timedelta(days=int(day))))
    return pd.DataFrame(rows, columns=["customer_id", "item_id", "timestamp"])


def small_ranker(**params: object) -> RankerRecommender:
    return RankerRecommender(**{"factors": 8, "iterations": 10, "label_days": 7.0, "cutoffs": 8, "max_iter": 60,
                                "negatives": 1.0, **params})


def hit_rate_at_1(model: Recommender, split: object) -> float:
    history, _ = model.input_spec.build(split.train, now=split.cut, mapping=split.mapping, window=False)
    users = split.users["all"]
    ids, _ = model.recommend(users, history[users], n=1, filter_already_purchased=False)
    return ranking_metrics(ids, split.relevant["all"], 1, split.mapping.n_items)["hit_rate@1"]


def test_learns_which_staple_is_due_where_recency_weighting_cannot() -> None:
    split = temporal_split(cycle_log(), holdout_days=7)
    ranker = small_ranker().fit_events(split.train, split.mapping, now=split.cut)
    assert ranker.classifier_ is not None
    baseline = BuyAgainRecommender(half_life_days=30).fit_events(split.train, split.mapping, now=split.cut)
    # Recency weighting always picks the 14-day staple (due half the time in a 7-day window); knowing
    # the cycles picks whichever staple is due.
    learned, decayed = hit_rate_at_1(ranker, split), hit_rate_at_1(baseline, split)
    assert learned > decayed + 0.1, (learned, decayed)


def test_fit_on_a_matrix_alone_ranks_by_the_prior() -> None:
    split = temporal_split(cycle_log(n_customers=40), holdout_days=7)
    matrix, _ = small_ranker().input_spec.build(split.train, now=split.cut, mapping=split.mapping)
    ranker = small_ranker().fit(matrix)
    assert ranker.classifier_ is None
    ids, scores = ranker.recommend(0, matrix[0], n=3, filter_already_purchased=False)
    weights = ranker.purchased(matrix[0]).toarray().ravel()
    assert set(ids.tolist()) == set(np.argsort(-weights)[:3].tolist())  # bought items, heaviest first
    assert np.all(scores < 0)  # the prior stays below any learned probability


def test_events_after_now_are_never_used() -> None:
    events = cycle_log(n_customers=60)
    now = START + pd.Timedelta(days=300)
    split = temporal_split(events[events["timestamp"] < now], holdout_days=7)
    past_only = small_ranker().fit_events(events[events["timestamp"] < now], split.mapping, now=now)
    everything = small_ranker().fit_events(events, split.mapping, now=now)
    history, _ = past_only.input_spec.build(events[events["timestamp"] < now], now=now, mapping=split.mapping)
    users = np.arange(20)
    a_ids, a_scores = past_only.recommend(users, history[users], n=5, filter_already_purchased=False)
    b_ids, b_scores = everything.recommend(users, history[users], n=5, filter_already_purchased=False)
    np.testing.assert_array_equal(a_ids, b_ids)
    np.testing.assert_allclose(a_scores, b_scores)


def test_features_match_their_names_and_are_defined_for_new_items() -> None:
    split = temporal_split(cycle_log(n_customers=30), holdout_days=7)
    ranker = small_ranker().fit_events(split.train, split.mapping, now=split.cut)
    history, _ = ranker.input_spec.build(split.train, now=split.cut, mapping=split.mapping)
    stage = ranker._stage()
    x, keys = stage.features(np.arange(5), history[:5], new_only=False)
    assert x.shape == (len(keys), len(FEATURES)) and not np.isnan(x).any()
    bought = x[:, FEATURES.index("bought")] == 1
    assert bought.any() and (~bought).any()
    assert (x[~bought, FEATURES.index("since_last")] == -1).all()  # "never bought" is explicit
    new_x, new_keys = stage.features(np.arange(5), history[:5], new_only=True)
    assert (new_x[:, FEATURES.index("bought")] == 0).all() and not np.isin(new_keys, keys[bought]).any()


def test_save_load_keeps_the_classifier_and_refuses_another_sklearn(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    split = temporal_split(cycle_log(n_customers=40), holdout_days=7)
    ranker = small_ranker().fit_events(split.train, split.mapping, now=split.cut)
    history, _ = ranker.input_spec.build(split.train, now=split.cut, mapping=split.mapping)
    ranker.save(tmp_path / "m")
    assert (tmp_path / "m" / "classifier.joblib").exists()
    loaded = Recommender.load(tmp_path / "m")
    users = np.arange(10)
    for a, b in zip(ranker.recommend(users, history[users], n=5), loaded.recommend(users, history[users], n=5),
                    strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    monkeypatch.setattr(sklearn, "__version__", "0.0.1")
    with pytest.raises(ArtifactError, match=r"scikit-learn .* this environment has 0.0.1: retrain"):
        Recommender.load(tmp_path / "m")
    monkeypatch.undo()
    with np.load(tmp_path / "m" / "model.npz") as npz:  # as the previous reco saved it: no item categories
        np.savez(tmp_path / "m" / "model.npz", **{k: npz[k] for k in npz.files if k != "item_category"})
    with pytest.raises(ArtifactError, match=r"saved by an earlier reco, without the co-purchase and category "
                                            r"candidates; retrain"):
        Recommender.load(tmp_path / "m")


def test_last_year_counts_buyers_in_the_coming_window_a_year_ago() -> None:
    events = pd.DataFrame({
        "customer_id": ["a", "b", "b", "c"], "item_id": ["tree", "tree", "lights", "tree"],
        "timestamp": pd.to_datetime(["2022-12-05", "2022-12-20", "2022-11-20", "2023-06-01"]),
    })
    mapping = temporal_split(events, holdout_days=1).mapping
    ranker = small_ranker(label_days=30.0)
    counts = ranker._last_year(events, events["timestamp"], pd.Timestamp("2023-12-01"), mapping)
    tree, lights = mapping.item_index("tree"), mapping.item_index("lights")
    assert counts[tree] == pytest.approx(np.log1p(2)) and counts[lights] == 0
    none = ranker._last_year(events, events["timestamp"], pd.Timestamp("2022-12-01"), mapping)
    assert np.isnan(none).all()  # no data a year back: unknown, not zero


def _dense_top(scores: np.ndarray, n: int) -> list[set[int]]:
    return [set(np.flatnonzero(np.isfinite(row))[np.argsort(-row[np.isfinite(row)], kind="stable")][:n].tolist())
            for row in scores]


@pytest.mark.parametrize("new_only", [False, True])
def test_candidate_shortcut_returns_what_dense_scoring_would(new_only: bool) -> None:
    split = temporal_split(cycle_log(n_customers=60), holdout_days=7)
    ranker = small_ranker(candidates=5).fit_events(split.train, split.mapping, now=split.cut)
    history, _ = ranker.input_spec.build(split.train, now=split.cut, mapping=split.mapping)
    users = np.arange(40)
    blocked = np.array([0, 1, 2])
    allowed = np.arange(3, 20)  # few enough that some rows must fall back to dense scoring
    for n, kwargs in [(5, {}), (12, {"filter_items": blocked}), (8, {"items": allowed})]:
        ids, scores = ranker.recommend(users, history[users], n=n, filter_already_purchased=new_only, **kwargs)
        dense = ranker._scores(users, history[users], new_only=new_only).copy()
        if new_only:
            bought = ranker.purchased(history[users]).tocoo()
            dense[bought.row, bought.col] = -np.inf
        if "filter_items" in kwargs:
            dense[:, blocked] = -np.inf
        if "items" in kwargs:
            dense[:, np.setdiff1d(np.arange(ranker.n_items_), allowed)] = -np.inf
        for row, want in zip(ids, _dense_top(dense, n), strict=True):
            assert set(row[row >= 0].tolist()) == want
        picked = np.take_along_axis(dense, np.maximum(ids, 0), axis=1)
        np.testing.assert_allclose(np.where(ids >= 0, scores, 0), np.where(ids >= 0, picked, 0), rtol=1e-6)
        assert (np.diff(scores, axis=1)[np.isfinite(scores[:, 1:])] <= 0).all()  # best first


def test_collaborative_features_equal_their_dense_definition() -> None:
    split = temporal_split(cycle_log(n_customers=30), holdout_days=7)
    ranker = small_ranker(candidates=4).fit_events(split.train, split.mapping, now=split.cut)
    history, _ = ranker.input_spec.build(split.train, now=split.cut, mapping=split.mapping)
    stage = ranker._stage()
    users = np.arange(8)
    x, keys = stage.features(users, history[users], new_only=True)
    dense = ranker.user_factors_[users] @ ranker.item_factors_.T
    rows, items = keys // ranker.n_items_, keys % ranker.n_items_
    np.testing.assert_allclose(x[:, FEATURES.index("collab")], dense[rows, items], rtol=1e-4, atol=1e-5)
    lo, hi = dense.min(axis=1)[rows], dense.max(axis=1)[rows]
    np.testing.assert_allclose(x[:, FEATURES.index("collab_rel")], (dense[rows, items] - lo) / (hi - lo), atol=1e-4)
    masked = dense.copy()
    bought = ranker.purchased(history[users]).tocoo()
    masked[bought.row, bought.col] = -np.inf
    for r in range(len(users)):  # the ALS top-4 of unbought items are all candidates
        assert set(np.argsort(-masked[r])[:4].tolist()) <= set(items[rows == r].tolist())


def test_training_windows_adapt_to_a_short_history() -> None:
    from reco.models import RankerRecommender

    ranker = RankerRecommender(label_days=30, cutoffs=6)
    now = pd.Timestamp("2024-12-31")
    assert ranker.window_days(now - pd.Timedelta(days=365), now) == 30.0  # a year holds 6 windows and some history
    assert ranker.window_days(now - pd.Timedelta(days=120), now) == pytest.approx(120 / 7)  # four months: ~17 days
    assert ranker.window_days(now - pd.Timedelta(days=20), now) == 7.0  # never below a week


def test_copurchase_features_and_candidates_equal_their_dense_definition() -> None:
    from reco.models.als import log1p_weights
    from reco.models.ranker import QUERY_ITEMS

    split = temporal_split(cycle_log(n_customers=30), holdout_days=7)
    ranker = small_ranker(candidates=4).fit_events(split.train, split.mapping, now=split.cut)
    history, _ = ranker.input_spec.build(split.train, now=split.cut, mapping=split.mapping)
    users = np.arange(8)
    x, keys = ranker._stage().features(users, history[users], new_only=True)
    weights = log1p_weights(ranker.purchased(history[users])).toarray()
    query = np.where(weights >= -np.sort(-weights, axis=1)[:, [min(QUERY_ITEMS, weights.shape[1]) - 1]], weights, 0)
    dense = query @ ranker.knn_.toarray()
    dense[weights > 0] = 0  # bought items are not co-purchase candidates
    rows, items = keys // ranker.n_items_, keys % ranker.n_items_
    np.testing.assert_allclose(x[:, FEATURES.index("copurchase")], dense[rows, items], rtol=1e-5, atol=1e-6)
    top = dense.max(axis=1)[rows]
    np.testing.assert_allclose(x[:, FEATURES.index("copurchase_rel")],
                               np.where(top > 0, dense[rows, items] / np.maximum(top, 1e-9), 0), atol=1e-5)
    for r in range(len(users)):  # the co-purchase top-4 are candidates, and so are the 4 most bought items
        positive = np.flatnonzero(dense[r] > 0)
        assert set(positive[np.argsort(-dense[r, positive], kind="stable")][:4].tolist()) <= set(items[rows == r])
        popular = np.argsort(-ranker.item_stats_[0], kind="stable")[:4]
        assert set(popular[weights[r, popular] == 0].tolist()) <= set(items[rows == r].tolist())


def test_top_per_row_keeps_the_largest_values_of_each_row() -> None:
    from scipy.sparse import csr_matrix

    from reco.models.ranker import top_per_row

    dense = np.array([[0, 3, 1, 2], [5, 0, 0, 0], [0, 0, 0, 0], [1, 1, 4, 1]], dtype=np.float32)
    kept = top_per_row(csr_matrix(dense), 2).toarray()
    np.testing.assert_array_equal(kept, [[0, 3, 0, 2], [5, 0, 0, 0], [0, 0, 0, 0], [1, 0, 4, 0]])


def copurchase_log(n_customers: int = 200, days: int = 200, seed: int = 1) -> pd.DataFrame:
    """Customers re-buy a staple weekly; now and then one of ten 'firsts' leads them to buy its partner
    (item P<k>) a few days later, for the first time: a discovery that co-purchase predicts."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n_customers):
        staple = f"S{int(rng.integers(0, 5))}"
        for day in range(int(rng.integers(0, 7)), days, 7):
            rows.append((f"C{c:03d}", staple, START + pd.Timedelta(days=day)))
        for day in rng.choice(days, size=3, replace=False):
            k = int(rng.integers(0, 10))
            rows.append((f"C{c:03d}", f"F{k}", START + pd.Timedelta(days=int(day))))
            rows.append((f"C{c:03d}", f"P{k}", START + pd.Timedelta(days=int(day) + int(rng.integers(1, 5)))))
    return pd.DataFrame(rows, columns=["customer_id", "item_id", "timestamp"])


def test_new_items_are_learned_as_their_own_objective_from_copurchase_candidates(tmp_path: Path) -> None:
    split = temporal_split(copurchase_log(n_customers=500), holdout_days=7)
    ranker = small_ranker(candidates=6).fit_events(split.train, split.mapping, now=split.cut)
    assert ranker.new_classifier_ is not None
    history, _ = ranker.input_spec.build(split.train, now=split.cut, mapping=split.mapping)
    users = split.users["new"]
    ids, scores = ranker.recommend(users, history[users], n=3, filter_already_purchased=True)
    x, keys = ranker._stage().features(users[:1], history[users[:1]], new_only=True)
    by_new = ranker.new_classifier_.predict_proba(x)[:, 1]
    assert not np.allclose(by_new, ranker.classifier_.predict_proba(x)[:, 1])  # another model answers task new
    assert ids[0, 0] == keys[np.argmax(by_new)] % ranker.n_items_
    ranker.save(tmp_path / "m")
    loaded = Recommender.load(tmp_path / "m")
    np.testing.assert_allclose(loaded.recommend(users, history[users], n=3)[1], scores, rtol=1e-6)

    # The partner of a recent 'first' is found through co-purchase: with a single neighbour per item the
    # ranker finds far fewer; popularity fewer still. (Seeds 1-3 of this log: 1.41-1.66 times the narrow one.)
    def ndcg(model: Recommender) -> float:
        rows, _ = model.input_spec.build(split.train, now=split.cut, mapping=split.mapping)
        found, _ = model.recommend(users, rows[users], n=3, filter_already_purchased=True)
        return ranking_metrics(found, split.relevant["new"], 3, split.mapping.n_items)["ndcg@3"]

    narrow = small_ranker(candidates=6, neighbours=1).fit_events(split.train, split.mapping, now=split.cut)
    single = small_ranker(new_objective=False).fit_events(split.train, split.mapping, now=split.cut)
    assert single.new_classifier_ is None
    with pytest.raises(ConfigurationError, match="new_objective must be True or False, got 'no'"):
        small_ranker(new_objective="no").fit_events(split.train, split.mapping, now=split.cut)
    popular = PopularityRecommender().fit_events(split.train, split.mapping, now=split.cut)
    assert ndcg(ranker) > 1.2 * max(ndcg(narrow), ndcg(popular)), (ndcg(ranker), ndcg(narrow), ndcg(popular))


def category_log(seed: int = 0) -> pd.DataFrame:
    """240 customers shop dairy, 60 bakery (ten items each, the first of each aisle the most popular); in
    the last week each buys an item of their own aisle they never bought. The shop's best sellers are all
    dairy: only the popular items of a bakery customer's own category find their next item."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, 11)
    weights /= weights.sum()
    rows = []
    for c in range(300):
        aisle = "dairy" if c < 240 else "bakery"
        owned = rng.choice(10, size=3, replace=False, p=weights)
        for item in owned:
            for day in rng.choice(100, size=2, replace=False):
                rows.append((f"C{c:03d}", f"{aisle}{item}", START + pd.Timedelta(days=int(day)), aisle))
        rest = np.setdiff1d(np.arange(10), owned)
        new = rng.choice(rest, p=weights[rest] / weights[rest].sum())
        rows.append((f"C{c:03d}", f"{aisle}{new}", START + pd.Timedelta(days=int(rng.integers(101, 107))), aisle))
    return pd.DataFrame(rows, columns=["customer_id", "item_id", "timestamp", "category"])


def test_categories_propose_the_popular_items_of_each_customers_own_category(tmp_path: Path) -> None:
    split = temporal_split(category_log(), holdout_days=7)
    bakery = split.users["new"][split.users["new"] >= 240]  # customer index = number: C240.. shop bakery
    relevant = [r for u, r in zip(split.users["new"], split.relevant["new"], strict=True) if u >= 240]
    ranker = small_ranker(candidates=4, factors=2).fit_events(split.train, split.mapping, now=split.cut)
    history, _ = ranker.input_spec.build(split.train, now=split.cut, mapping=split.mapping)
    recall = candidate_recall(ranker.candidate_sources(bakery, history[bakery]), relevant, ranker.n_items_)
    assert recall["category"] >= 0.4 and recall["popular"] == recall["trend"] == 0.0, recall
    x, keys = ranker._stage().features(bakery[:1], history[bakery[:1]], new_only=True)
    items = split.mapping.item_ids[keys % ranker.n_items_]
    share, since = x[:, FEATURES.index("category_share")], x[:, FEATURES.index("category_since_last")]
    in_aisle = np.char.startswith(items.astype(str), "bakery")
    assert (share[in_aisle] == 1.0).all() and (share[~in_aisle] == 0.0).all()  # all their purchases are bakery
    assert (since[in_aisle] >= 0).all() and (since[~in_aisle] == -1).all()  # never bought dairy: not defined
    ranker.save(tmp_path / "m")
    loaded = Recommender.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.candidate_sources(bakery, history[bakery])["category"],
                                  ranker.candidate_sources(bakery, history[bakery])["category"])
    # A log without categories proposes none and describes every candidate as "no category".
    plain = small_ranker(candidates=4, factors=2).fit_events(split.train.drop(columns="category"), split.mapping,
                                                             now=split.cut)
    assert not len(plain.candidate_sources(bakery, history[bakery])["category"])
    x, _ = plain._stage().features(bakery[:1], history[bakery[:1]], new_only=False)
    assert (x[:, FEATURES.index("category_share")] == -1).all()
