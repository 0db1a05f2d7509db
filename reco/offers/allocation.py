"""Batch allocation: which (customer, offer, channel) candidates to contact so that every offer's budget and
every customer's limits hold at once while the total expected value is as large as possible.

A candidate has an expected value (``ev``) and an expected cost; only candidates with ``ev > 0`` are
worth a contact. Constraints:

- per offer: at most ``budget_contacts`` contacts and at most ``budget_cost`` expected cost;
- per customer: at most ``per_customer`` offers in the batch, one per offer;
- per customer and channel: at most the contacts their channel cap still allows (``channel_room``).

``greedy`` takes candidates by expected value and keeps each that still fits (fast: a sort and a pass;
millions of candidates). ``exact`` solves the same problem as a mixed-integer program (scipy's HiGHS),
for small cases and for measuring the greedy's gap (tests and benchmarks report it).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

from reco.exceptions import ConfigurationError

COLUMNS = ("customer_id", "offer_id", "channel", "ev", "cost")


def _check(candidates: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in COLUMNS if c not in candidates.columns]
    if missing:
        raise ConfigurationError(f"allocation candidates lack column(s) {missing}; need {', '.join(COLUMNS)}")
    return candidates


def greedy(candidates: pd.DataFrame, budgets: Mapping[str, tuple[float | None, float | None]],
           per_customer: int = 1, channel_room: Mapping[tuple[str, str], int] | None = None) -> np.ndarray:
    """A boolean mask over ``candidates`` of the contacts to make (``budgets``: offer -> (max contacts, max
    cost), None: no limit; ``channel_room``: (customer, channel) -> contacts still allowed, absent: no cap)."""
    c = _check(candidates)
    order = np.argsort(-c["ev"].to_numpy(), kind="stable")
    customers, offers = c["customer_id"].to_numpy(), c["offer_id"].to_numpy()
    channels, ev, cost = c["channel"].to_numpy(), c["ev"].to_numpy(), c["cost"].to_numpy()
    taken = np.zeros(len(c), dtype=bool)
    per_cust: dict[str, int] = defaultdict(int)
    pairs: set[tuple[str, str]] = set()
    contacts: dict[str, int] = defaultdict(int)
    spent: dict[str, float] = defaultdict(float)
    room = dict(channel_room or {})
    for i in order:
        if ev[i] <= 0:
            break
        customer, offer, channel = customers[i], offers[i], channels[i]
        max_contacts, max_cost = budgets.get(offer, (None, None))
        if (per_cust[customer] >= per_customer or (customer, offer) in pairs
                or (max_contacts is not None and contacts[offer] + 1 > max_contacts)
                or (max_cost is not None and spent[offer] + cost[i] > max_cost + 1e-9)
                or room.get((customer, channel), 1) <= 0):
            continue
        taken[i] = True
        per_cust[customer] += 1
        pairs.add((customer, offer))
        contacts[offer] += 1
        spent[offer] += cost[i]
        if (customer, channel) in room:
            room[(customer, channel)] -= 1
    return taken


def exact(candidates: pd.DataFrame, budgets: Mapping[str, tuple[float | None, float | None]],
          per_customer: int = 1, channel_room: Mapping[tuple[str, str], int] | None = None) -> np.ndarray:
    """``greedy``'s problem solved to optimality (a 0/1 program); for small cases."""
    c = _check(candidates).reset_index(drop=True)
    n = len(c)
    if n == 0:
        return np.zeros(0, dtype=bool)
    rows, cols, vals, upper = [], [], [], []

    def group(keys: pd.Series, limit_of, weights: np.ndarray | None = None) -> None:  # type: ignore[no-untyped-def]
        for key, index in keys.groupby(keys, sort=False).groups.items():
            limit = limit_of(key)
            if limit is None:
                continue
            row = len(upper)
            rows.extend([row] * len(index))
            cols.extend(index)
            vals.extend(np.ones(len(index)) if weights is None else weights[list(index)])
            upper.append(limit)

    group(c["customer_id"], lambda _: per_customer)
    group(c["customer_id"] + "\x1f" + c["offer_id"], lambda _: 1)
    group(c["offer_id"], lambda o: budgets.get(o, (None, None))[0])
    group(c["offer_id"], lambda o: budgets.get(o, (None, None))[1], c["cost"].to_numpy(dtype=float))
    room = dict(channel_room or {})
    keys = c["customer_id"] + "\x1f" + c["channel"]
    group(keys, lambda k: room.get(tuple(k.split("\x1f", 1))))  # type: ignore[arg-type]
    matrix = coo_matrix((vals, (rows, cols)), shape=(len(upper), n)).tocsr()
    ev = c["ev"].to_numpy(dtype=float)
    result = milp(-np.where(ev > 0, ev, 0.0), integrality=np.ones(n), bounds=Bounds(0, (ev > 0).astype(float)),
                  constraints=[LinearConstraint(matrix, -np.inf, np.asarray(upper, dtype=float))] if upper else [])
    if result.x is None:
        raise ConfigurationError(f"the allocation could not be solved: {result.message}")
    return result.x > 0.5


def total(candidates: pd.DataFrame, chosen: np.ndarray) -> float:
    return float(candidates["ev"].to_numpy()[chosen].sum())
