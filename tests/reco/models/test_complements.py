"""Complements: pairs bought in one basket more often than chance, scored by confidence; and the harness that
hides one item of each holdout basket."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix

from reco.evaluation.complements import evaluate_complements
from reco.interactions import IdMapping
from reco.models import ComplementsRecommender


def _baskets(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["customer_id", "item_id", "timestamp"]).assign(
        timestamp=lambda d: pd.to_datetime(d["timestamp"]))


def test_confidence_with_a_lift_filter_and_a_minimum_support() -> None:
    rows = []
    for c in range(10):  # pasta and sauce go together; milk is in every basket (a best-seller, not a complement)
        day = f"2024-01-{c + 1:02d}"
        rows += [(f"c{c}", "pasta", day), (f"c{c}", "sauce", day), (f"c{c}", "milk", day)]
    for c in range(10, 30):
        rows += [(f"c{c}", "milk", "2024-01-05"), (f"c{c}", "bread", "2024-01-05")]
    rows += [("c0", "cheese", "2024-01-01"), ("c1", "cheese", "2024-01-02")]  # two baskets only: below support 3
    events = _baskets(rows)
    items = np.array(["bread", "cheese", "milk", "pasta", "sauce"])
    mapping = IdMapping(np.sort(events["customer_id"].unique()), items)
    model = ComplementsRecommender().fit_events(events, mapping)
    ids, scores = model.similar_items(3, n=4)  # pasta
    found = [mapping.item_ids[i] for i, s in zip(ids, scores, strict=True) if i >= 0 and np.isfinite(s)]
    assert found == ["sauce"]  # milk is in every basket: lift 1 with pasta, no complement; cheese too rare
    assert scores[0] == 1.0  # every pasta basket has sauce
    counts = ComplementsRecommender(score="counts").fit_events(events, mapping)
    ids, _ = counts.similar_items(3, n=2)
    assert set(mapping.item_ids[ids]) == {"sauce", "milk"}  # raw counts: the best-seller comes along
    rows, _ = model.input_spec.build(events, mapping=mapping)
    ids, _ = model.recommend(-1, rows[0], n=2)  # c0's basket holds all but bread, and bread goes with none of it
    assert (ids == -1).all()
    ids, _ = model.recommend(-1, csr_matrix(([1.0], ([0], [3])), shape=(1, 5)), n=2)  # pasta alone
    assert [mapping.item_ids[i] for i in ids if i >= 0] == ["sauce"]


def test_harness_complements_beat_popularity_on_baskets_of_pairs() -> None:
    rng = np.random.default_rng(0)
    pairs = [(f"a{i}", f"b{i}") for i in range(30)]
    rows = []
    for c in range(400):
        for _d in range(4):
            day = pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(rng.integers(0, 120)))
            a, b = pairs[int(rng.integers(len(pairs)))]
            rows += [(f"c{c}", a, day), (f"c{c}", b, day), (f"c{c}", f"pop{int(rng.integers(3))}", day)]
    result = evaluate_complements(_baskets([(c, i, str(t)) for c, i, t in rows]), holdout_days=30)
    models = result["models"]
    assert result["baskets"] > 100
    # the hidden pair partner is found; a hidden best-seller is no complement (lift 1) and counts find it instead
    assert models["complements"]["hit_rate@10"] > 0.6 > models["popularity"]["hit_rate@10"]
