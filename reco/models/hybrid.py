"""The default model: buy-again, collaborative discovery and what is trending, blended.

On purchase logs most of what a customer buys next is something they bought before, so a
personal repurchase score leads; collaborative filtering (ALS) finds what they have not bought yet;
a trailing-window popularity adds what sells now. Each part is scaled to [0, 1] per customer and
the weights, tuned on a validation window, differ by task: recommending anything (``all``) or only
items the customer never bought (``new``, where the repurchase part has nothing to say).
"""

from __future__ import annotations

from typing import Self

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix

from reco.interactions.idmapping import IdMapping
from reco.interactions.matrix import MatrixSpec
from reco.models.als import als_part, log1p_weights, restored_als_part
from reco.models.base import register
from reco.models.factors import FactorModel


@register
class HybridRecommender(FactorModel):
    """Weighted blend of recency-decayed repurchase, ALS and trending popularity.

    Input: the recency-decayed matrix (``input_spec``): each (customer, item) holds the sum over
    purchases of 0.5 ** (age / half_life_days). The repurchase part is that row; ALS is fitted on
    log(1 + value). The trend is the number of customers who bought each item in the last
    ``trend_window_days``: exact through ``fit_events``; through plain ``fit`` it counts customers
    whose value is at least 0.5 ** (window / half_life), which is exact for single purchases.

    Defaults sit between what `reco tune` chose on the validation windows of Online Retail (half-life
    240, trend 14 days, weights 0.25 / 0.5) and dunnhumby (60, 7 days, 0.25 / 0.25); in mode new both
    chose collaborative 1, trend 0.5. Run `reco tune` for your own data.
    """

    name = "hybrid"
    supports_unknown_users = True
    scoring_params = {  # noqa: RUF012
        "all": ("weight_buy_again", "weight_collaborative", "weight_trend"),
        "new": ("new_weight_collaborative", "new_weight_trend"),
    }

    def __init__(
        self,
        half_life_days: float = 120.0,
        trend_window_days: float = 14.0,
        weight_buy_again: float = 1.0,
        weight_collaborative: float = 0.25,
        weight_trend: float = 0.5,
        new_weight_collaborative: float = 1.0,
        new_weight_trend: float = 0.5,
        factors: int = 64,
        regularization: float = 0.05,
        alpha: float = 2.0,
        iterations: int = 15,
        random_state: int = 42,
    ) -> None:
        self.half_life_days = half_life_days
        self.trend_window_days = trend_window_days
        self.weight_buy_again = weight_buy_again
        self.weight_collaborative = weight_collaborative
        self.weight_trend = weight_trend
        self.new_weight_collaborative = new_weight_collaborative
        self.new_weight_trend = new_weight_trend
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.random_state = random_state

    @property
    def input_spec(self) -> MatrixSpec:
        self._validate()
        return MatrixSpec("recency", half_life_days=float(self.half_life_days))

    def _validate(self) -> None:
        self._require("positive", "half_life_days", "trend_window_days")
        self._require("non_negative", "weight_buy_again", "weight_collaborative", "weight_trend",
                      "new_weight_collaborative", "new_weight_trend")

    # ---------------------------------------------------------------- learning
    def fit_events(self, events: pd.DataFrame, mapping: IdMapping, now: pd.Timestamp | None = None) -> Self:
        """Fit with the exact trend: distinct buyers per item inside the trailing window."""
        decayed, _ = self.input_spec.build(events, now=now, mapping=mapping)
        window, _ = MatrixSpec("binary", window_days=float(self.trend_window_days)).build(
            events, now=now, mapping=mapping)
        self._trend_counts = np.asarray((window > 0).sum(axis=0)).ravel().astype(np.float32)
        try:
            return self.fit(decayed)
        finally:
            del self._trend_counts

    def _fit(self, user_items: csr_matrix) -> None:
        self._validate()
        counts = getattr(self, "_trend_counts", None)
        if counts is None:
            threshold = 0.5 ** (self.trend_window_days / self.half_life_days)
            counts = np.asarray((user_items >= threshold).sum(axis=0)).ravel().astype(np.float32)
        self.trend_ = (counts / counts.max() if counts.max() > 0 else counts).astype(np.float32)
        self._cf = als_part(self).fit(log1p_weights(user_items))
        self._set_factors(self._cf.user_factors_, self._cf.item_factors_)

    # ---------------------------------------------------------------- scoring
    def _scores(self, user_ids: np.ndarray, user_items: csr_matrix, new_only: bool = False) -> np.ndarray:
        collab = self._cf._scores(user_ids, log1p_weights(user_items))
        lo, hi = collab.min(axis=1, keepdims=True), collab.max(axis=1, keepdims=True)
        collab = (collab - lo) / np.maximum(hi - lo, 1e-9)
        if new_only:
            return self.new_weight_collaborative * collab + self.new_weight_trend * self.trend_[None, :]
        repurchase = user_items.toarray().astype(np.float32)
        repurchase /= np.maximum(repurchase.max(axis=1, keepdims=True), 1e-9)
        return (self.weight_buy_again * repurchase + self.weight_collaborative * collab
                + self.weight_trend * self.trend_[None, :])

    def explain(self, user_items_row: csr_matrix, item_ids: np.ndarray | list[int]) -> np.ndarray:
        """An item bought before explains itself; a new one, by its most similar purchase."""
        self._check_fitted()
        item_ids = np.asarray(item_ids, dtype=np.int64)
        because = self._cf.explain(user_items_row, item_ids)
        bought = np.isin(item_ids, user_items_row.indices)
        return np.where(bought, item_ids, because)

    # ---------------------------------------------------------------- persistence
    def _state(self) -> dict[str, np.ndarray]:
        return {**super()._state(), "trend": self.trend_}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        super()._set_state(arrays)
        self.trend_ = arrays["trend"].astype(np.float32)
        self._cf = restored_als_part(self)
