"""The contract every recommender honours; runs against each registered model class."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.sparse import csr_matrix

from reco.exceptions import ConfigurationError, NotFittedError
from reco.interactions import IdMapping
from reco.models import Recommender, model_classes
from tests.factories import make_purchases

SMALL_PARAMS: dict[str, dict] = {
    "als": {"factors": 8, "iterations": 10},
    "hybrid": {"factors": 8, "iterations": 10},
    "ranker": {"factors": 8, "iterations": 10, "max_iter": 30, "cutoffs": 2, "label_days": 10},
    "bpr": {"factors": 8, "iterations": 20},
    "ease": {"regularization": 10.0},
    "dlae": {"regularization": 10.0},
}


@pytest.fixture(params=sorted(model_classes()))
def model(request: pytest.FixtureRequest) -> Recommender:
    return model_classes()[request.param](**SMALL_PARAMS.get(request.param, {}))


@pytest.fixture
def user_items(model: Recommender) -> csr_matrix:
    """The matrix each model asks for (its input_spec, full history), from the same small purchase log."""
    matrix, _ = model.input_spec.build(make_purchases(), now=pd.Timestamp("2024-03-01"), window=False)
    return matrix


def test_every_model_class_is_covered() -> None:
    assert {"als", "bpr", "ease", "dlae", "item_knn", "hybrid", "popularity", "recent_popularity", "buy_again"} <= set(
        model_classes())


def test_fit_returns_self_and_sets_learned_attributes(model: Recommender, user_items: csr_matrix) -> None:
    assert model.fit(user_items) is model
    assert model.n_items_ == user_items.shape[1] // model.input_spec.n_blocks


def test_methods_before_fit_raise_not_fitted(model: Recommender, user_items: csr_matrix, tmp_path: Path) -> None:
    with pytest.raises(NotFittedError, match="fit"):
        model.recommend(0, user_items[0])
    with pytest.raises(NotFittedError):
        model.similar_items(0)
    with pytest.raises(NotFittedError):
        model.save(tmp_path / "m")


def test_recommend_never_returns_purchased_or_filtered_items(model: Recommender, user_items: csr_matrix) -> None:
    model.fit(user_items)
    users = np.arange(user_items.shape[0])
    blocked = [0, 11]
    ids, scores = model.recommend(users, user_items, n=5, filter_items=blocked)
    assert ids.shape == scores.shape == (len(users), 5)
    for u in users:
        bought = set(user_items[u].indices)
        valid = ids[u][ids[u] >= 0]
        assert not bought & set(valid.tolist()) and not set(blocked) & set(valid.tolist())
        assert np.all(np.diff(scores[u][ids[u] >= 0]) <= 1e-6), "scores must be sorted best first"


def test_batch_equals_one_at_a_time(model: Recommender, user_items: csr_matrix) -> None:
    model.fit(user_items)
    ids, scores = model.recommend([3, 4, 5], user_items[[3, 4, 5]], n=4)
    for row, u in enumerate([3, 4, 5]):
        one_ids, one_scores = model.recommend(u, user_items[u], n=4)
        assert one_ids.ndim == 1
        np.testing.assert_array_equal(one_ids, ids[row])
        np.testing.assert_allclose(one_scores, scores[row], rtol=1e-5)


def test_unfiltered_recommend_and_candidate_restriction(model: Recommender, user_items: csr_matrix) -> None:
    model.fit(user_items)
    candidates = [int(i) for i in user_items[0].indices[:3]] + [19]
    ids, _ = model.recommend(0, user_items[0], n=3, filter_already_purchased=False, items=candidates)
    assert len(ids) == 3 and set(ids[ids >= 0].tolist()) <= set(candidates)
    assert (ids >= 0).sum() == 3, "three of the customer's own purchases are among the candidates"


def test_short_candidate_lists_are_padded(model: Recommender, user_items: csr_matrix) -> None:
    model.fit(user_items)
    bought = sorted(int(i) for i in user_items[0].indices[:2])
    ids, scores = model.recommend(0, user_items[0], n=5, filter_already_purchased=False, items=bought)
    assert sorted(ids[:2].tolist()) == bought
    assert ids[2:].tolist() == [-1, -1, -1] and np.isneginf(scores[2:]).all()


def test_similar_items_never_include_the_item(model: Recommender, user_items: csr_matrix) -> None:
    model.fit(user_items)
    ids, _scores = model.similar_items([0, 5], n=4)
    assert ids.shape == (2, 4)
    assert 0 not in ids[0] and 5 not in ids[1]
    one, _ = model.similar_items(5, n=4)
    np.testing.assert_array_equal(one, ids[1])


def test_save_load_round_trip_without_pickle(model: Recommender, user_items: csr_matrix, tmp_path: Path) -> None:
    model.fit(user_items)
    model.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["model.json", "model.npz"]
    loaded = Recommender.load(tmp_path / "m")
    assert type(loaded) is type(model) and loaded.get_params() == model.get_params()
    users = np.arange(10)
    np.testing.assert_array_equal(loaded.recommend(users, user_items[:10], n=5)[0],
                                  model.recommend(users, user_items[:10], n=5)[0])
    with np.load(tmp_path / "m" / "model.npz", allow_pickle=False) as npz:
        assert all(npz[k].dtype != object for k in npz.files)


@pytest.mark.parametrize("n", [0, -3, 2.5, True])
def test_bad_n_is_refused(model: Recommender, user_items: csr_matrix, n: object) -> None:
    model.fit(user_items)
    with pytest.raises(ConfigurationError, match="n must be a positive integer"):
        model.recommend(0, user_items[0], n=n)  # type: ignore[arg-type]


def test_bad_inputs_name_the_problem(model: Recommender, user_items: csr_matrix) -> None:
    with pytest.raises(ConfigurationError, match="csr_matrix"):
        model.fit(user_items.toarray())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="no interactions"):
        model.fit(csr_matrix((3, 4), dtype=np.float32))
    model.fit(user_items)
    with pytest.raises(ConfigurationError, match="shape"):
        model.recommend([0, 1], user_items[0])
    with pytest.raises(ConfigurationError, match="item id 999"):
        model.recommend(0, user_items[0], filter_items=[999])


def test_unknown_users_are_scored_from_their_history(model: Recommender, user_items: csr_matrix) -> None:
    model.fit(user_items)
    history = set(user_items[0].indices.tolist())
    ids, _ = model.recommend(-1, user_items[0], n=3)
    if not model.supports_unknown_users:
        # A model without fold-in gives every unseen customer the same non-personal list.
        other, _ = model.recommend(-1, user_items[1], n=3, filter_already_purchased=False)
        same, _ = model.recommend(-1, user_items[0], n=3, filter_already_purchased=False)
        assert (ids >= 0).all() and not set(ids.tolist()) & history
        assert (other >= 0).all() and other.tolist() == same.tolist()
    elif model.discovers_new_items:
        assert (ids >= 0).all() and not set(ids.tolist()) & history
    else:
        assert (ids == -1).all()
        ids, _ = model.recommend(-1, user_items[0], n=3, filter_already_purchased=False)
        assert (ids >= 0).all() and set(ids.tolist()) <= history


def test_repeated_calls_do_not_change_the_model(model: Recommender, user_items: csr_matrix) -> None:
    model.fit(user_items)
    users = np.arange(6)
    unfiltered = model.recommend(users, user_items[:6], n=5, filter_already_purchased=False)
    first = model.recommend(users, user_items[:6], n=5, filter_items=[1, 2])
    similar = model.similar_items([0, 3], n=4)
    for _ in range(2):
        again = model.recommend(users, user_items[:6], n=5, filter_items=[1, 2])
        np.testing.assert_array_equal(again[0], first[0])
        np.testing.assert_allclose(again[1], first[1])
        np.testing.assert_array_equal(model.similar_items([0, 3], n=4)[0], similar[0])
    after = model.recommend(users, user_items[:6], n=5, filter_already_purchased=False)
    np.testing.assert_array_equal(after[0], unfiltered[0], err_msg="filtering must not leak into later calls")
    np.testing.assert_allclose(after[1], unfiltered[1])


def test_fit_events_gives_the_same_contract(model: Recommender) -> None:
    """Fitted from events (what train and evaluate do, and where the ranker learns), the contract holds."""
    events = make_purchases()
    now = pd.Timestamp("2024-03-01")
    mapping = IdMapping(np.sort(events["customer_id"].unique()), np.sort(events["item_id"].unique()))
    assert model.fit_events(events, mapping, now=now) is model
    history, _ = model.input_spec.build(events, now=now, mapping=mapping, window=False)
    users = np.arange(mapping.n_users)
    ids, scores = model.recommend(users, history, n=5)
    for u in users:
        valid = ids[u][ids[u] >= 0]
        assert not set(model.purchased(history[u]).indices.tolist()) & set(valid.tolist())
        assert np.all(np.diff(scores[u][ids[u] >= 0]) <= 1e-6)
    one_ids, _ = model.recommend(7, history[7], n=5)
    np.testing.assert_array_equal(one_ids, ids[7])
