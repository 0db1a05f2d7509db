"""Complements ("goes well with"): items bought in the same basket as a given item more often than chance.

A basket is a customer's purchases of one day. For items ``i`` and ``j``: ``support(i, j)`` baskets hold
both, ``confidence(j | i) = support(i, j) / support(i)`` and ``lift(i, j) = confidence(j | i) /
P(j)``. A pair is kept when at least ``min_support`` baskets hold it and its lift is above ``min_lift``
(1: more often together than apart; two best-sellers bought independently have lift 1); ``j`` is then scored for ``i``
by its confidence. A basket of several items scores an item by the sum over the basket.

``score="counts"`` scores by the raw number of shared baskets instead (no lift filter): the
co-occurrence baseline the harness compares with.

As a Recommender: ``similar_items(i)`` gives ``i``'s complements and ``recommend`` with a basket as the
customer's row completes that basket.
"""

from __future__ import annotations

from typing import Self

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix

from reco.exceptions import ConfigurationError
from reco.interactions.baskets import basket_lines
from reco.interactions.idmapping import IdMapping
from reco.interactions.matrix import MatrixSpec
from reco.models.base import Recommender, csr_from_state, csr_state, register

SCORES = ("confidence", "counts")


def basket_matrix(events: pd.DataFrame, mapping: IdMapping, now: pd.Timestamp | None = None) -> csr_matrix:
    """Baskets (customer x day) x items, binary, from purchase events (customer_id, item_id, timestamp)."""
    lines = basket_lines(events, mapping, now)
    basket = lines.groupby(["u", "d"], sort=False).ngroup().to_numpy()
    return csr_matrix((np.ones(len(lines), dtype=np.float32), (basket, lines["i"].to_numpy())),
                      shape=(int(basket.max()) + 1 if len(basket) else 0, mapping.n_items))


@register
class ComplementsRecommender(Recommender):
    """See the module docstring."""

    name = "complements"
    supports_unknown_users = True

    def __init__(self, min_support: int = 3, min_lift: float = 1.0, score: str = "confidence") -> None:
        self.min_support = min_support
        self.min_lift = min_lift
        self.score = score

    @property
    def input_spec(self) -> MatrixSpec:
        return MatrixSpec("binary")

    def fit_events(self, events: pd.DataFrame, mapping: IdMapping, now: pd.Timestamp | None = None) -> Self:
        matrix, _ = self.input_spec.build(events, now=now, mapping=mapping)
        self._baskets = basket_matrix(events, mapping, now)
        try:
            return self.fit(matrix)
        finally:
            del self._baskets

    def _fit(self, user_items: csr_matrix) -> None:
        self._require("positive_int", "min_support")
        self._require("non_negative", "min_lift")
        if self.score not in SCORES:
            raise ConfigurationError(f"{type(self).__name__} score={self.score!r} is not valid; valid: "
                                     f"{', '.join(SCORES)}")
        baskets = getattr(self, "_baskets", None)
        if baskets is None:  # a matrix alone: each customer's history is one basket
            baskets = csr_matrix((user_items > 0).astype(np.float32))
        together = (baskets.T @ baskets).tocsr().astype(np.float64)
        support = together.diagonal()
        n = max(baskets.shape[0], 1)
        coo = together.tocoo()
        i, j, c = coo.row, coo.col, coo.data
        lift = c * n / np.maximum(support[i] * support[j], 1e-12)
        keep = (i != j) & (c >= self.min_support)
        if self.score == "confidence":
            keep &= lift > self.min_lift * (1 + 1e-9)
            value = c / np.maximum(support[i], 1e-12)
        else:
            value = c
        self.scores_ = csr_matrix((value[keep].astype(np.float32), (i[keep], j[keep])), shape=together.shape)
        self.support_ = support.astype(np.float32)

    def _scores(self, user_ids: np.ndarray, user_items: csr_matrix, new_only: bool = False) -> np.ndarray:
        basket = (user_items[:, : self.n_items_] > 0).astype(np.float32)
        scores = (basket @ self.scores_).toarray()
        scores[scores <= 0] = -np.inf
        return scores

    def _item_similarity(self, item_ids: np.ndarray) -> np.ndarray:
        scores = self.scores_[item_ids].toarray()
        scores[scores <= 0] = -np.inf
        scores[np.arange(len(item_ids)), item_ids] = -np.inf
        return scores

    def explain(self, user_items_row: csr_matrix, item_ids: np.ndarray | list[int]) -> np.ndarray:
        """For each item, the basket item it goes with best (its strongest contributor), or -1."""
        self._check_fitted()
        basket = np.flatnonzero(user_items_row[:, : self.n_items_].toarray().ravel() > 0)
        if not len(basket) or not len(item_ids):
            return np.full(len(item_ids), -1, dtype=np.int64)
        parts = self.scores_[basket][:, np.asarray(item_ids)].toarray()
        best = parts.argmax(axis=0)
        return np.where(parts.max(axis=0) > 0, basket[best], -1).astype(np.int64)

    def _state(self) -> dict[str, np.ndarray]:
        return {**csr_state(self.scores_), "support": self.support_}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.scores_ = csr_from_state(arrays)
        self.support_ = arrays["support"].astype(np.float32)
