"""Each purchase's item category from the catalogue."""

from __future__ import annotations

import pandas as pd

from reco.interactions.catalogue import with_categories
from reco.store.tables import ITEM_COLUMNS


def test_each_event_gets_its_items_catalogue_category_or_none() -> None:
    events = pd.DataFrame({"customer_id": ["a", "b", "c"], "item_id": ["1", "2", "3"]})
    items = pd.DataFrame({"item_id": ["1", "2"], "category": ["dairy", None]})
    out = with_categories(events, items)
    assert out["category"].tolist()[0] == "dairy" and out["category"].isna().tolist() == [False, True, True]
    assert isinstance(out["category"].dtype, pd.CategoricalDtype)
    assert "category" not in events.columns  # the caller's frame is left as it was
    empty = with_categories(events, pd.DataFrame(columns=list(ITEM_COLUMNS)))
    assert empty["category"].isna().all() and len(empty) == 3
