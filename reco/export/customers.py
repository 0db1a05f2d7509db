"""Customer scores for a CRM: segment, value tier, churn risk with reasons and lifetime value.

Only what a CRM acts on leaves: no purchase history, no model internals. Only the customers of an
audience (reco.customers.consent) leave: by default those who allow personalisation (scores are
profiling) and gave marketing consent (a CRM uses them to contact people). Customers no longer in the
store (erased since the scores were computed) never do. Written to a temp file and renamed into
place, with a manifest beside it that names the rule.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from reco.atomic import write_with
from reco.customers.consent import DEFAULT_AUDIENCE
from reco.exceptions import ConfigurationError
from reco.export.csvsafe import csv_safe
from reco.export.manifest import ExportManifest, audience_excluded, choose_audience, write_manifest
from reco.store import EventStore

CUSTOMER_EXPORT_COLUMNS = ("customer_id", "segment", "value_tier", "churn_probability", "churn_reasons",
                           "expected_purchases_90d", "clv_12m", "model_version")


def export_customer_scores(store: EventStore, scores: pd.DataFrame, version: str, out: str | Path,
                           audience: str = DEFAULT_AUDIENCE) -> dict[str, object]:
    """Write ``out`` (.csv or .parquet) with ``CUSTOMER_EXPORT_COLUMNS`` for the scored customers in
    ``audience``, and its manifest beside it."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise ConfigurationError(f"export file {str(out)!r} must end in .csv or .parquet")
    customers = store.customers()
    chosen = choose_audience(customers, audience)
    known = set(customers["customer_id"].astype(str))
    ids = scores["customer_id"].astype(str)
    keep = ids.isin(set(chosen.customers))
    table = scores.loc[keep].assign(
        churn_reasons=lambda d: d["churn_reasons"].map(lambda r: "; ".join(r) if r is not None else ""),
        model_version=version)[list(CUSTOMER_EXPORT_COLUMNS)]
    if suffix == ".csv":
        write_with(out, lambda tmp: csv_safe(table).to_csv(tmp, index=False))
    else:
        write_with(out, lambda tmp: table.to_parquet(tmp, index=False))
    excluded = {**audience_excluded(chosen), "not_in_store": int((~ids.isin(known)).sum())}
    manifest = write_manifest(out, ExportManifest(
        kind="customer_scores", file=out.name, format=suffix[1:], rows=len(table), customers=len(table),
        model_version=version, audience=chosen.name, audience_rule=chosen.rule, excluded=excluded,
        columns=list(CUSTOMER_EXPORT_COLUMNS)))
    return {"out": str(out), "rows": len(table), "model_version": version, "audience": chosen.name,
            "excluded": excluded, "manifest": str(manifest)}
