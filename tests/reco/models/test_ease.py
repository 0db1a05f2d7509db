"""EASE and DLAE solve their stated objectives, learn taste groups and refuse bad settings clearly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.sparse import csr_matrix

from reco.exceptions import ConfigurationError
from reco.interactions import IdMapping, build_user_items
from reco.interactions.cooccurrence import session_cooccurrence
from reco.models import DLAERecommender, EASERecommender
from tests.factories import make_purchases


def _matrix() -> tuple[csr_matrix, np.ndarray]:
    matrix, mapping = build_user_items(make_purchases(n_customers=60, n_items=20), weighting="binary")
    return matrix, np.array([int(i[1:]) >= 10 for i in mapping.item_ids])


def test_dlae_weights_satisfy_its_normal_equations_off_the_diagonal() -> None:
    """min ||X - XB||^2 + ||L^1/2 B||^2 gives (G + L) B = G; only the self-weights are dropped after."""
    matrix, _ = _matrix()
    model = DLAERecommender(regularization=5.0, dropout=0.4).fit(matrix)
    gram = (matrix.T @ matrix).toarray().astype(np.float64)
    penalty = 5.0 + 0.4 / 0.6 * np.diag(gram)
    b = model.weights_.astype(np.float64)
    full = b + np.diag(np.diag(np.linalg.solve(gram + np.diag(penalty), gram)))
    np.testing.assert_allclose((gram + np.diag(penalty)) @ full, gram, atol=1e-3)
    assert np.all(np.diag(model.weights_) == 0)


def test_dlae_dropout_penalises_popular_items_more_than_plain_ridge() -> None:
    """With dropout the penalty grows with an item's count, so popular items get smaller weights."""
    matrix, _ = _matrix()
    counts = np.asarray(matrix.sum(axis=0)).ravel()
    popular, rare = int(np.argmax(counts)), int(np.argmin(counts))
    ridge = DLAERecommender(regularization=5.0, dropout=0.0).fit(matrix).weights_
    dropped = DLAERecommender(regularization=5.0, dropout=0.6).fit(matrix).weights_
    shrink_popular = np.abs(dropped[popular]).sum() / np.abs(ridge[popular]).sum()
    shrink_rare = np.abs(dropped[rare]).sum() / np.abs(ridge[rare]).sum()
    assert shrink_popular < shrink_rare


@pytest.mark.parametrize("cls", [EASERecommender, DLAERecommender])
def test_recommendations_stay_within_the_customers_taste_group(cls: type[EASERecommender]) -> None:
    matrix, group = _matrix()
    model = cls(regularization=10.0).fit(matrix)
    ids, _ = model.recommend(np.arange(matrix.shape[0]), matrix, n=3)
    users_group = np.array([group[matrix[u].indices].mean() > 0.5 for u in range(matrix.shape[0])])
    assert (group[ids] == users_group[:, None]).mean() >= 0.95


@pytest.mark.parametrize("dropout", [1.0, -0.1, "half"])
def test_dlae_refuses_a_dropout_outside_0_1(dropout: object) -> None:
    matrix, _ = _matrix()
    with pytest.raises(ConfigurationError, match=rf"dropout must be a number in \[0, 1\), got {dropout!r}"):
        DLAERecommender(dropout=dropout).fit(matrix)  # type: ignore[arg-type]


@pytest.mark.parametrize("cls", [EASERecommender, DLAERecommender])
def test_a_catalogue_above_max_items_is_refused_naming_the_model_and_memory(cls: type[EASERecommender]) -> None:
    matrix, _ = _matrix()
    with pytest.raises(ConfigurationError, match=rf"{cls.name} refuses a catalogue of 20 items \(max_items=10\)"):
        cls(max_items=10).fit(matrix)


def _basket_log() -> pd.DataFrame:
    """A is bought with B in one basket (10 customers) and with C two months apart (10 customers);
    B and C go together for 10 more. Counts alone cannot tell B from C as A's partner; times can."""
    t0 = pd.Timestamp("2024-01-01 10:00")
    rows = []
    for c in range(30):
        first, second = [("A", "B"), ("A", "C"), ("B", "C")][c // 10]
        gap = pd.Timedelta(days=60) if (first, second) == ("A", "C") else pd.Timedelta(minutes=2)
        rows += [(f"c{c}", first, t0), (f"c{c}", second, t0 + gap), (f"c{c}", f"F{c % 5}", t0 + pd.Timedelta(days=9))]
    return pd.DataFrame(rows, columns=["customer_id", "item_id", "timestamp"])


def _fitted(cls: type[EASERecommender], session_weight: float) -> tuple[EASERecommender, IdMapping]:
    events = _basket_log()
    mapping = IdMapping(np.sort(events["customer_id"].unique()), np.sort(events["item_id"].unique()))
    return cls(regularization=2.0, session_weight=session_weight).fit_events(events, mapping), mapping


@pytest.mark.parametrize("cls", [EASERecommender, DLAERecommender])
def test_session_weight_prefers_the_partner_bought_in_the_same_basket(cls: type[EASERecommender]) -> None:
    plain, mapping = _fitted(cls, 0.0)
    timed, _ = _fitted(cls, 2.0)
    a, b, c = mapping.item_indices(["A", "B", "C"])
    assert plain.weights_[a, b] == pytest.approx(plain.weights_[a, c], rel=1e-5)
    assert timed.weights_[a, b] > 1.2 * timed.weights_[a, c]


def test_session_weight_adds_that_multiple_of_the_cooccurrence_to_the_gram() -> None:
    events = _basket_log()
    model, mapping = _fitted(EASERecommender, 3.0)
    binary, _ = build_user_items(events, weighting="binary", mapping=mapping)
    gram = (binary.T @ binary).toarray() + 3.0 * session_cooccurrence(events, mapping, 10.0).toarray()
    p = np.linalg.inv(gram + 2.0 * np.eye(len(gram)))
    expected = -p / np.diag(p)[None, :]
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(model.weights_, expected, atol=1e-5)


@pytest.mark.parametrize("cls", [EASERecommender, DLAERecommender])
def test_without_session_weight_fit_events_equals_fit_on_the_binary_matrix(cls: type[EASERecommender]) -> None:
    events = _basket_log()
    model, mapping = _fitted(cls, 0.0)
    binary, _ = build_user_items(events, weighting="binary", mapping=mapping)
    np.testing.assert_array_equal(model.weights_, cls(regularization=2.0).fit(binary).weights_)


def test_plain_fit_refuses_a_session_weight_it_cannot_honour() -> None:
    matrix, _ = _matrix()
    with pytest.raises(ConfigurationError, match=r"session_weight=2.0 needs purchase times: fit with fit_events"):
        DLAERecommender(session_weight=2.0).fit(matrix)


@pytest.mark.parametrize(("param", "value", "message"), [
    ("session_weight", -1.0, "session_weight must be a non-negative number, got -1.0"),
    ("session_minutes", 0, "session_minutes must be a positive number, got 0"),
])
def test_bad_session_settings_are_refused_with_their_value(param: str, value: float, message: str) -> None:
    events = _basket_log()
    mapping = IdMapping(np.sort(events["customer_id"].unique()), np.sort(events["item_id"].unique()))
    with pytest.raises(ConfigurationError, match=message):
        EASERecommender(**{param: value}).fit_events(events, mapping)


def test_session_settings_survive_save_and_load(tmp_path: Path) -> None:
    model, _ = _fitted(DLAERecommender, 2.0)
    model.save(tmp_path / "m")
    loaded = DLAERecommender.load(tmp_path / "m")
    assert loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(loaded.weights_, model.weights_)
