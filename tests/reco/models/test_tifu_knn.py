"""TIFU-KNN: time-decayed basket vectors in groups, blended with the nearest customers' vectors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reco.exceptions import ConfigurationError
from reco.interactions import IdMapping
from reco.models import TifuKnnRecommender


def _events() -> tuple[pd.DataFrame, IdMapping]:
    t = pd.Timestamp
    rows = [("a", "x", t("2024-01-01")), ("a", "y", t("2024-01-02")), ("a", "z", t("2024-01-03")),
            ("a", "w", t("2024-01-04 09:00")), ("a", "w", t("2024-01-04 18:00")),  # one basket: one day
            ("b", "w", t("2024-01-02")), ("b", "v", t("2024-01-03")),
            ("c", "x", t("2024-01-02"))]
    events = pd.DataFrame(rows, columns=["customer_id", "item_id", "timestamp"])
    return events, IdMapping(np.array(["a", "b", "c"]), np.array(["v", "w", "x", "y", "z"]))


def test_basket_vectors_decay_within_and_across_groups() -> None:
    events, mapping = _events()
    model = TifuKnnRecommender(group_size=2, within_decay=0.5, group_decay=0.5, k=1, alpha=0.5)
    model.fit_events(events, mapping, now=pd.Timestamp("2024-02-01"))
    a = model.vectors_[0].toarray().ravel()
    # latest group (days 4, 3): w 1, z 0.5; older group (days 2, 1) weighs 0.5: y 1, x 0.5; each / 2 baskets / 2 groups
    assert a.tolist() == pytest.approx([0.0, 0.25, 0.0625, 0.125, 0.125])
    # a's nearest customer is b (they share w): a's score blends a's vector with b's
    b = model.vectors_[1].toarray().ravel()
    ids, scores = model.recommend(0, model.vectors_[0], n=5, filter_already_purchased=False)
    expected = 0.5 * a + 0.5 * b
    assert dict(zip(ids.tolist(), scores.tolist(), strict=True)) == pytest.approx(
        {i: expected[i] for i in range(5) if expected[i] > 0} | {i: 0.0 for i in range(5) if expected[i] == 0})


def test_bad_parameters_name_the_value() -> None:
    events, mapping = _events()
    with pytest.raises(ConfigurationError, match=r"within_decay=1\.5"):
        TifuKnnRecommender(within_decay=1.5).fit_events(events, mapping)
    with pytest.raises(ConfigurationError, match="group_size"):
        TifuKnnRecommender(group_size=0).fit_events(events, mapping)
