"""The temporal split: train on everything before the cut, test on the last ``holdout_days``.

Test customers are those who bought before the cut and again in the holdout; their relevant items
are the distinct holdout purchases that exist in training. Task ``new`` also removes from relevance
every item the customer bought before the cut (and models must not recommend those).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from reco.exceptions import ConfigurationError
from reco.interactions import IdMapping

TASKS: tuple[str, ...] = ("all", "new")


@dataclass
class TemporalSplit:
    train: pd.DataFrame
    cut: pd.Timestamp
    end: pd.Timestamp
    mapping: IdMapping
    users: dict[str, np.ndarray] = field(default_factory=dict)
    relevant: dict[str, list[np.ndarray]] = field(default_factory=dict)


def temporal_split(
    events: pd.DataFrame, holdout_days: float = 30.0, end: pd.Timestamp | None = None
) -> TemporalSplit:
    """Split purchase events (customer_id, item_id, timestamp) at ``end - holdout_days``.

    Events after ``end`` (default: the last event) are ignored, so a validation split is simply
    ``temporal_split(events, d, end=test_split.cut)``.
    """
    if not holdout_days > 0:
        raise ConfigurationError(f"holdout_days must be > 0, got {holdout_days!r}")
    ts = pd.to_datetime(events["timestamp"])
    end = pd.Timestamp(end) if end is not None else ts.max()
    cut = end - pd.Timedelta(days=holdout_days)
    train = events[ts < cut]
    test = events[(ts >= cut) & (ts <= end)]
    if train.empty or test.empty:
        raise ConfigurationError(
            f"a {holdout_days}-day holdout ending {end} leaves {len(train)} training and {len(test)} test "
            f"events; both must be non-empty (data runs {ts.min()} .. {ts.max()})"
        )
    mapping = IdMapping(np.sort(train["customer_id"].astype(str).unique()),
                        np.sort(train["item_id"].astype(str).unique()))
    u = mapping.user_indices(test["customer_id"].astype(str))
    i = mapping.item_indices(test["item_id"].astype(str))
    known = (u >= 0) & (i >= 0)
    n_items = mapping.n_items
    test_keys = np.unique(u[known] * n_items + i[known])
    train_keys = np.unique(mapping.user_indices(train["customer_id"].astype(str)) * n_items
                           + mapping.item_indices(train["item_id"].astype(str)))
    rebuy = np.isin(test_keys, train_keys)
    split = TemporalSplit(train=train, cut=cut, end=end, mapping=mapping)
    for task, keys in (("all", test_keys), ("new", test_keys[~rebuy])):
        users, items = keys // n_items, keys % n_items
        starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]]) if len(keys) else np.zeros(0, dtype=int)
        split.users[task] = users[starts].astype(np.int64)
        split.relevant[task] = np.split(items.astype(np.int64), starts[1:]) if len(keys) else []
    return split
