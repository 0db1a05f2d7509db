"""The one base class every recommender shares (the implicit API, with scikit-learn conventions).

``fit(user_items)`` returns self; ``recommend(user_ids, user_items, n)`` returns ``(ids, scores)``,
2-D for a batch of users and 1-D for one; ``similar_items``; ``save``/``load`` as npz + json, no pickle.
Learned attributes end in ``_``; calling anything that needs them before fit raises NotFittedError.
"""

from __future__ import annotations

import json
import os
import shutil
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix, issparse

from reco.exceptions import ArtifactError, ConfigurationError, NotFittedError
from reco.interactions.idmapping import IdMapping
from reco.interactions.matrix import MatrixSpec

FORMAT_VERSION = 1
_REGISTRY: dict[str, type[Recommender]] = {}
# Rows of dense scores computed at once in batched recommend: bounds memory to ~80 MB of float32.
SCORE_BLOCK_CELLS = 20_000_000
# Users per batch in recommend when a model scores candidates only (``_candidate_scores``).
CANDIDATE_BLOCK_USERS = 2_048


def register(cls: type[Recommender]) -> type[Recommender]:
    """Class decorator: make a recommender loadable by its ``name``."""
    _REGISTRY[cls.name] = cls
    return cls


def model_classes() -> dict[str, type[Recommender]]:
    return dict(_REGISTRY)


