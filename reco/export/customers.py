"""Customer scores for a CRM: segment, value tier, churn risk with reasons and lifetime value.

Only what a CRM acts on leaves: no purchase history, no model internals. Customers who opted out of
personalisation are left out (their scores are profiling), and so are customers no longer in the
store (erased since the scores were computed). Written to a temp file and renamed into place.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from reco.atomic import write_with
from reco.exceptions import ConfigurationError
from reco.store import EventStore

CUSTOMER_EXPORT_COLUMNS = ("customer_id", "segment", "value_tier", "churn_probability", "churn_reasons",
                           "expected_purchases_90d", "clv_12m", "model_version")


def export_customer_scores(store: EventStore, scores: pd.DataFrame, version: str, out: str | Path) -> dict[str, object]:
    """Write ``out`` (.csv or .parquet) with ``CUSTOMER_EXPORT_COLUMNS`` for customers who allow personalisation."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise ConfigurationError(f"export file {str(out)!r} must end in .csv or .parquet")
    customers = store.customers()
    allowed = set(customers.loc[customers["consent_personalisation"].astype(bool), "customer_id"].astype(str))
    known = set(customers["customer_id"].astype(str))
    ids = scores["customer_id"].astype(str)
    keep = ids.isin(allowed)
    table = scores.loc[keep].assign(
        churn_reasons=lambda d: d["churn_reasons"].map(lambda r: "; ".join(r) if r is not None else ""),
        model_version=version)[list(CUSTOMER_EXPORT_COLUMNS)]
    if suffix == ".csv":
        write_with(out, lambda tmp: table.to_csv(tmp, index=False))
    else:
        write_with(out, lambda tmp: table.to_parquet(tmp, index=False))
    return {"out": str(out), "rows": len(table), "model_version": version,
            "opted_out": int((ids.isin(known) & ~keep).sum()), "not_in_store": int((~ids.isin(known)).sum())}
