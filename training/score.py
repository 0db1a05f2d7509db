"""The customer scoring job: churn, lifetime value and segments for every customer, stored with a model version.

Reads every purchase and return up to the version's last event (so scores and recommendations
describe the same moment), fits the churn model and BG/NBD + Gamma-Gamma, and writes
``MODEL_DIR/<version>/customers/`` (scores.parquet, the churn model, the CLV parameters) atomically.
Customers who were erased are not in the store, so they are not scored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reco.atomic import write_json
from reco.clock import utc_now
from reco.customers.churn import ChurnModel
from reco.customers.clv import BetaGeoFitter, GammaGammaFitter, clv, rfm_summary
from reco.customers.features import check_events, line_values
from reco.customers.segments import rfm_segments, value_tiers
from reco.erasure import complete_pending, reapply
from reco.exceptions import InputError
from reco.registry import ModelRegistry
from reco.store import EventStore
from training.churn import EVENT_COLUMNS

logger = logging.getLogger(__name__)

# What ``score_customers`` tells its ``progress`` callback, in order (a training run's progress bar).
STAGES: tuple[str, ...] = ("reading events", "churn and lifetime value", "saving")
SCORE_COLUMNS = ("customer_id", "churn_probability", "churn_reasons", "expected_purchases_90d", "p_alive",
                 "clv_12m", "value_tier", "segment", "r_score", "f_score", "m_score", "recency_days", "orders",
                 "spend")


def customer_table(events: pd.DataFrame, now: pd.Timestamp | None = None, horizon_days: float = 90.0,
                   months: int = 12, monthly_discount: float = 0.01, marketing: pd.DataFrame | None = None,
                   ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``SCORE_COLUMNS`` for every customer with a purchase up to ``now``, and what was fitted (for metadata)."""
    events = check_events(events)
    now = pd.Timestamp(now) if now is not None else events["timestamp"].max()
    events = events[events["timestamp"] <= now]
    if marketing is not None:
        marketing = marketing[pd.to_datetime(marketing["timestamp"]) <= now]
    churn = ChurnModel(horizon_days=horizon_days).fit_events(events, now=now, marketing=marketing)
    features = churn.features(events, now + pd.Timedelta(seconds=1), marketing)
    scored = churn.score_features(features)
    purchases = events[events["event_type"] == "purchase"]
    purchases = purchases.assign(value=line_values(purchases))
    summary = rfm_summary(purchases, now).reindex(scored.index)
    bgf = BetaGeoFitter().fit(summary)
    try:
        ggf: GammaGammaFitter | None = GammaGammaFitter().fit(summary[summary["monetary_value"] > 0])
    except InputError as exc:
        logger.warning("score: no lifetime value: %s", exc)
        ggf = None
    table = pd.DataFrame(index=scored.index)
    table["churn_probability"] = scored["churn_probability"]
    table["churn_reasons"] = scored["churn_reasons"]
    table["expected_purchases_90d"] = bgf.expected_purchases(90.0, summary)
    table["p_alive"] = bgf.probability_alive(summary)
    table["clv_12m"] = (clv(bgf, ggf, summary, months=months, monthly_discount=monthly_discount) if ggf is not None
                        else np.nan)
    table["value_tier"] = value_tiers(table["clv_12m"])
    segments = rfm_segments(features["recency_days"], features["orders"], features["spend"], features["tenure_days"])
    table = table.join(segments)
    table["recency_days"] = features["recency_days"]
    table["orders"] = features["orders"]
    table["spend"] = features["spend"]
    fitted = {"as_of": now.isoformat(), "horizon_days": horizon_days, "churn_estimator": churn.kind_,
              "churn_validation_auc": churn.validation_, "churn_cutoffs": churn.cutoffs_,
              "bgnbd": bgf.params_, "gamma_gamma": ggf.params_ if ggf else None, "clv_months": months,
              "monthly_discount": monthly_discount, "customers": len(table),
              "segments": table["segment"].value_counts().to_dict()}
    return table.reset_index()[list(SCORE_COLUMNS)], {"fitted": fitted, "churn": churn}


def score_customers(store: EventStore, registry: ModelRegistry, version: str | None = None,
                    horizon_days: float = 90.0, months: int = 12, monthly_discount: float = 0.01,
                    progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Score every customer as of ``version``'s last event and store the table with that version.
    ``progress``: told each stage of ``STAGES`` as it begins (it may raise to cancel before saving)."""
    note = progress or (lambda stage: None)
    started, started_at = time.perf_counter(), utc_now()
    note(STAGES[0])
    version = version or registry.promoted()
    complete_pending(store, registry)  # erasures whose model files failed before: retried by every job
    meta = registry.metadata(version)
    last = meta.get("data", {}).get("as_of") or meta.get("data", {}).get("last_event")
    now = pd.Timestamp(last) if last else None
    store.create_schema()
    events = store.read_events(("purchase", "return"), columns=EVENT_COLUMNS)
    if events.empty:
        raise InputError(f"the event store at {store.safe_url} holds no purchases; run 'reco ingest' first")
    note(STAGES[1])
    table, parts = customer_table(events, now=now, horizon_days=horizon_days, months=months,
                                  monthly_discount=monthly_discount, marketing=store.read_marketing())
    fitted = parts["fitted"]

    def write(directory: Path) -> None:
        table.to_parquet(directory / "scores.parquet", index=False)
        parts["churn"].save(directory / "churn")
        write_json(directory / "customers.json", fitted)

    note(STAGES[2])
    registry.save_customers(version, write)
    reapply(store, registry, version, started_at)  # customers erased while this ran leave the new table
    seconds = round(time.perf_counter() - started, 3)
    logger.info("score: %s customers scored for version %s in %.1fs", f"{len(table):,}", version, seconds)
    return {"version": version, "customers": len(table), "as_of": fitted["as_of"],
            "churn_estimator": fitted["churn_estimator"], "segments": fitted["segments"],
            "mean_churn_probability": round(float(table["churn_probability"].mean()), 4),
            "total_clv_12m": round(float(np.nansum(table["clv_12m"])), 2), "seconds": seconds}
