"""Popularity: the same best-sellers for everyone; the cold-start and non-personal fallback."""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix

from reco.interactions.matrix import MatrixSpec
from reco.models.base import Recommender, register


@register
class PopularityRecommender(Recommender):
    """Scores each item by how many customers bought it (ties broken by the matrix's weights)."""

    name = "popularity"
    supports_unknown_users = True

    def __init__(self) -> None:
        pass

    @property
    def input_spec(self) -> MatrixSpec:
        return MatrixSpec("binary")

    def _fit(self, user_items: csr_matrix) -> None:
        counts = np.asarray((user_items > 0).sum(axis=0)).ravel().astype(np.float64)
        weights = np.asarray(user_items.sum(axis=0)).ravel().astype(np.float64)
        tiebreak = weights / (weights.max() + 1.0) if weights.size and weights.max() > 0 else weights
        self.item_scores_ = (counts + tiebreak).astype(np.float32)

    def _scores(self, user_ids: np.ndarray, user_items: csr_matrix, new_only: bool = False) -> np.ndarray:
        return np.broadcast_to(self.item_scores_, (len(user_ids), len(self.item_scores_)))

    def _item_similarity(self, item_ids: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.item_scores_, (len(item_ids), len(self.item_scores_)))

    def _state(self) -> dict[str, np.ndarray]:
        return {"item_scores": self.item_scores_}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.item_scores_ = arrays["item_scores"].astype(np.float32)


@register
class RecentPopularityRecommender(PopularityRecommender):
    """Popularity over a trailing window (``input_spec.window_days``): what sells now, not all time."""

    name = "recent_popularity"

    def __init__(self, window_days: float = 30.0) -> None:
        self.window_days = window_days

    @property
    def input_spec(self) -> MatrixSpec:
        self._require("positive", "window_days")
        return MatrixSpec("binary", window_days=float(self.window_days))
