"""Popularity: the same best-sellers for everyone; the cold-start and non-personal fallback."""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix

from reco.models.base import Recommender, register


@register
class PopularityRecommender(Recommender):
    """Scores each item by how many customers bought it (sum of the matrix's weights per item).

    Give it a recency-weighted matrix and it ranks what is trending rather than all-time sellers.
    """

    name = "popularity"
    supports_unknown_users = True

    def __init__(self) -> None:
        pass

    def _fit(self, user_items: csr_matrix) -> None:
        counts = np.asarray((user_items > 0).sum(axis=0)).ravel().astype(np.float64)
        weights = np.asarray(user_items.sum(axis=0)).ravel().astype(np.float64)
        # Distinct buyers first; the weights only break ties between equally popular items.
        tiebreak = weights / (weights.max() + 1.0) if weights.size else weights
        self.item_scores_ = (counts + tiebreak).astype(np.float32)

    def _scores(self, user_ids: np.ndarray, user_items: csr_matrix) -> np.ndarray:
        return np.broadcast_to(self.item_scores_, (len(user_ids), len(self.item_scores_)))

    def _item_similarity(self, item_ids: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.item_scores_, (len(item_ids), len(self.item_scores_)))

    def _state(self) -> dict[str, np.ndarray]:
        return {"item_scores": self.item_scores_}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.item_scores_ = arrays["item_scores"].astype(np.float32)
