"""The catalogue's side of the purchase events: each event's item category, for models that use categories."""

from __future__ import annotations

import pandas as pd


def with_categories(events: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """``events`` with a ``category`` column: the catalogue category of each event's item (``items``: the
    store's item rows, ``item_id`` and ``category``), missing where the catalogue has none. A pandas
    categorical, so a column of millions of rows costs one small code per row."""
    named = items.loc[items["category"].notna(), ["item_id", "category"]] if len(items) else items
    if not len(named):
        return events.assign(category=pd.Categorical([None] * len(events)))
    lookup = named.drop_duplicates("item_id", keep="last").set_index("item_id")["category"].astype(str)
    kinds = pd.CategoricalDtype(sorted(lookup.unique()))
    return events.assign(category=events["item_id"].astype(str).map(lookup).astype(kinds))
