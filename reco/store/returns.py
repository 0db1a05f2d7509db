"""A purchase returned in full is no purchase signal: it neither trains a model nor explains a
recommendation ("because you bought X" for an X they sent back).

The unit is the (customer, item) pair: when the units returned reach the units bought, every purchase
of the pair is left out; a partial return keeps them (they kept some). Callers pass events up to their
as-of time, so a later return never changes an earlier moment's history.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import pandas as pd


def returned_in_full(purchases: Iterable[tuple[str, float]], returns: Iterable[tuple[str, float]]) -> set[str]:
    """Keys (items, or any pair key) whose returned units reach their bought units, from (key, units) pairs."""
    gone: Counter[str] = Counter()
    for key, units in returns:
        gone[key] += float(units)
    if not gone:
        return set()
    bought: Counter[str] = Counter()
    for key, units in purchases:
        if key in gone:
            bought[key] += float(units)
    return {key for key, units in gone.items() if bought[key] > 0 and units >= bought[key]}


def net_purchases(events: pd.DataFrame) -> pd.DataFrame:
    """The purchase rows of ``events`` (customer_id, item_id, event_type, quantity, ...) whose pair was not
    returned in full; the columns are kept."""
    purchases = events[events["event_type"] == "purchase"]
    returns = events[events["event_type"] == "return"]
    if returns.empty:
        return purchases
    bought = purchases.groupby(["customer_id", "item_id"], sort=False)["quantity"].sum()
    sent_back = returns.groupby(["customer_id", "item_id"], sort=False)["quantity"].sum()
    held = bought.reindex(sent_back.index)
    full = sent_back.index[(held > 0) & (sent_back >= held)]
    if not len(full):
        return purchases
    pairs = pd.MultiIndex.from_frame(purchases[["customer_id", "item_id"]])
    return purchases[~pairs.isin(full)]
