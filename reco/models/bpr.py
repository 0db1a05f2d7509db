"""Bayesian personalised ranking (Rendle et al. 2009), via the implicit library."""

from __future__ import annotations

import numpy as np
from implicit.cpu.bpr import BayesianPersonalizedRanking
from scipy.sparse import csr_matrix

from reco.interactions.matrix import MatrixSpec
from reco.models.base import register
from reco.models.factors import FactorModel


@register
class BPRRecommender(FactorModel):
    """Pairwise-ranking matrix factorisation with item biases.

    Customers unseen at training time get the item biases alone (a learned popularity); BPR has
    no closed-form fold-in.
    """

    name = "bpr"
    similarity_columns = slice(None, -1)  # the last column is the item bias

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
        self._set_factors(model.user_factors, model.item_factors)

    def _scores(self, user_ids: np.ndarray, user_items: csr_matrix, new_only: bool = False) -> np.ndarray:
        vectors = np.zeros((len(user_ids), self.item_factors_.shape[1]), dtype=np.float32)
        known = user_ids >= 0
        vectors[known] = self.user_factors_[user_ids[known]]
        vectors[~known, -1] = 1.0  # the bias column: unseen customers get item biases only
        return vectors @ self.item_factors_.T
