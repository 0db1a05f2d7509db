"""Id lookups: one answer whether a handful of ids is looked up or millions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from reco.interactions.idmapping import BULK_LOOKUP, IdMapping


def test_bulk_lookups_equal_one_by_one_lookups_including_unknown_and_missing_ids() -> None:
    mapping = IdMapping(["c1", "c2"], [f"i{k}" for k in range(50)])
    rng = np.random.default_rng(0)
    values = list(rng.choice([*mapping.item_ids, "unknown", "i50"], size=BULK_LOOKUP + 5))
    values[3], values[7] = None, float("nan")
    one_by_one = np.array([mapping.item_index(v) if isinstance(v, str) and mapping.item_index(v) is not None
                           else -1 for v in values])
    for given in (values, pd.Series(values, dtype=object), np.asarray(values, dtype=object), iter(values)):
        np.testing.assert_array_equal(mapping.item_indices(given), one_by_one)
    np.testing.assert_array_equal(mapping.item_indices(values[:20]), one_by_one[:20])  # the short path
    assert mapping.user_indices(pd.Series(["c2", "c9"] * BULK_LOOKUP)).tolist() == [1, -1] * BULK_LOOKUP
    assert mapping.user_indices([]).tolist() == []
