"""Bayesian personalised ranking (Rendle et al. 2009), via the implicit library."""

from __future__ import annotations

import numpy as np
from implicit.cpu.bpr import BayesianPersonalizedRanking
from scipy.sparse import csr_matrix

from reco.interactions.matrix import MatrixSpec
from reco.models.base import Recommender, register


@register
class BPRRecommender(Recommender):
    """Pairwise-ranking matrix factorisation with item biases.

    Customers unseen at training time get the item biases alone (a learned popularity); BPR has
    no closed-form fold-in.
    """

    name = "bpr"

    def __init__(self, factors: int = 64, learning_rate: float = 0.05, regularization: float = 0.01,
                 iterations: int = 100, random_state: int = 42) -> None:
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.random_state = random_state

    @property
    def input_spec(self) -> MatrixSpec:
        return MatrixSpec("binary")

    def _fit(self, user_items: csr_matrix) -> None:
        self._require("positive_int", "factors", "iterations")
        self._require("non_negative", "learning_rate", "regularization")
        model = BayesianPersonalizedRanking(
            factors=self.factors, learning_rate=self.learning_rate, regularization=self.regularization,
            iterations=self.iterations, random_state=self.random_state, num_threads=1)
        model.fit(user_items, show_progress=False)
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float32)
        self.n_users_ = user_items.shape[0]
        self._derive()

    def _derive(self) -> None:
        norms = np.linalg.norm(self.item_factors_[:, :-1], axis=1, keepdims=True)
        self.item_unit_ = self.item_factors_[:, :-1] / np.maximum(norms, 1e-12)

    def _scores(self, user_ids: np.ndarray, user_items: csr_matrix, new_only: bool = False) -> np.ndarray:
        vectors = np.zeros((len(user_ids), self.item_factors_.shape[1]), dtype=np.float32)
        known = user_ids >= 0
        vectors[known] = self.user_factors_[user_ids[known]]
        vectors[~known, -1] = 1.0  # the bias column: unseen customers get item biases only
        return vectors @ self.item_factors_.T

    def _item_similarity(self, item_ids: np.ndarray) -> np.ndarray:
        return self.item_unit_[item_ids] @ self.item_unit_.T

    def _state(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors_, "item_factors": self.item_factors_}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.user_factors_ = arrays["user_factors"].astype(np.float32)
        self.item_factors_ = arrays["item_factors"].astype(np.float32)
        self.n_users_ = self.user_factors_.shape[0]
        self._derive()
