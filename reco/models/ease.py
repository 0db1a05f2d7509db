"""EASE (Steck 2019): a closed-form item-item linear model, strong on small catalogues."""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix

from reco.exceptions import ConfigurationError
from reco.interactions.matrix import MatrixSpec
from reco.models.base import Recommender, register


@register
class EASERecommender(Recommender):
    """B = I - P / diag(P) with P = (X'X + lambda I)^-1; scores = X_u B.

    It needs two dense items x items matrices, so catalogues above ``max_items`` are refused.
    """

    name = "ease"
    supports_unknown_users = True

    def __init__(self, regularization: float = 250.0, max_items: int = 20_000) -> None:
        self.regularization = regularization
        self.max_items = max_items

    @property
    def input_spec(self) -> MatrixSpec:
        return MatrixSpec("binary")

    def _fit(self, user_items: csr_matrix) -> None:
        n = user_items.shape[1]
        if n > self.max_items:
            gib = 2 * n * n * 8 / 2**30
            raise ConfigurationError(
                f"EASE refuses a catalogue of {n:,} items (max_items={self.max_items:,}): it would need about "
                f"{gib:,.1f} GiB; raise max_items if the memory is there, or use item_knn, als or hybrid")
        self._require("positive", "regularization")
        gram = (user_items.T @ user_items).toarray().astype(np.float64)
        gram[np.diag_indices(n)] += self.regularization
        p = np.linalg.inv(gram)
        b = -p / np.diag(p)[None, :]
        b[np.diag_indices(n)] = 0.0
        self.weights_ = b.astype(np.float32)

    def _scores(self, user_ids: np.ndarray, user_items: csr_matrix, new_only: bool = False) -> np.ndarray:
        return np.asarray(user_items @ self.weights_, dtype=np.float32)

    def _item_similarity(self, item_ids: np.ndarray) -> np.ndarray:
        return self.weights_[item_ids]

    def explain(self, user_items_row: csr_matrix, item_ids: np.ndarray | list[int]) -> np.ndarray:
        """The bought item with the largest weight towards each recommended item."""
        self._check_fitted()
        item_ids = np.asarray(item_ids, dtype=np.int64)
        history = user_items_row.indices
        if not len(history) or not len(item_ids):
            return np.full(len(item_ids), -1, dtype=np.int64)
        contrib = self.weights_[np.ix_(history, item_ids)]
        return np.where(contrib.max(axis=0) > 0, history[np.argmax(contrib, axis=0)], -1).astype(np.int64)

    def _state(self) -> dict[str, np.ndarray]:
        return {"weights": self.weights_}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.weights_ = arrays["weights"].astype(np.float32)
