"""Small, structured purchase logs made in the tests (no real data needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def make_purchases(n_customers: int = 40, n_items: int = 20, per_customer: int = 6, seed: int = 0) -> pd.DataFrame:
    """Two taste groups: even customers buy from the first half of the items, odd ones from the second."""
    rng = np.random.default_rng(seed)
    half = n_items // 2
    rows = []
    start = pd.Timestamp("2024-01-01")
    for c in range(n_customers):
        pool = np.arange(half) if c % 2 == 0 else np.arange(half, n_items)
        for k, item in enumerate(rng.choice(pool, size=per_customer, replace=False)):
            rows.append({
                "customer_id": f"C{c:03d}", "item_id": f"I{item:03d}",
                "timestamp": start + pd.Timedelta(days=int(c + 3 * k)),
                "quantity": 1 + int(rng.integers(0, 3)), "price": round(1.0 + item / 4, 2),
                "order_id": f"O{c:03d}-{k}", "name": f"Item {item}",
            })
    return pd.DataFrame(rows)


START = pd.Timestamp("2023-01-01")


def rhythm_log(n: int = 300, days: int = 420, seed: int = 0) -> pd.DataFrame:
    """Each customer buys on their own rhythm (every 5 to 60 days); half of them stop at a random day.
    Whether someone has stopped shows in recency read against their own rhythm, more than in raw recency."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n):
        gap = rng.uniform(5, 60)
        stop = rng.uniform(60, days + 200) if c % 2 else days + 1000
        day = rng.uniform(0, gap)
        k = 0
        while day < min(stop, days):
            rows.append((f"C{c:03d}", f"I{int(rng.integers(0, 30)):02d}", START + pd.Timedelta(days=float(day)),
                         "purchase", 1.0, float(rng.uniform(5, 50)), f"O{c}-{k}", "web"))
            day += rng.exponential(gap) * 0.3 + gap * 0.7
            k += 1
    return pd.DataFrame(rows, columns=["customer_id", "item_id", "timestamp", "event_type", "quantity", "price",
                                       "order_id", "channel"])
