"""Next-best-offers for a CRM: one row per (customer, offer) decided by reco.offers.engine.

Only customers who gave marketing consent are decided (an export is for outbound contact); an erased
customer has no row to be decided from. The file is written to a temp file and renamed into place
inside the transaction that records the export and its decisions, so either both exist or neither: the
exported treated decisions then count as planned contacts for the caps and budgets of the next export
(and of the API) until their outcomes arrive. Control decisions are recorded and exported with
``control = true``: the CRM must not send them; ``reco report offers`` compares the two groups.

``changed_since`` exports only the customers whose decided (offer, channel) pairs differ from what an
earlier export gave them (new customers included); the others keep the earlier decisions.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from reco.atomic import write_with
from reco.clock import utc_now
from reco.customers.consent import may_contact
from reco.exceptions import ConfigurationError
from reco.export.csvsafe import csv_safe
from reco.export.manifest import ExportManifest, write_manifest
from reco.offers.engine import DecisionSettings, OfferInputs, decide_many, offer_stats
from reco.offers.policy import ContactPolicy
from reco.offers.response import ResponseModel
from reco.store import EventStore

logger = logging.getLogger(__name__)

OFFER_EXPORT_COLUMNS = ("customer_id", "offer_id", "channel", "rank", "p_redeem", "expected_value", "reasons",
                        "valid_until", "decision_id", "control")
AUDIENCE_RULE = "customers who gave marketing consent (outbound offers); personal offers only to those who also " \
                "allow personalisation"


def export_offers(store: EventStore, inputs: OfferInputs, model: ResponseModel | None, model_version: str | None,
                  out: str | Path, policy: ContactPolicy | None = None, settings: DecisionSettings | None = None,
                  at: datetime | None = None, changed_since: str | None = None,
                  progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Decide, write ``out`` (.csv or .parquet) with ``OFFER_EXPORT_COLUMNS`` and its manifest, and record
    the export and its decisions; returns the manifest's figures."""
    started = time.perf_counter()
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise ConfigurationError(f"export file {str(out)!r} must end in .csv or .parquet")
    policy = policy or ContactPolicy()
    settings = settings or DecisionSettings()
    at = at or utc_now()
    previous = None
    if changed_since is not None:
        if store.decisions.export(changed_since) is None:
            known = store.decisions.exports()
            raise ConfigurationError(f"--changed-since {changed_since!r} names no export; known: "
                                     f"{', '.join(known[-5:]) if known else 'none yet'}")
        previous = store.decisions.decisions(export_id=changed_since)
    customers = inputs.customers
    contactable = customers["consent_marketing"].map(may_contact).astype(bool)
    audience = sorted(set(customers.loc[contactable, "customer_id"].astype(str)) - set(inputs.erased))
    stats = offer_stats(inputs, at)
    decided = decide_many(inputs, model, policy, at, audience, stats, settings, progress=progress)
    unchanged = 0
    if previous is not None:
        before, now = _offers_by_customer(previous), _offers_by_customer(decided)
        same = {c for c, pairs in now.items() if before.get(c) == pairs}
        unchanged = len(same)
        decided = decided[~decided["customer_id"].isin(same)].reset_index(drop=True)
    table = decided.assign(reasons=decided["reasons"].map("; ".join))[list(OFFER_EXPORT_COLUMNS)]
    export_id = f"x-{at:%Y%m%d}-{secrets.token_hex(4)}"
    budget_use = {}
    treated = decided[~decided["control"]]
    for offer in inputs.offers:
        this = int((treated["offer_id"] == offer.offer_id).sum())
        if this or stats.contacts_used.get(offer.offer_id):
            budget_use[offer.offer_id] = {"budget_contacts": offer.budget_contacts,
                                          "used_before": stats.contacts_used.get(offer.offer_id, 0),
                                          "this_export": this}
    summary = {"rows": len(table), "customers": int(decided["customer_id"].nunique()),
               "treated": int((~decided["control"]).sum()), "control": int(decided["control"].sum()),
               "fallback": int(decided["fallback"].sum()), "audience": len(audience),
               "without_marketing_consent": int((~contactable).sum()), "unchanged_since": unchanged,
               "budget_use": budget_use}
    record = decided.assign(decided_at=at)[["decision_id", "customer_id", "offer_id", "channel", "rank", "p_redeem",
                                            "expected_value", "control", "decided_at", "valid_until"]]
    with store.transaction() as conn:
        store.decisions.record_export(conn, export_id, utc_now(), at, model_version, summary, record)
        store.record_changes(conn, record["customer_id"].unique())  # planned contacts fill their caps
        if suffix == ".csv":
            write_with(out, lambda tmp: csv_safe(table).to_csv(tmp, index=False))
        else:
            write_with(out, lambda tmp: table.to_parquet(tmp, index=False))
    parameters = {"export_id": export_id, "decided_at": at.isoformat(), **asdict(settings),
                  "changed_since": changed_since, "caps": {k: list(v) for k, v in policy.caps.items()}}
    manifest = write_manifest(out, ExportManifest(
        kind="offers", file=out.name, format=suffix[1:], rows=len(table), customers=summary["customers"],
        model_version=model_version or "", audience="marketing", audience_rule=AUDIENCE_RULE,
        excluded={"without_marketing_consent": summary["without_marketing_consent"], "unchanged_since": unchanged},
        columns=list(OFFER_EXPORT_COLUMNS), parameters={**parameters, "counts": summary}))
    seconds = round(time.perf_counter() - started, 1)
    logger.info("offers: exported %s rows for %s customers in %.1f s", f"{len(table):,}",
                f"{summary['customers']:,}", seconds)
    return {"out": str(out), "export_id": export_id, "model_version": model_version, **summary,
            "manifest": str(manifest), "seconds": seconds}


def _offers_by_customer(decisions: pd.DataFrame) -> dict[str, list[tuple[str, str]]]:
    """Each customer's decided (offer, channel) pairs, sorted: what --changed-since compares."""
    pairs = zip(decisions["customer_id"], decisions["offer_id"], decisions["channel"].fillna(""), strict=True)
    out: dict[str, list[tuple[str, str]]] = {}
    for customer, offer, channel in pairs:
        out.setdefault(str(customer), []).append((str(offer), str(channel)))
    return {c: sorted(p) for c, p in out.items()}
