"""External ids <-> dense matrix indices, decided once at the boundary and saved with every model."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from reco.atomic import write_json
from reco.exceptions import ArtifactError


class IdMapping:
    """Bidirectional mapping of customer and item ids (strings) to row and column indices."""

    def __init__(self, user_ids: Sequence[str], item_ids: Sequence[str]) -> None:
        self.user_ids = np.asarray(list(user_ids), dtype=object)
        self.item_ids = np.asarray(list(item_ids), dtype=object)
        self._user_index = {u: i for i, u in enumerate(self.user_ids)}
        self._item_index = {it: i for i, it in enumerate(self.item_ids)}
        if len(self._user_index) != len(self.user_ids) or len(self._item_index) != len(self.item_ids):
            raise ValueError("IdMapping ids must be unique")

    def for_users(self, user_ids: Sequence[str]) -> IdMapping:
        """Other customers on the same items, sharing this mapping's item index (no rebuild per request:
        at 100k items building it costs milliseconds)."""
        other = object.__new__(IdMapping)
        other.user_ids = np.asarray(list(user_ids), dtype=object)
        other._user_index = {u: i for i, u in enumerate(other.user_ids)}
        if len(other._user_index) != len(other.user_ids):
            raise ValueError("IdMapping ids must be unique")
        other.item_ids, other._item_index = self.item_ids, self._item_index
        return other

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def user_index(self, user_id: str) -> int | None:
        return self._user_index.get(user_id)

    def item_index(self, item_id: str) -> int | None:
        return self._item_index.get(item_id)

    def user_indices(self, user_ids: Iterable[str]) -> np.ndarray:
        """Indices for ``user_ids``; -1 where an id is unknown."""
        return _lookup(self._user_index, user_ids)

    def item_indices(self, item_ids: Iterable[str]) -> np.ndarray:
        """Indices for ``item_ids``; -1 where an id is unknown."""
        return _lookup(self._item_index, item_ids)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, IdMapping)
            and np.array_equal(self.user_ids, other.user_ids)
            and np.array_equal(self.item_ids, other.item_ids)
        )

    __hash__ = None  # type: ignore[assignment]

    def save(self, path: str | Path) -> None:
        """Write as JSON (ids are strings; JSON keeps them exact and needs no pickle)."""
        write_json(path, {"users": self.user_ids.tolist(), "items": self.item_ids.tolist()}, indent=None)

    @classmethod
    def load(cls, path: str | Path) -> IdMapping:
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
            return cls(data["users"], data["items"])
        except Exception as exc:  # any way a file can be damaged is one kind of error
            raise ArtifactError(f"cannot read id mapping {path}: {type(exc).__name__}: {exc}") from exc


# From this many ids on, a lookup first factorises them (pandas, in C) and looks up each distinct id once:
# building the matrices of a training run looks up millions of ids, most of them repeats.
BULK_LOOKUP = 10_000


def _lookup(index: dict[str, int], values: Iterable[str]) -> np.ndarray:
    """``index[v]`` for each of ``values``, -1 where absent."""
    if not isinstance(values, (np.ndarray, pd.Series, pd.Index, list, tuple)):
        values = list(values)
    if len(values) < BULK_LOOKUP:
        return np.fromiter((index.get(v, -1) for v in values), dtype=np.int64, count=len(values))
    codes, distinct = pd.factorize(np.asarray(values, dtype=object))
    found = np.fromiter((index.get(v, -1) for v in distinct), dtype=np.int64, count=len(distinct))
    return np.where(codes >= 0, found[codes], -1)  # a missing value (None, NaN) has code -1: unknown
