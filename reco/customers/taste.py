"""A customer's product mix as a few numbers, for the churn model: what someone buys says who they are.

Each customer is the set of items they bought, TF-IDF weighted (rare items say more than best-sellers)
and scaled to unit length, then projected on item factors from a truncated SVD. The factors are learnt
once, so features built at different cutoffs (each from the purchases before it) share one space and
can be stacked. Items the factors have not seen are ignored; a customer with none of them gets zeros.
Data without item ids (or with too few to factor) gives zeros throughout. Saved as npz + json, without pickle.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Self

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfTransformer

from reco.atomic import write_json, write_with
from reco.exceptions import ArtifactError, ConfigurationError, InputError, NotFittedError


def taste_columns(n_components: int) -> list[str]:
    """The feature names of an embedding with ``n_components`` components."""
    return [f"taste_{i}" for i in range(int(n_components))]


class TasteEmbedding:
    """Unit-length TF-IDF bought-item vectors projected on ``n_components`` SVD item factors."""

    def __init__(self, n_components: int = 16, random_state: int = 42) -> None:
        self.n_components = n_components
        self.random_state = random_state

    def _validate(self) -> None:
        if not (isinstance(self.n_components, int) and self.n_components >= 1):
            raise ConfigurationError(f"n_components must be an integer >= 1, got {self.n_components!r}")

    @staticmethod
    def _pairs(purchases: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in ("customer_id", "item_id") if c not in purchases.columns]
        if missing:
            raise InputError(f"missing column(s) {missing}; have {list(purchases.columns)}", source="purchases")
        pairs = purchases.loc[purchases["item_id"].notna(), ["customer_id", "item_id"]]
        return pd.DataFrame({"customer_id": pairs["customer_id"].astype(str).to_numpy(),
                             "item_id": pairs["item_id"].astype(str).to_numpy()})

    def _matrix(self, pairs: pd.DataFrame, customers: pd.Index, items: pd.Index) -> sp.csr_matrix:
        """Binary customer x item matrix (rows ``customers``); unknown customers and items are dropped."""
        rows = customers.get_indexer(pairs["customer_id"])
        cols = items.get_indexer(pairs["item_id"])
        keep = (rows >= 0) & (cols >= 0)
        m = sp.csr_matrix((np.ones(int(keep.sum()), dtype=np.float64), (rows[keep], cols[keep])),
                          shape=(len(customers), len(items)))
        m.sum_duplicates()
        m.data[:] = 1.0
        return m

    def fit(self, purchases: pd.DataFrame) -> Self:
        """Learn IDF weights and item factors from purchase rows (customer_id, item_id)."""
        self._validate()
        pairs = self._pairs(purchases)
        customers = pd.Index(pd.unique(pairs["customer_id"]))
        self.items_ = pd.Index(pd.unique(pairs["item_id"]))
        self.idf_ = np.ones(len(self.items_))
        self.components_ = np.zeros((self.n_components, len(self.items_)))
        rank = min(self.n_components, len(self.items_) - 1, len(customers) - 1)
        if rank >= 1:  # else (no items, or too few to factor) every customer gets zeros: the columns are inert
            m = self._matrix(pairs, customers, self.items_)
            tfidf = TfidfTransformer().fit(m)
            self.idf_ = np.asarray(tfidf.idf_, dtype=np.float64)
            svd = TruncatedSVD(rank, random_state=self.random_state).fit(tfidf.transform(m))
            self.components_[:rank] = svd.components_
        return self

    def transform(self, purchases: pd.DataFrame, customers: pd.Index) -> pd.DataFrame:
        """``taste_columns`` per customer in ``customers`` (index ``customer_id``), from ``purchases``."""
        if not hasattr(self, "components_"):
            raise NotFittedError("this TasteEmbedding is not fitted yet; call fit (or load) first")
        customers = pd.Index(customers.astype(str), name="customer_id")
        m = self._matrix(self._pairs(purchases), customers, self.items_).multiply(self.idf_).tocsr()
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
        m = sp.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ m
        return pd.DataFrame(np.asarray(m @ self.components_.T), index=customers,
                            columns=taste_columns(self.n_components))

    def save(self, path: str | Path) -> None:
        """``path/taste.npz`` (IDF, factors) and ``path/taste.json`` (parameters, item ids)."""
        if not hasattr(self, "components_"):
            raise NotFittedError("this TasteEmbedding is not fitted yet; call fit first")
        path = Path(path)

        def arrays(tmp: Path) -> None:
            with tmp.open("wb") as fh:  # a file object, so numpy does not append ".npz" to the temp name
                np.savez(fh, idf=self.idf_, components=self.components_)

        write_with(path / "taste.npz", arrays)
        write_json(path / "taste.json", {"n_components": self.n_components, "random_state": self.random_state,
                                         "items": list(self.items_)}, indent=None)

    @classmethod
    def load(cls, path: str | Path) -> TasteEmbedding:
        path = Path(path)
        try:
            meta = json.loads((path / "taste.json").read_text(encoding="utf-8"))
            with np.load(path / "taste.npz") as arrays:
                idf, components = arrays["idf"], arrays["components"]
        except (OSError, ValueError, KeyError) as exc:
            raise ArtifactError(f"cannot read the product-mix embedding at {path}: {exc}") from exc
        model = cls(n_components=meta["n_components"], random_state=meta["random_state"])
        model.items_ = pd.Index(meta["items"], dtype=object)
        if components.shape != (model.n_components, len(model.items_)) or idf.shape != (len(model.items_),):
            raise ArtifactError(f"product-mix embedding at {path} is inconsistent: factors {components.shape}, "
                                f"{len(model.items_)} items, {model.n_components} components")
        model.idf_, model.components_ = idf, components
        return model
