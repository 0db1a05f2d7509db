"""Buy-again: rank what the customer already bought by recency-decayed purchase frequency.

On real purchase logs buying again dominates what a customer buys next; this is the personal
baseline every other model must beat, and the repurchase component of the hybrid.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix

from reco.interactions.matrix import MatrixSpec
from reco.models.base import Recommender, csr_from_state, csr_state, register


@register
class BuyAgainRecommender(Recommender):
    """Score of a bought item = sum over its purchases of 0.5 ** (age / half_life_days).

    Items the customer never bought are never recommended (score -inf): with
    ``filter_already_purchased=True`` this model returns nothing, by design.
    """

    name = "buy_again"
    supports_unknown_users = True
    discovers_new_items = False

    def __init__(self, half_life_days: float = 120.0) -> None:
        self.half_life_days = half_life_days

    @property
    def input_spec(self) -> MatrixSpec:
        self._require("positive", "half_life_days")
        return MatrixSpec("recency", half_life_days=float(self.half_life_days))

    def _fit(self, user_items: csr_matrix) -> None:
        # Co-purchase cosine between items, kept only for similar_items.
        binary = (user_items > 0).astype(np.float32).tocsc()
        norms = np.sqrt(np.asarray(binary.multiply(binary).sum(axis=0)).ravel())
        self.item_users_ = csr_matrix(binary.T.multiply(1.0 / np.maximum(norms, 1e-12)[:, None]))

    def _scores(self, user_ids: np.ndarray, user_items: csr_matrix, new_only: bool = False) -> np.ndarray:
        scores = user_items.toarray().astype(np.float32)
        scores[scores <= 0] = -np.inf
        return scores

    def _item_similarity(self, item_ids: np.ndarray) -> np.ndarray:
        sims = (self.item_users_[item_ids] @ self.item_users_.T).toarray().astype(np.float32)
        sims[sims <= 0] = -np.inf
        return sims

    def explain(self, user_items_row: csr_matrix, item_ids: np.ndarray | list[int]) -> np.ndarray:
        """Each recommended item is explained by itself: it was bought before."""
        self._check_fitted()
        return np.asarray(item_ids, dtype=np.int64)

    def _state(self) -> dict[str, np.ndarray]:
        return csr_state(self.item_users_)

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.item_users_ = csr_from_state(arrays)
