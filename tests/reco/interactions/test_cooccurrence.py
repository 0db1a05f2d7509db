"""Time-weighted co-occurrence: the stated definition, computed in chunks, and clear refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reco.exceptions import ConfigurationError
from reco.interactions import IdMapping, build_user_items
from reco.interactions import cooccurrence as co
from reco.interactions.cooccurrence import session_cooccurrence

T0 = pd.Timestamp("2024-03-01 09:00")


def _events(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    """(customer, item, minutes after T0) rows."""
    return pd.DataFrame({"customer_id": [r[0] for r in rows], "item_id": [r[1] for r in rows],
                         "timestamp": [T0 + pd.Timedelta(minutes=r[2]) for r in rows]})


def _random_events(seed: int = 0, n: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "customer_id": rng.integers(0, 25, n).astype(str),
        "item_id": rng.integers(0, 12, n).astype(str),
        "timestamp": T0 + pd.to_timedelta(rng.integers(0, 6 * 3600, n), unit="s"),
    })


def _mapping(events: pd.DataFrame) -> IdMapping:
    return IdMapping(np.sort(events["customer_id"].unique()), np.sort(events["item_id"].unique()))


def _brute_force(events: pd.DataFrame, mapping: IdMapping, minutes: float) -> np.ndarray:
    """Per customer and item pair, the largest exp(-gap / timescale) over their purchases; summed."""
    n = mapping.n_items
    total = np.zeros((n, n))
    for _, frame in events.groupby("customer_id"):
        items = mapping.item_indices(frame["item_id"])
        seconds = frame["timestamp"].astype("int64").to_numpy() / 1e9
        best = np.zeros((n, n))
        for a in range(len(items)):
            for b in range(len(items)):
                gap = abs(seconds[a] - seconds[b])
                weight = 1.0 if items[a] == items[b] else np.exp(-gap / (60 * minutes))
                if gap > co.HORIZON_TIMESCALES * 60 * minutes and items[a] != items[b]:
                    weight = 0.0
                best[items[a], items[b]] = max(best[items[a], items[b]], weight)
        total += best
    return total


def test_matches_the_definition_with_repeat_purchases() -> None:
    events = _random_events()
    mapping = _mapping(events)
    got = session_cooccurrence(events, mapping, timescale_minutes=30).toarray()
    np.testing.assert_allclose(got, _brute_force(events, mapping, 30), atol=1e-12)


def test_same_basket_counts_one_far_apart_almost_nothing_and_each_customer_once() -> None:
    events = _events([("c1", "milk", 0), ("c1", "bread", 0), ("c1", "milk", 60 * 24 * 7), ("c1", "bread", 60 * 24 * 7),
                      ("c2", "milk", 0), ("c2", "jam", 10), ("c3", "milk", 0), ("c3", "jam", 60 * 24 * 30)])
    mapping = _mapping(events)
    got = pd.DataFrame(session_cooccurrence(events, mapping, timescale_minutes=10).toarray(),
                       index=mapping.item_ids, columns=mapping.item_ids)
    assert got.loc["milk", "bread"] == got.loc["bread", "milk"] == 1.0  # two shared baskets, one customer
    assert got.loc["milk", "jam"] == pytest.approx(np.exp(-1.0))  # c2 ten minutes apart, c3 a month apart
    assert got.loc["milk", "milk"] == 3.0 and got.loc["jam", "jam"] == 2.0  # buyers per item


def test_never_exceeds_the_binary_gram_and_is_symmetric() -> None:
    events = _random_events(seed=3)
    mapping = _mapping(events)
    got = session_cooccurrence(events, mapping, timescale_minutes=120).toarray()
    binary, _ = build_user_items(events, weighting="binary", mapping=mapping)
    gram = (binary.T @ binary).toarray()
    np.testing.assert_array_equal(got, got.T)
    np.testing.assert_array_equal(np.diag(got), np.diag(gram))
    assert np.all(got <= gram + 1e-12)


def test_chunked_expansion_gives_the_same_matrix(monkeypatch: pytest.MonkeyPatch) -> None:
    events = _random_events(seed=5)
    mapping = _mapping(events)
    whole = session_cooccurrence(events, mapping, timescale_minutes=60).toarray()
    monkeypatch.setattr(co, "PAIRS_PER_CHUNK", 50)
    np.testing.assert_allclose(session_cooccurrence(events, mapping, timescale_minutes=60).toarray(), whole,
                               atol=1e-12)


def test_unknown_ids_and_events_after_now_are_left_out() -> None:
    events = _events([("c1", "a", 0), ("c1", "b", 1), ("c1", "c", 2), ("c9", "a", 0), ("c9", "b", 0)])
    mapping = IdMapping(np.array(["c1"]), np.array(["a", "b"]))
    got = session_cooccurrence(events, mapping, timescale_minutes=10).toarray()
    np.testing.assert_allclose(got, [[1.0, np.exp(-0.1)], [np.exp(-0.1), 1.0]])
    early = session_cooccurrence(events, mapping, timescale_minutes=10, now=T0).toarray()
    np.testing.assert_array_equal(early, [[1.0, 0.0], [0.0, 0.0]])


def test_no_usable_events_give_an_empty_matrix() -> None:
    events = _events([("c9", "z", 0)])
    got = session_cooccurrence(events, IdMapping(np.array(["c1"]), np.array(["a", "b"])), timescale_minutes=10)
    assert got.shape == (2, 2) and got.nnz == 0


@pytest.mark.parametrize("minutes", [0, -5.0, float("nan"), "ten"])
def test_a_bad_timescale_is_refused_with_its_value(minutes: object) -> None:
    events = _events([("c1", "a", 0)])
    with pytest.raises(ConfigurationError, match=rf"timescale_minutes must be a positive number, got {minutes!r}"):
        session_cooccurrence(events, _mapping(events), timescale_minutes=minutes)  # type: ignore[arg-type]


def test_missing_columns_are_named() -> None:
    events = _events([("c1", "a", 0)]).drop(columns="timestamp")
    with pytest.raises(ConfigurationError, match=r"events lack column\(s\) \['timestamp'\]"):
        session_cooccurrence(events, _mapping(events), timescale_minutes=10)
