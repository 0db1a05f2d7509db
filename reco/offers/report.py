"""Did the offers work? Treated against control, per offer, from the decisions exports recorded.

Each (customer, offer) counts once, from its first decision. Its window runs from the decision to the
offer's end or ``horizon_days`` after it, whichever is first; only windows that have ended by the latest
data (purchases and outcomes) are counted, the others are reported as open. Per offer:

- contacts (treated decisions) and control decisions;
- redemption rate in each group (a redemption of that offer within the window), the difference with a
  95% confidence interval, and the lift (treated / control);
- incremental spend per customer: mean spend in the window, treated minus control, with a 95% interval
  (normal approximation, unequal variances).

The control group is decided exactly as the treated and never contacted, so the difference is what the
contact caused, up to chance (the intervals say how much).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from reco.exceptions import ConfigurationError

Z95 = 1.959963984540054


def _diff(a: np.ndarray, b: np.ndarray) -> tuple[float | None, float | None, float | None]:
    """Mean of a minus mean of b, and its 95% interval (None where a group is too small)."""
    if len(a) == 0 or len(b) == 0:
        return None, None, None
    diff = float(a.mean() - b.mean())
    if len(a) < 2 or len(b) < 2:
        return diff, None, None
    se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    return diff, diff - Z95 * se, diff + Z95 * se


def offer_report(decisions: pd.DataFrame, outcomes: pd.DataFrame, purchases: pd.DataFrame,
                 horizon_days: float = 28.0) -> dict[str, Any]:
    """``decisions``: the store's offer decisions; ``outcomes``: offer outcomes; ``purchases``: customer_id,
    timestamp, price, quantity. Returns per-offer rows and the pooled row."""
    if not (isinstance(horizon_days, int | float) and 0 < horizon_days <= 3650):
        raise ConfigurationError(f"--horizon-days {horizon_days!r} must be a number of days in (0, 3650]")
    if decisions.empty:
        return {"offers": [], "total": None, "open": 0, "horizon_days": horizon_days, "as_of": None}
    first = decisions.sort_values("decided_at").drop_duplicates(["customer_id", "offer_id"]).copy()
    first["end"] = np.minimum(pd.to_datetime(first["valid_until"]),
                              pd.to_datetime(first["decided_at"]) + pd.Timedelta(days=horizon_days))
    latest = max(pd.to_datetime(outcomes["timestamp"]).max() if len(outcomes) else pd.NaT,
                 pd.to_datetime(purchases["timestamp"]).max() if len(purchases) else pd.NaT,
                 key=lambda t: pd.Timestamp.min if pd.isna(t) else t)
    closed = first["end"] <= latest if not pd.isna(latest) else pd.Series(False, index=first.index)
    still_open = int((~closed).sum())
    first = first[closed].reset_index(drop=True)
    first["pair"] = np.arange(len(first))
    redeemed = outcomes[outcomes["outcome"] == "redeemed"][["customer_id", "offer_id", "timestamp"]]
    hits = first[["pair", "customer_id", "offer_id", "decided_at", "end"]].merge(redeemed,
                                                                                  on=["customer_id", "offer_id"])
    hits = hits[(hits["timestamp"] >= hits["decided_at"]) & (hits["timestamp"] < hits["end"])]
    first["redeemed"] = first["pair"].isin(set(hits["pair"])).astype(float)
    value = pd.to_numeric(purchases["price"], errors="coerce").fillna(0.0) * purchases["quantity"].astype(float)
    bought = first[["pair", "customer_id", "decided_at", "end"]].merge(
        purchases[["customer_id", "timestamp"]].assign(value=value.to_numpy()), on="customer_id")
    bought = bought[(bought["timestamp"] >= bought["decided_at"]) & (bought["timestamp"] < bought["end"])]
    first["spend"] = first["pair"].map(bought.groupby("pair")["value"].sum()).fillna(0.0)
    rows = [_row(str(offer), group) for offer, group in first.groupby("offer_id", sort=True)]
    return {"offers": rows, "total": _row("all offers", first) if len(first) else None, "open": still_open,
            "horizon_days": horizon_days, "as_of": None if pd.isna(latest) else latest.isoformat()}


def _row(name: str, group: pd.DataFrame) -> dict[str, Any]:
    treated, control = group[~group["control"].astype(bool)], group[group["control"].astype(bool)]
    rate_t = float(treated["redeemed"].mean()) if len(treated) else None
    rate_c = float(control["redeemed"].mean()) if len(control) else None
    rate_diff, rate_low, rate_high = _diff(treated["redeemed"].to_numpy(), control["redeemed"].to_numpy())
    spend_diff, spend_low, spend_high = _diff(treated["spend"].to_numpy(), control["spend"].to_numpy())
    return {"offer_id": name, "contacts": len(treated), "control": len(control),
            "redemption_rate_treated": _round(rate_t), "redemption_rate_control": _round(rate_c),
            "redemption_uplift": _round(rate_diff), "redemption_uplift_ci95": [_round(rate_low), _round(rate_high)],
            "lift": _round(rate_t / rate_c) if rate_t is not None and rate_c else None,
            "spend_treated": _round(float(treated["spend"].mean()) if len(treated) else None, 2),
            "spend_control": _round(float(control["spend"].mean()) if len(control) else None, 2),
            "incremental_spend": _round(spend_diff, 2),
            "incremental_spend_ci95": [_round(spend_low, 2), _round(spend_high, 2)]}


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def format_report(result: dict[str, Any]) -> str:
    """The report as a table (one line per offer, then all offers together)."""
    if not result["offers"]:
        return "offers: no closed decision windows yet (export offers, then wait for the windows to end)" + (
            f"; {result['open']} still open" if result.get("open") else "")
    head = (f"{'offer':<24}{'contacts':>9}{'control':>8}{'rate T':>8}{'rate C':>8}{'lift':>7}"
            f"{'uplift [95% CI]':>26}{'incr. spend [95% CI]':>32}")
    lines = [f"offers: treated vs control, windows of at most {result['horizon_days']:g} days "
             f"(data to {str(result['as_of'])[:10]}; {result['open']} decisions still open)", head]

    def fmt(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    for row in [*result["offers"], result["total"]]:
        uplift = (f"{fmt(row['redemption_uplift'], '+.3f')} [{fmt(row['redemption_uplift_ci95'][0], '+.3f')}, "
                  f"{fmt(row['redemption_uplift_ci95'][1], '+.3f')}]")
        spend = (f"{fmt(row['incremental_spend'], '+.2f')} [{fmt(row['incremental_spend_ci95'][0], '+.2f')}, "
                 f"{fmt(row['incremental_spend_ci95'][1], '+.2f')}]")
        lines.append(f"{row['offer_id'][:23]:<24}{row['contacts']:>9,}{row['control']:>8,}"
                     f"{fmt(row['redemption_rate_treated'], '.3f'):>8}{fmt(row['redemption_rate_control'], '.3f'):>8}"
                     f"{fmt(row['lift'], '.2f'):>7}{uplift:>26}{spend:>32}")
    return "\n".join(lines)
