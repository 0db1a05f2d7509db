"""EASE and DLAE solve their stated objectives, learn taste groups and refuse bad settings clearly."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import csr_matrix

from reco.exceptions import ConfigurationError
from reco.interactions import build_user_items
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
