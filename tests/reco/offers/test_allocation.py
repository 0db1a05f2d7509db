"""Batch allocation: no budget, cap or per-customer limit is ever broken (many random catalogues), and the
greedy's total expected value stays close to the exact optimum."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reco.exceptions import ConfigurationError
from reco.offers.allocation import exact, greedy, total


def _instance(seed: int, customers: int = 30, offers: int = 6) -> tuple[pd.DataFrame, dict, dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(customers):
        for o in range(offers):
            for channel in rng.choice(["email", "sms", "app"], size=int(rng.integers(1, 3)), replace=False):
                rows.append({"customer_id": f"c{c}", "offer_id": f"o{o}", "channel": str(channel),
                             "ev": float(rng.normal(1.0, 1.5)), "cost": float(rng.uniform(0.1, 2.0))})
    budgets = {f"o{o}": (int(rng.integers(1, customers)), float(rng.uniform(2, 20)) if o % 2 else None)
               for o in range(offers)}
    room = {(f"c{c}", "email"): int(rng.integers(0, 2)) for c in range(customers)}
    return pd.DataFrame(rows), budgets, room


def _violations(c: pd.DataFrame, chosen: np.ndarray, budgets: dict, per_customer: int, room: dict) -> list[str]:
    taken = c[chosen]
    out = []
    if (taken["ev"] <= 0).any():
        out.append("a contact of no value")
    if (taken.groupby("customer_id").size() > per_customer).any():
        out.append("per customer")
    if taken.duplicated(["customer_id", "offer_id"]).any():
        out.append("an offer twice to one customer")
    for offer, (contacts, cost) in budgets.items():
        mine = taken[taken["offer_id"] == offer]
        if contacts is not None and len(mine) > contacts:
            out.append(f"{offer} contacts")
        if cost is not None and mine["cost"].sum() > cost + 1e-6:
            out.append(f"{offer} cost")
    for (customer, channel), left in room.items():
        if ((taken["customer_id"] == customer) & (taken["channel"] == channel)).sum() > left:
            out.append(f"{customer} {channel} cap")
    return out


@pytest.mark.parametrize("per_customer", [1, 2])
def test_no_allocation_ever_breaks_a_limit_and_greedy_is_near_optimal(per_customer: int) -> None:
    gaps = []
    for seed in range(40):
        candidates, budgets, room = _instance(seed)
        fast = greedy(candidates, budgets, per_customer, room)
        best = exact(candidates, budgets, per_customer, room)
        assert _violations(candidates, fast, budgets, per_customer, room) == [], seed
        assert _violations(candidates, best, budgets, per_customer, room) == [], seed
        optimum = total(candidates, best)
        assert optimum >= total(candidates, fast) - 1e-6
        gaps.append(1 - total(candidates, fast) / optimum if optimum > 0 else 0.0)
    assert np.mean(gaps) < 0.05 and max(gaps) < 0.15  # measured: the greedy is within a few percent here


def test_bad_candidates() -> None:
    with pytest.raises(ConfigurationError, match="lack column"):
        greedy(pd.DataFrame({"customer_id": ["a"]}), {})
    empty = pd.DataFrame(columns=["customer_id", "offer_id", "channel", "ev", "cost"])
    assert len(greedy(empty, {})) == 0 and len(exact(empty, {})) == 0
