"""build_user_items weightings and the IdMapping that comes with it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reco.exceptions import ConfigurationError
from reco.interactions import IdMapping, MatrixSpec, build_user_items
from reco.interactions.matrix import CHANNELS
from tests.factories import make_purchases

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


def test_channels_summarise_each_pair_in_aligned_blocks() -> None:
    events = pd.DataFrame({
        "customer_id": ["a", "a", "a", "a", "b", "b"],
        "item_id": ["x", "y", "x", "x", "y", "z"],
        # a buys x twice on Jan 10 (one day) and once on Jan 1: 2 distinct days.
        "timestamp": pd.to_datetime(["2024-01-01", "2024-01-05", "2024-01-10 08:00", "2024-01-10 09:00",
                                     "2024-01-02", "2024-01-03"], format="ISO8601"),
    })
    spec = MatrixSpec("count", channels=("days", "last", "first"))
    matrix, mapping = spec.build(events, now=pd.Timestamp("2024-01-11"))
    assert spec.n_blocks == 4 and matrix.shape == (2, 3 * 4)
    dense = matrix.toarray().reshape(2, 4, 3)  # customer, block, item
    x, y, z = (mapping.item_index(i) for i in "xyz")
    a, b = mapping.user_index("a"), mapping.user_index("b")
    assert dense[a, 0, x] == 3 and dense[a, 1, x] == 2  # 3 purchases on 2 distinct days
    assert dense[a, 2, x] == 0 + 1 and dense[a, 3, x] == 10 + 1  # last 0.6 days ago (whole days: 0), first 10
    assert dense[b, 2, z] == 8 + 1 and dense[b, 3, y] == 9 + 1
    for block in range(4):  # every block has exactly the pattern of the weights
        np.testing.assert_array_equal(dense[:, block] > 0, dense[:, 0] > 0)
    assert spec.to_dict()["channels"] == ["days", "last", "first"]


def test_visit_channels_count_recency_in_the_customers_own_shopping_days() -> None:
    events = pd.DataFrame({
        "customer_id": ["a", "a", "a", "a", "a", "b"],
        "item_id": ["x", "y", "x", "y", "z", "x"],
        # a shops on Jan 1 (x), Jan 5 (y), Jan 8 (x, y) and Jan 10 (z): four visits; b once.
        "timestamp": pd.to_datetime(["2024-01-01", "2024-01-05", "2024-01-08 08:00", "2024-01-08 09:00", "2024-01-10",
                                     "2024-01-03"], format="ISO8601"),
    })
    spec = MatrixSpec("count", channels=("visits", "visits_since", "visit_decayed"))
    matrix, mapping = spec.build(events, now=pd.Timestamp("2024-01-11"))
    dense = matrix.toarray().reshape(2, 4, 3)
    x, y, z = (mapping.item_index(i) for i in "xyz")
    a, b = mapping.user_index("a"), mapping.user_index("b")
    assert dense[a, 1, x] == dense[a, 1, z] == 4 and dense[b, 1, x] == 1  # visits, on every pair of the row
    assert dense[a, 2, z] == 0 + 1 and dense[a, 2, x] == 1 + 1 and dense[b, 2, x] == 1  # visits since + 1
    # x was in visits ranked 1 (Jan 8) and 3 (Jan 1), y in 1 and 2, z in 0 (the latest).
    np.testing.assert_allclose(dense[a, 3, [x, y, z]], [0.9 + 0.9 ** 3, 0.9 + 0.9 ** 2, 1.0], rtol=1e-6)


def test_old_purchases_never_decay_out_of_the_pattern() -> None:
    events = pd.DataFrame({"customer_id": ["a", "a"], "item_id": ["x", "y"],
                           "timestamp": pd.to_datetime(["2000-01-01", "2024-01-01"])})
    matrix, _ = build_user_items(events, weighting="recency", half_life_days=1.0, now=pd.Timestamp("2024-01-02"))
    assert matrix.nnz == 2 and matrix.data.min() > 0  # 0.5 ** 8766 underflows, yet x still counts as bought


def test_unknown_channel_lists_valid_ones() -> None:
    events = pd.DataFrame({"customer_id": ["a"], "item_id": ["x"], "timestamp": [pd.Timestamp("2024-01-01")]})
    with pytest.raises(ConfigurationError, match=r"\['colour'\] are not valid; valid: days, last, first, visits"):
        build_user_items(events, channels=("colour",))


@pytest.mark.parametrize("spec", [
    MatrixSpec("binary"), MatrixSpec("log1p"), MatrixSpec("count"),
    MatrixSpec("recency", half_life_days=30.0, channels=("days", "last", "first")),
    MatrixSpec("recency", half_life_days=30.0, channels=CHANNELS),
])
def test_one_customer_row_equals_that_customers_row_of_the_full_build(spec: MatrixSpec) -> None:
    """The serving path (numpy, one customer) and the batch path (pandas, everyone) agree exactly."""
    events = make_purchases(n_customers=12, n_items=15)
    now = pd.Timestamp(events["timestamp"].max()) + pd.Timedelta(days=3)
    matrix, mapping = spec.build(events, now=now, window=False)
    for customer in ("C000", "C007"):
        mine = events[events["customer_id"] == customer]
        ages = (now - pd.to_datetime(mine["timestamp"])) / pd.Timedelta(days=1)
        items = np.r_[mapping.item_indices(mine["item_id"]), -1]  # an item the model does not know: left out
        row = spec.row(items, np.r_[ages.to_numpy(), 1.0], mapping.n_items)
        expected = matrix[mapping.user_index(customer)]
        assert row.shape == expected.shape
        np.testing.assert_array_equal(row.indices, expected.indices)
        np.testing.assert_allclose(row.data, expected.data, rtol=1e-6)
