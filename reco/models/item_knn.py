"""Item-based nearest neighbours (implicit's cosine and BM25 item-item similarity)."""

from __future__ import annotations

import warnings

import numpy as np
from implicit.nearest_neighbours import BM25Recommender, CosineRecommender
from implicit.utils import ParameterWarning
from scipy.sparse import csr_matrix

from reco.exceptions import ConfigurationError
from reco.interactions.matrix import MatrixSpec
from reco.models.base import Recommender, csr_from_state, csr_state, register

SIMILARITIES: tuple[str, ...] = ("bm25", "cosine")


@register
class ItemKNNRecommender(Recommender):
    """Score of an item = sum over the customer's items of weight x similarity (top ``neighbours`` kept)."""

    name = "item_knn"
    supports_unknown_users = True

    def __init__(self, similarity: str = "bm25", neighbours: int = 100, k1: float = 1.2, b: float = 0.75) -> None:
        self.similarity = similarity
        self.neighbours = neighbours
        self.k1 = k1
        self.b = b

    @property
    def input_spec(self) -> MatrixSpec:
        return MatrixSpec("log1p")

    def _fit(self, user_items: csr_matrix) -> None:
        if self.similarity not in SIMILARITIES:
            raise ConfigurationError(f"similarity {self.similarity!r} is not valid; valid: {', '.join(SIMILARITIES)}")
        self._require("positive_int", "neighbours")
        self.similarity_ = item_similarity(user_items, self.similarity, self.neighbours, self.k1, self.b)

    def _scores(self, user_ids: np.ndarray, user_items: csr_matrix, new_only: bool = False) -> np.ndarray:
        return np.asarray((user_items @ self.similarity_).todense(), dtype=np.float32)

    def _item_similarity(self, item_ids: np.ndarray) -> np.ndarray:
        sims = np.asarray(self.similarity_[item_ids].todense(), dtype=np.float32)
        sims[sims <= 0] = -np.inf
        return sims

    def explain(self, user_items_row: csr_matrix, item_ids: np.ndarray | list[int]) -> np.ndarray:
        """The bought item whose similarity contributed most to each recommended item."""
        self._check_fitted()
        item_ids = np.asarray(item_ids, dtype=np.int64)
        history = user_items_row.indices
        if not len(history) or not len(item_ids):
            return np.full(len(item_ids), -1, dtype=np.int64)
        contrib = np.asarray(self.similarity_[history][:, item_ids].todense()) * user_items_row.data[:, None]
        best = np.argmax(contrib, axis=0)
        return np.where(contrib.max(axis=0) > 0, history[best], -1).astype(np.int64)

    def _state(self) -> dict[str, np.ndarray]:
        return csr_state(self.similarity_)

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.similarity_ = csr_from_state(arrays)


def item_similarity(user_items: csr_matrix, similarity: str = "cosine", neighbours: int = 100, k1: float = 1.2,
                    b: float = 0.75) -> csr_matrix:
    """Item-to-item similarity of co-purchase (implicit's all-pairs kNN), the ``neighbours`` nearest kept."""
    model = (BM25Recommender(K=neighbours, K1=k1, B=b, num_threads=1)
             if similarity == "bm25" else CosineRecommender(K=neighbours, num_threads=1))
    with warnings.catch_warnings():  # implicit converts its own normalised COO matrix and warns about it
        warnings.simplefilter("ignore", ParameterWarning)
        model.fit(user_items, show_progress=False)
    return csr_matrix(model.similarity, dtype=np.float32)