class Recommender(ABC):
    """Base class: validation, batching, filtering, top-n selection and persistence."""

    name: ClassVar[str] = "base"
    supports_unknown_users: ClassVar[bool] = False
    # False for models that only ever re-rank what the customer already bought (buy-again).
    discovers_new_items: ClassVar[bool] = True
    # Hyperparameters that change scoring only (no refit), per task they act on; tuning uses this.
    scoring_params: ClassVar[dict[str, tuple[str, ...]]] = {}

    @property
    def input_spec(self) -> MatrixSpec:
        """How to build the user_items this model is fitted on and scores users from."""
        return MatrixSpec()

    # ---------------------------------------------------------------- hyperparameters
    def get_params(self) -> dict[str, Any]:
        """Hyperparameters as given to ``__init__`` (scikit-learn style)."""
        import inspect

        sig = inspect.signature(type(self).__init__)
        return {p: getattr(self, p) for p in sig.parameters if p != "self"}

    def set_params(self, **params: Any) -> Self:
        """Change hyperparameters (scikit-learn style); unknown names are refused, listing valid ones."""
        valid = self.get_params()
        for key, value in params.items():
            if key not in valid:
                raise ConfigurationError(f"{type(self).__name__} has no parameter {key!r}; valid: {', '.join(valid)}")
            setattr(self, key, value)
        return self

    # ---------------------------------------------------------------- learning
    def fit(self, user_items: csr_matrix) -> Self:
        user_items = self._check_matrix(user_items)
        blocks = self.input_spec.n_blocks
        if user_items.shape[1] % blocks:
            raise ConfigurationError(
                f"user_items has {user_items.shape[1]} columns; this {type(self).__name__} reads {blocks} "
                f"blocks of items ({', '.join(('weights', *self.input_spec.channels))}), so a multiple of {blocks}"
            )
        self._fit(user_items)
        self.n_items_ = user_items.shape[1] // blocks
        return self

    def fit_events(self, events: pd.DataFrame, mapping: IdMapping, now: pd.Timestamp | None = None) -> Self:
        """Fit on purchase events (customer_id, item_id, timestamp) as of ``now``, in ``mapping``'s space.

        The default builds the matrix ``input_spec`` describes and calls ``fit``; models that use more
        of the events than one matrix carries override it.
        """
        matrix, _ = self.input_spec.build(events, now=now, mapping=mapping)
        return self.fit(matrix)

    def unlearned_parts(self) -> dict[str, str]:
        """The learned parts the last ``fit_events`` could not train from the data (part -> why in plain
        words); empty when every part learned. The train job never promotes a version with any."""
        return dict(getattr(self, "unlearned_", {}))

    @abstractmethod
    def _fit(self, user_items: csr_matrix) -> None: ...

    @abstractmethod
    def _scores(self, user_ids: np.ndarray, user_items: csr_matrix, new_only: bool = False) -> np.ndarray:
        """Dense (len(user_ids), n_items) float32 scores; user id -1 means not seen in training.

        ``new_only`` says the caller will drop the user's own items, so a model may score for discovery.
        A writeable array is modified in place by the caller: return a fresh one, or a read-only view.
        """

    def _candidate_scores(
        self, user_ids: np.ndarray, user_items: csr_matrix, new_only: bool = False
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Optional shortcut for large catalogues: a few scored candidates per user instead of dense scores.

        Returns keys ``row * n_items + item`` and their scores, equal to ``_scores`` on those pairs, where
        every item that is not a candidate of a row scores below all of that row's candidates. ``recommend``
        then ranks the candidates and scores densely only the rows left with fewer than ``n``. None (the
        default): no shortcut, always dense.
        """
        return None

    @abstractmethod
    def _item_similarity(self, item_ids: np.ndarray) -> np.ndarray:
        """Dense (len(item_ids), n_items) similarity of each item to every item (fresh or read-only, as above)."""

    def purchased(self, user_items: csr_matrix) -> csr_matrix:
        """The weights block of ``user_items`` (n_items columns): its pattern is what each customer bought."""
        if user_items.shape[1] == self.n_items_:
            return user_items
        return user_items[:, : self.n_items_]

    def explain(self, user_items_row: csr_matrix, item_ids: Sequence[int]) -> np.ndarray:
        """For each recommended item, the purchased item (index) that contributed most, or -1."""
        self._check_fitted()
        return np.full(len(item_ids), -1, dtype=np.int64)

    # ---------------------------------------------------------------- recommend
    def recommend(
        self,
        user_ids: int | Sequence[int] | np.ndarray,
        user_items: csr_matrix,
        n: int = 10,
        filter_already_purchased: bool = True,
        filter_items: Sequence[int] | np.ndarray | None = None,
        items: Sequence[int] | np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` item indices and scores for each user.

        ``user_items`` holds one row per user in ``user_ids`` (their current history); with
        ``filter_already_purchased`` those items are never returned. ``filter_items`` are never
        returned either; ``items`` restricts candidates to that set. A user id of -1 is a customer
        the model was not trained on: models that can (``supports_unknown_users``) score them from
        their row. Rows with fewer than ``n`` candidates are padded with id -1 and score -inf.
        """
        self._check_fitted()
        single = np.isscalar(user_ids)
        ids = np.atleast_1d(np.asarray(user_ids, dtype=np.int64))
        self._check_n(n)
        user_items = self._check_matrix(user_items, allow_empty=True)
        width = self.n_items_ * self.input_spec.n_blocks
        if user_items.shape != (len(ids), width):
            raise ConfigurationError(
                f"user_items has shape {user_items.shape}; expected one row per user and the model's "
                f"{self.n_items_} items x {self.input_spec.n_blocks} block(s) (input_spec): ({len(ids)}, {width})"
            )
        n_users = getattr(self, "n_users_", None)
        if n_users is not None and ((ids >= n_users) | (ids < -1)).any():
            bad = ids[(ids >= n_users) | (ids < -1)][0]
            raise ConfigurationError(f"user id {int(bad)} is out of range [-1, {n_users - 1}]")
        allowed = None
        if items is not None:
            allowed = np.zeros(self.n_items_, dtype=bool)
            allowed[self._check_item_ids(items)] = True
        blocked = None
        if filter_items is not None and len(filter_items):
            blocked = self._check_item_ids(filter_items)
        k = min(n, self.n_items_)
        out_ids = np.full((len(ids), k), -1, dtype=np.int64)
        out_scores = np.full((len(ids), k), -np.inf, dtype=np.float32)
        dense_block = max(1, SCORE_BLOCK_CELLS // max(self.n_items_, 1))
        block = max(dense_block, CANDIDATE_BLOCK_USERS)
        for start in range(0, len(ids), block):
            stop = min(start + block, len(ids))
            part_ids, part_items = ids[start:stop], user_items[start:stop]
            dense_rows = np.arange(stop - start)
            candidates = self._candidate_scores(part_ids, part_items, filter_already_purchased)
            if candidates is not None:
                done = self._top_from_candidates(candidates, part_items, k, filter_already_purchased, blocked,
                                                 allowed, out_ids[start:stop], out_scores[start:stop])
                dense_rows = np.flatnonzero(~done)
            for first in range(0, len(dense_rows), dense_block):
                rows = dense_rows[first:first + dense_block]
                top, top_scores = self._top_dense(part_ids[rows], part_items[rows], k, filter_already_purchased,
                                                  blocked, allowed)
                out_ids[start + rows] = top
                out_scores[start + rows] = top_scores
        if single:
            return out_ids[0], out_scores[0]
        return out_ids, out_scores

    def _top_dense(
        self, ids: np.ndarray, user_items: csr_matrix, k: int, filter_purchased: bool,
        blocked: np.ndarray | None, allowed: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        scores = _writable(self._scores(ids, user_items, filter_purchased))
        if filter_purchased:
            rows = self.purchased(user_items).tocoo()
            scores[rows.row, rows.col] = -np.inf
        if blocked is not None:
            scores[:, blocked] = -np.inf
        if allowed is not None:
            scores[:, ~allowed] = -np.inf
        top = _top_k(scores, k)
        top_scores = np.take_along_axis(scores, top, axis=1)
        valid = np.isfinite(top_scores)
        return np.where(valid, top, -1), np.where(valid, top_scores, -np.inf).astype(np.float32)

    def _top_from_candidates(
        self, candidates: tuple[np.ndarray, np.ndarray], user_items: csr_matrix, k: int, filter_purchased: bool,
        blocked: np.ndarray | None, allowed: np.ndarray | None, out_ids: np.ndarray, out_scores: np.ndarray,
    ) -> np.ndarray:
        """Fill the rows whose filtered candidates number at least k; returns which rows were filled."""
        keys, scores = np.asarray(candidates[0], dtype=np.int64), np.asarray(candidates[1], dtype=np.float32)
        n_items = self.n_items_
        items = keys % n_items
        keep = np.isfinite(scores)
        if filter_purchased:
            bought = self.purchased(user_items).tocoo()
            keep &= ~np.isin(keys, bought.row.astype(np.int64) * n_items + bought.col)
        if blocked is not None:
            keep &= ~np.isin(items, blocked)
        if allowed is not None:
            keep &= allowed[items]
        keys, scores = keys[keep], scores[keep]
        rows = keys // n_items
        done = np.bincount(rows, minlength=user_items.shape[0]) >= k
        pick = done[rows]
        keys, scores, rows = keys[pick], scores[pick], rows[pick]
        order, rank = rank_within_rows(rows, keys % n_items, scores)
        first_k = order[rank < k]
        out_ids[rows[first_k], rank[rank < k]] = keys[first_k] % n_items
        out_scores[rows[first_k], rank[rank < k]] = scores[first_k]
        return done

    def similar_items(
        self, item_ids: int | Sequence[int] | np.ndarray, n: int = 10
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` items most similar to each item (never the item itself)."""
        self._check_fitted()
        single = np.isscalar(item_ids)
        ids = self._check_item_ids(np.atleast_1d(np.asarray(item_ids)))
        self._check_n(n)
        sims = _writable(self._item_similarity(ids))
        sims[np.arange(len(ids)), ids] = -np.inf
        k = min(n, max(self.n_items_ - 1, 1))
        top = _top_k(sims, k)
        scores = np.take_along_axis(sims, top, axis=1)
        top = np.where(np.isfinite(scores), top, -1)
        if single:
            return top[0], scores[0]
        return top, scores

    # ---------------------------------------------------------------- persistence
    @abstractmethod
    def _state(self) -> dict[str, np.ndarray]: ...

    @abstractmethod
    def _set_state(self, arrays: dict[str, np.ndarray]) -> None: ...

    def _save_files(self, directory: Path) -> None:  # noqa: B027 (optional hook: most models have none)
        """Write learned parts that are not arrays (e.g. a scikit-learn estimator) into ``directory``."""

    def _load_files(self, directory: Path) -> None:  # noqa: B027 (optional hook)
        """Read what ``_save_files`` wrote, after ``_set_state``."""

    def save(self, path: str | Path) -> None:
        """Write ``path/`` with ``model.json`` (class, hyperparameters) and ``model.npz`` (learned arrays)."""
        self._check_fitted()
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        np.savez(tmp / "model.npz", **self._state())
        self._save_files(tmp)
        meta = {"format_version": FORMAT_VERSION, "model": self.name, "params": self.get_params(),
                "n_items": int(self.n_items_)}
        with open(tmp / "model.json", "w", encoding="utf-8") as fh:
            json.dump(meta, fh, indent=2, default=_json_default)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | Path) -> Recommender:
        """Load any saved recommender; called on a subclass, the saved model must be of that class."""
        path = Path(path)
        try:
            with open(path / "model.json", encoding="utf-8") as fh:
                meta = json.load(fh)
            with np.load(path / "model.npz", allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except Exception as exc:  # truncated or empty files fail in many ways (BadZipFile, EOFError, zlib): one kind
            raise ArtifactError(f"cannot read model at {path}: {type(exc).__name__}: {exc}") from exc
        if meta.get("format_version") != FORMAT_VERSION:
            raise ArtifactError(f"model at {path} has format {meta.get('format_version')!r}; "
                                f"this reco reads format {FORMAT_VERSION}")
        target = _REGISTRY.get(meta.get("model", ""))
        if target is None:
            raise ArtifactError(f"model at {path} is of unknown kind {meta.get('model')!r}; "
                                f"known: {', '.join(sorted(_REGISTRY))}")
        if cls is not Recommender and not issubclass(target, cls):
            raise ArtifactError(f"model at {path} is a {target.__name__}, not a {cls.__name__}")
        try:
            model = target(**meta["params"])
            model._set_state(arrays)
            model._load_files(path)
        except Exception as exc:  # e.g. a truncated classifier.joblib: EOFError, UnpicklingError, ...
            raise ArtifactError(f"model at {path} is incomplete or corrupt: {exc!r}") from exc
        model.n_items_ = int(meta["n_items"])
        return model

    # ---------------------------------------------------------------- checks
    def _require(self, kind: str, *names: str) -> None:
        """Check hyperparameters: kind 'positive_int', 'positive' or 'non_negative'; the error repeats the value."""
        for name in names:
            value = getattr(self, name)
            number = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
            ok = {
                "positive_int": isinstance(value, int | np.integer) and not isinstance(value, bool) and value >= 1,
                "positive": number and value > 0,
                "non_negative": number and value >= 0,
            }[kind]
            if not ok:
                wanted = {"positive_int": "a positive integer", "positive": "a positive number",
                          "non_negative": "a non-negative number"}[kind]
                raise ConfigurationError(f"{name} must be {wanted}, got {value!r}")

    def _check_n(self, n: object) -> None:
        if not isinstance(n, int | np.integer) or isinstance(n, bool) or n < 1:
            raise ConfigurationError(f"n must be a positive integer, got {n!r}")

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_items_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit() or load() before using it"
            )

    def _check_matrix(self, user_items: Any, allow_empty: bool = False) -> csr_matrix:
        if not issparse(user_items):
            raise ConfigurationError(
                f"user_items must be a scipy.sparse csr_matrix, got {type(user_items).__name__}"
            )
        user_items = csr_matrix(user_items, dtype=np.float32)
        if not allow_empty and (user_items.shape[0] == 0 or user_items.shape[1] == 0 or user_items.nnz == 0):
            raise ConfigurationError(f"user_items {user_items.shape} has no interactions to learn from")
        if user_items.nnz and (not np.isfinite(user_items.data).all() or (user_items.data < 0).any()):
            raise ConfigurationError("user_items must hold finite, non-negative weights")
        return user_items

    def _check_item_ids(self, item_ids: Sequence[int] | np.ndarray) -> np.ndarray:
        ids = np.asarray(item_ids)
        if ids.size and (ids.dtype.kind not in "iu" or (ids < 0).any() or (ids >= self.n_items_).any()):
            bad = next(i for i in ids.tolist() if not isinstance(i, int) or not 0 <= i < self.n_items_)
            raise ConfigurationError(f"item id {bad!r} is out of range [0, {self.n_items_ - 1}]")
        return ids.astype(np.int64)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"


def _writable(values: np.ndarray) -> np.ndarray:
    """float32 scores the caller may change: read-only views (broadcasts) are copied, fresh arrays are not."""
    values = np.asarray(values, dtype=np.float32)
    return values if values.flags.writeable else values.copy()


def csr_state(matrix: csr_matrix) -> dict[str, np.ndarray]:
    """A sparse matrix as plain arrays for ``model.npz`` (no pickle)."""
    return {"data": matrix.data, "indices": matrix.indices, "indptr": matrix.indptr, "shape": np.asarray(matrix.shape)}


def csr_from_state(arrays: dict[str, np.ndarray]) -> csr_matrix:
    return csr_matrix((arrays["data"], arrays["indices"], arrays["indptr"]),
                      shape=tuple(int(x) for x in arrays["shape"]))


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the k largest scores per row, best first."""
    if k >= scores.shape[1]:
        part = np.tile(np.arange(scores.shape[1]), (scores.shape[0], 1))
    else:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in model.json")


def rank_within_rows(rows: np.ndarray, cols: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Entries ordered by row, then best score first (ties by column), and each one's rank within its row
    in that order: the top-k of many rows' candidates at once (``order[rank < k]``)."""
    order = np.lexsort((cols, -scores, rows))
    ranked = rows[order]
    return order, np.arange(len(order)) - np.searchsorted(ranked, ranked)
