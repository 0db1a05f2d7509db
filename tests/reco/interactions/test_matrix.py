"""build_user_items weightings and the IdMapping that comes with it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reco.exceptions import ConfigurationError
from reco.interactions import IdMapping, build_user_items

EVENTS = pd.DataFrame({
    "customer_id": ["b", "a", "a", "a", "b"],
    "item_id": ["x", "x", "x", "y", "y"],
    "timestamp": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-03-31", "2024-03-31", "2024-03-31"]),
})


@pytest.mark.parametrize(("weighting", "expected"), [
    ("binary", [[1, 1], [1, 1]]),
    ("count", [[2, 1], [1, 1]]),
    ("log1p", [[np.log1p(2), np.log1p(1)], [np.log1p(1), np.log1p(1)]]),
])
def test_weightings(weighting: str, expected: list[list[float]]) -> None:
    matrix, mapping = build_user_items(EVENTS, weighting=weighting)
    assert matrix.dtype == np.float32 and matrix.format == "csr"
    assert mapping.user_ids.tolist() == ["a", "b"] and mapping.item_ids.tolist() == ["x", "y"]
    np.testing.assert_allclose(matrix.toarray(), expected, rtol=1e-6)


def test_recency_halves_weight_every_half_life() -> None:
    matrix, _ = build_user_items(EVENTS, weighting="recency", half_life_days=90, now=pd.Timestamp("2024-03-31"))
    # a bought x 90 days before 'now' (weight 0.5) and on 'now' (weight 1).
    assert matrix[0, 0] == pytest.approx(1.5)
    assert matrix[1, 0] == pytest.approx(0.5)


def test_fixed_mapping_drops_unknown_ids() -> None:
    mapping = IdMapping(["a"], ["y", "x"])
    matrix, same = build_user_items(EVENTS, weighting="binary", mapping=mapping)
    assert same is mapping and matrix.shape == (1, 2)
    assert matrix.toarray().tolist() == [[1.0, 1.0]]


def test_bad_weighting_lists_valid_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"'tfidf'.*binary, count, log1p, recency"):
        build_user_items(EVENTS, weighting="tfidf")


def test_id_mapping_round_trip_keeps_string_ids(tmp_path: Path) -> None:
    mapping = IdMapping(["007", "7"], ["0001", "A-1"])
    mapping.save(tmp_path / "ids.json")
    loaded = IdMapping.load(tmp_path / "ids.json")
    assert loaded == mapping
    assert loaded.user_index("007") == 0 and loaded.user_index("7") == 1 and loaded.user_index("x") is None
    assert loaded.item_indices(["A-1", "zzz"]).tolist() == [1, -1]
