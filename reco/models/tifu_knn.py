"""TIFU-KNN (Hu et al., SIGIR 2020): next-basket recommendation from time-decayed basket vectors and the
customer's nearest neighbours; the strongest simple method in "A Next Basket Recommendation Reality
Check" (Li et al., TOIS 2023), a peer baseline for the default model.

A customer's baskets (their purchases of one day) are split, from the most recent back, into groups of
``group_size``. Within a group a basket ``i`` places back weighs ``within_decay ** i``; group ``j`` back
weighs ``group_decay ** j``; group vectors are averaged within and across groups. The customer's vector
``u`` then joins their ``k`` nearest neighbours' (cosine): ``alpha * u + (1 - alpha) * mean(neighbours)``.

The neighbour search compares every customer with every other (in blocks): fine for the harness and the
shared logs (thousands of customers), not meant for serving millions. Fitted from a matrix alone (no
dates), each customer's history is one basket.
"""

from __future__ import annotations

from typing import Self

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix, csr_matrix

from reco.exceptions import ConfigurationError
from reco.interactions.baskets import basket_lines
from reco.interactions.idmapping import IdMapping
from reco.interactions.matrix import MatrixSpec
from reco.models.base import Recommender, csr_from_state, csr_state, register

NEIGHBOUR_BLOCK = 1_024  # customers whose similarities to everyone are computed at once


@register
class TifuKnnRecommender(Recommender):
    """See the module docstring. Scores known customers from their fitted vectors; a customer the model
    was not fitted on is scored from their own row (no neighbours)."""

    name = "tifu_knn"
    supports_unknown_users = True
    scoring_params = {"all": ("alpha",), "new": ("alpha",)}  # noqa: RUF012  (a blend at scoring time)

    def __init__(self, group_size: int = 7, within_decay: float = 0.9, group_decay: float = 0.7, k: int = 300,
                 alpha: float = 0.7) -> None:
        self.group_size = group_size
        self.within_decay = within_decay
        self.group_decay = group_decay
        self.k = k
        self.alpha = alpha

    @property
    def input_spec(self) -> MatrixSpec:
        return MatrixSpec("binary")

    def fit_events(self, events: pd.DataFrame, mapping: IdMapping, now: pd.Timestamp | None = None) -> Self:
        """Baskets as (customer, day) from ``events`` before ``now``; see the module docstring."""
        matrix, _ = self.input_spec.build(events, now=now, mapping=mapping)
        self._vectors = self._basket_vectors(basket_lines(events, mapping, now), matrix.shape)
        try:
            return self.fit(matrix)
        finally:
            del self._vectors

    def _basket_vectors(self, lines: pd.DataFrame, shape: tuple[int, int]) -> csr_matrix:
        """Each customer's time-decayed basket vector from ``basket_lines`` (see the module docstring)."""
        self._check_params()
        baskets = lines[["u", "d"]].drop_duplicates().sort_values(["u", "d"])
        count = baskets.groupby("u")["d"].transform("size").to_numpy()
        position = baskets.groupby("u").cumcount().to_numpy()
        back = count - 1 - position  # 0 = the latest basket
        group = back // self.group_size
        in_group = back % self.group_size
        groups = (count - 1) // self.group_size + 1
        last_size = count - (groups - 1) * self.group_size  # the oldest group may be partial
        size = np.where(group == groups - 1, last_size, self.group_size)
        weight = (self.within_decay ** in_group) / size * (self.group_decay ** group) / groups
        baskets = baskets.assign(w=weight)
        lines = lines.merge(baskets, on=["u", "d"])
        return coo_matrix((lines["w"].to_numpy(np.float32), (lines["u"].to_numpy(), lines["i"].to_numpy())),
                          shape=shape).tocsr()

    def _check_params(self) -> None:
        self._require("positive_int", "group_size", "k")
        for name, low_open in (("within_decay", True), ("group_decay", True), ("alpha", False)):
            value = getattr(self, name)
            ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool) and (
                0 < value <= 1 if low_open else 0 <= value <= 1)
            if not ok:
                raise ConfigurationError(f"{type(self).__name__} {name}={value!r} must be in "
                                         f"{'(0, 1]' if low_open else '[0, 1]'}")

    def _fit(self, user_items: csr_matrix) -> None:
        self._check_params()
        vectors = getattr(self, "_vectors", None)
        if vectors is None:  # a matrix alone: each customer's history is one basket
            binary = (user_items > 0).astype(np.float32)
            vectors = csr_matrix(binary)
        vectors = csr_matrix(vectors, dtype=np.float32)
        norms = np.sqrt(np.asarray(vectors.multiply(vectors).sum(axis=1)).ravel())
        unit = csr_matrix(vectors.multiply(1.0 / np.maximum(norms, 1e-12)[:, None]))
        n_users = vectors.shape[0]
        k = min(int(self.k), max(n_users - 1, 0))
        rows, cols = [], []
        for start in range(0, n_users, NEIGHBOUR_BLOCK):
            stop = min(start + NEIGHBOUR_BLOCK, n_users)
            sims = (unit[start:stop] @ unit.T).toarray()
            sims[np.arange(stop - start), np.arange(start, stop)] = -np.inf  # not their own neighbour
            if k:
                top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
                rows.append(np.repeat(np.arange(start, stop), k))
                cols.append(top.ravel())
        neighbours = csr_matrix((np.full(sum(len(r) for r in rows), 1.0 / max(k, 1), dtype=np.float32),
                                 (np.concatenate(rows) if rows else np.zeros(0, int),
                                  np.concatenate(cols) if cols else np.zeros(0, int))), shape=(n_users, n_users))
        self.vectors_ = vectors
        self.neighbourhood_ = csr_matrix(neighbours @ vectors, dtype=np.float32)
        self.n_users_ = n_users
        binary = (user_items > 0).astype(np.float32).tocsc()
        item_norms = np.sqrt(np.asarray(binary.multiply(binary).sum(axis=0)).ravel())
        self.item_users_ = csr_matrix(binary.T.multiply(1.0 / np.maximum(item_norms, 1e-12)[:, None]))

    def _scores(self, user_ids: np.ndarray, user_items: csr_matrix, new_only: bool = False) -> np.ndarray:
        out = np.zeros((len(user_ids), self.vectors_.shape[1]), dtype=np.float32)
        known = user_ids >= 0
        if known.any():
            rows = user_ids[known]
            alpha = float(self.alpha)
            out[known] = alpha * self.vectors_[rows].toarray() + (1 - alpha) * self.neighbourhood_[rows].toarray()
        if (~known).any():
            out[~known] = float(self.alpha) * (user_items[np.flatnonzero(~known)] > 0).toarray()
        return out

    def _item_similarity(self, item_ids: np.ndarray) -> np.ndarray:
        return (self.item_users_[item_ids] @ self.item_users_.T).toarray().astype(np.float32)

    def _state(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {"n_users": np.asarray(self.n_users_)}
        for prefix, matrix in (("vectors", self.vectors_), ("neighbourhood", self.neighbourhood_),
                               ("items", self.item_users_)):
            out.update({f"{prefix}__{k}": v for k, v in csr_state(matrix).items()})
        return out

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        def part(prefix: str) -> csr_matrix:
            return csr_from_state({k.split("__", 1)[1]: v for k, v in arrays.items() if k.startswith(prefix + "__")})

        self.vectors_, self.neighbourhood_, self.item_users_ = part("vectors"), part("neighbourhood"), part("items")
        self.n_users_ = int(arrays["n_users"])
