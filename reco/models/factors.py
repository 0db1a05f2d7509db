"""State shared by the matrix-factorisation models: user and item factors, unit item vectors."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from reco.models.base import Recommender


class FactorModel(Recommender):
    """Keeps ``user_factors_`` / ``item_factors_``, saves them, and scores item similarity by cosine."""

    # Columns of the item factors that carry taste (BPR keeps an item bias in its last column).
    similarity_columns: ClassVar[slice] = slice(None)

    def _set_factors(self, user_factors: np.ndarray, item_factors: np.ndarray) -> None:
        self.user_factors_ = np.asarray(user_factors, dtype=np.float32)
        self.item_factors_ = np.asarray(item_factors, dtype=np.float32)
        self.n_users_ = self.user_factors_.shape[0]
        latent = self.item_factors_[:, self.similarity_columns]
        self.item_unit_ = latent / np.maximum(np.linalg.norm(latent, axis=1, keepdims=True), 1e-12)

    def _item_similarity(self, item_ids: np.ndarray) -> np.ndarray:
        return self.item_unit_[item_ids] @ self.item_unit_.T

    def _state(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors_, "item_factors": self.item_factors_}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self._set_factors(arrays["user_factors"], arrays["item_factors"])
