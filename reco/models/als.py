"""Implicit-feedback matrix factorisation (alternating least squares), via the implicit library."""

from __future__ import annotations

import logging
import os

import numpy as np
from implicit.cpu.als import AlternatingLeastSquares
from scipy.sparse import csr_matrix

from reco.interactions.matrix import MatrixSpec
from reco.models.base import register
from reco.models.factors import FactorModel

logger = logging.getLogger(__name__)


@register
class ALSRecommender(FactorModel):
    """Hu, Koren & Volinsky (2008) ALS on a weighted customer x item matrix.

    Customers unseen at training time are scored from their current history by solving for their
    factors against the fixed item factors (implicit's ``recalculate_user``), without retraining.
    """

    name = "als"
    supports_unknown_users = True

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.05,
        alpha: float = 2.0,
        iterations: int = 15,
        random_state: int = 42,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.random_state = random_state

    @property
    def input_spec(self) -> MatrixSpec:
        return MatrixSpec("log1p")

    def _validate(self) -> None:
        self._require("positive_int", "factors", "iterations")
        self._require("non_negative", "regularization", "alpha")

    def _model(self) -> AlternatingLeastSquares:
        return AlternatingLeastSquares(
            factors=self.factors, regularization=self.regularization, alpha=self.alpha,
            iterations=self.iterations, random_state=self.random_state, calculate_training_loss=False,
        )

    def _fit(self, user_items: csr_matrix) -> None:
        self._validate()
        if os.environ.get("OPENBLAS_NUM_THREADS") not in ("1",):
            logger.warning("OPENBLAS_NUM_THREADS is not 1; implicit's ALS runs much slower with threaded BLAS")
        model = self._model()
        model.fit(user_items, show_progress=False)
        self._set_factors(model.user_factors, model.item_factors)

    def _user_vectors(self, user_ids: np.ndarray, user_items: csr_matrix) -> np.ndarray:
        vectors = np.zeros((len(user_ids), self.item_factors_.shape[1]), dtype=np.float32)
        known = user_ids >= 0
        vectors[known] = self.user_factors_[user_ids[known]]
        unknown = np.flatnonzero(~known)
        if len(unknown):
            model = self._solver()
            # Sparse row selection costs more than one customer's solve: skipped when it selects everything.
            rows = user_items if len(unknown) == len(user_ids) else user_items[unknown]
            has_history = np.diff(rows.indptr) > 0
            if has_history.any():
                solve = rows if has_history.all() else rows[has_history]
                solved = model.recalculate_user(np.arange(int(has_history.sum())), solve)
                vectors[unknown[has_history]] = np.asarray(solved, dtype=np.float32).reshape(
                    int(has_history.sum()), -1)
        return vectors

    def _solver(self) -> AlternatingLeastSquares:
        """implicit's model holding the item factors, kept for solving users' vectors: a fresh one would
        recompute Y'Y (items x factors^2) on every call, most of a live request's solve on a large catalogue."""
        key = (self.regularization, self.alpha)
        cached = getattr(self, "_solver_cache", None)
        if cached is not None and cached[0] is self.item_factors_ and cached[1] == key:
            return cached[2]
        model = self._model()
        model.item_factors = self.item_factors_
        model.user_factors = self.user_factors_
        _ = model.YtY  # computed once here, read by every later solve (threads included)
        self._solver_cache = (self.item_factors_, key, model)
        return model

    def _scores(self, user_ids: np.ndarray, user_items: csr_matrix, new_only: bool = False) -> np.ndarray:
        return self._user_vectors(user_ids, user_items) @ self.item_factors_.T

    def explain(self, user_items_row: csr_matrix, item_ids: np.ndarray | list[int]) -> np.ndarray:
        """The bought item most similar (item-factor cosine) to each recommended item."""
        self._check_fitted()
        history = user_items_row.indices if user_items_row.nnz else np.zeros(0, dtype=np.int64)
        item_ids = np.asarray(item_ids, dtype=np.int64)
        if not len(history) or not len(item_ids):
            return np.full(len(item_ids), -1, dtype=np.int64)
        sims = self.item_unit_[item_ids] @ self.item_unit_[history].T
        return history[np.argmax(sims, axis=1)].astype(np.int64)


def log1p_weights(user_items: csr_matrix) -> csr_matrix:
    """A copy of ``user_items`` with log(1 + weight): what the blended models fit their ALS part on."""
    logged = user_items.copy()
    logged.data = np.log1p(logged.data)
    return logged


def als_part(model: FactorModel) -> ALSRecommender:
    """An unfitted ALS with ``model``'s own ALS hyperparameters (factors, regularization, alpha, ...)."""
    return ALSRecommender(**{name: getattr(model, name) for name in ALSRecommender().get_params()})


def restored_als_part(model: FactorModel) -> ALSRecommender:
    """The ALS part of a loaded ``model``, rebuilt from its saved factors (no refit)."""
    part = als_part(model)
    part._set_factors(model.user_factors_, model.item_factors_)
    part.n_items_ = model.item_factors_.shape[0]
    return part
