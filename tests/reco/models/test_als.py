"""ALS learns real structure: taste groups are recovered and reasons point at the right purchase."""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix

from reco.interactions import build_user_items
from reco.models import ALSRecommender, PopularityRecommender
from tests.factories import make_purchases


def _data() -> tuple[csr_matrix, np.ndarray]:
    matrix, mapping = build_user_items(make_purchases(n_customers=60, n_items=20), weighting="binary")
    group = np.array([int(i[1:]) >= 10 for i in mapping.item_ids])
    return matrix, group


def test_recommendations_stay_within_the_customers_taste_group() -> None:
    matrix, group = _data()
    model = ALSRecommender(factors=4, iterations=15, regularization=1.0, alpha=1.0).fit(matrix)
    ids, _ = model.recommend(np.arange(matrix.shape[0]), matrix, n=3)
    users_group = np.array([group[matrix[u].indices].mean() > 0.5 for u in range(matrix.shape[0])])
    hits = (group[ids] == users_group[:, None]).mean()
    assert hits >= 0.95, f"only {hits:.0%} of recommendations match the customer's group"


def test_unseen_customer_with_history_gets_group_items() -> None:
    matrix, group = _data()
    model = ALSRecommender(factors=4, iterations=15, regularization=1.0, alpha=1.0).fit(matrix)
    history = np.flatnonzero(group)[:3]
    row = csr_matrix((np.ones(3, dtype=np.float32), (np.zeros(3, dtype=int), history)), shape=(1, matrix.shape[1]))
    ids, _ = model.recommend(-1, row, n=3)
    assert group[ids].all()


def test_explain_names_a_purchase_from_the_same_group() -> None:
    matrix, group = _data()
    model = ALSRecommender(factors=4, iterations=15, regularization=1.0, alpha=1.0).fit(matrix)
    ids, _ = model.recommend(0, matrix[0], n=3)
    because = model.explain(matrix[0], ids)
    assert set(because.tolist()) <= set(matrix[0].indices.tolist())
    assert (group[because] == group[ids]).all()


def test_popularity_ranks_by_distinct_buyers() -> None:
    matrix = csr_matrix(np.array([[5, 1, 0], [0, 1, 0], [0, 1, 1]], dtype=np.float32))
    ids, _ = PopularityRecommender().fit(matrix).recommend(-1, csr_matrix((1, 3), dtype=np.float32), n=3)
    assert ids.tolist() == [1, 0, 2]


def test_recent_popularity_learns_only_from_its_window() -> None:
    import pandas as pd

    from reco.models import RecentPopularityRecommender

    events = pd.DataFrame({
        "customer_id": ["a", "b", "c", "d", "d"], "item_id": ["old", "old", "old", "new", "old"],
        "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03", "2024-03-20", "2023-01-01"]),
    })
    model = RecentPopularityRecommender(window_days=30)
    matrix, mapping = model.input_spec.build(events, now=pd.Timestamp("2024-03-31"))
    history, _ = model.input_spec.build(events, now=pd.Timestamp("2024-03-31"), mapping=mapping, window=False)
    ids, _ = model.fit(matrix).recommend(-1, history[mapping.user_index("a")], n=2)
    assert [mapping.item_ids[i] for i in ids if i >= 0] == ["new"], "'old' sold more, but not recently"


def test_solving_a_new_customer_reuses_the_item_side_and_follows_refits_and_settings() -> None:
    """The implicit model that solves unseen customers is kept (Y'Y once, not per request), yet a refit
    or a new regularization gives what a freshly built solver gives."""
    matrix, _ = _data()
    model = ALSRecommender(factors=4, iterations=15, regularization=1.0, alpha=2.0).fit(matrix)
    rows = matrix[:5]
    unseen = np.full(5, -1)

    def fresh() -> np.ndarray:
        solver = model._model()
        solver.item_factors, solver.user_factors = model.item_factors_, model.user_factors_
        return np.asarray(solver.recalculate_user(np.arange(5), rows))

    first = model._user_vectors(unseen, rows)
    assert model._solver() is model._solver()
    np.testing.assert_allclose(first, fresh(), rtol=1e-6)
    model.set_params(regularization=50.0)
    np.testing.assert_allclose(model._user_vectors(unseen, rows), fresh(), rtol=1e-6)
    assert not np.allclose(model._user_vectors(unseen, rows), first)
    model.set_params(regularization=1.0, iterations=5).fit(matrix[::-1])
    np.testing.assert_allclose(model._user_vectors(unseen, rows), fresh(), rtol=1e-6)
