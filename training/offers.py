"""``reco evaluate offers``: the offer-response model on the store's own offers and outcomes.

Contacts are the ``sent`` outcomes (one per customer and offer, the first), labelled 1 when the customer
redeemed that offer; features come from the purchases before each contact (reco.offers.response). The
test contacts are those from ``test_from`` on (default: the latest 40%); the model is chosen on the
latest 30% of the contacts before it. Baselines of the same run sit beside it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd

from reco.evaluation.classification import calibration_lines, calibration_table, classification_metrics, metrics_lines
from reco.exceptions import InputError, ModelNotFoundError
from reco.offers.engine import OfferInputs, contact_data, past_contacts, read_inputs
from reco.offers.response import ContactData, ResponseModel, contact_features
from reco.registry import ModelRegistry
from reco.registry.artifacts import OFFERS_DIR
from reco.store import EventStore

logger = logging.getLogger(__name__)

BASELINES = {"past_redemptions": "prior_redemptions", "offer_items_bought_90d": "offer_items_bought_90d"}


def offer_data(store: EventStore) -> tuple[pd.DataFrame, ContactData]:
    """Contacts (customer_id, offer_id, at, y) and what their features are built from, from the store (the
    same inputs and ContactData decisions use, reco.offers.engine)."""
    inputs = read_inputs(store, planned=False)
    outcomes = inputs.outcomes
    contacts = past_contacts(outcomes)
    if contacts.empty:
        raise InputError("the store holds no 'sent' offer outcomes; load them with reco ingest --kind offer-outcomes "
                         "(or the dunnhumby preset)")
    redeemed = outcomes[outcomes["outcome"] == "redeemed"]
    pairs = set(zip(redeemed["customer_id"], redeemed["offer_id"], strict=True))
    contacts["y"] = [int(p in pairs) for p in zip(contacts["customer_id"], contacts["offer_id"], strict=True)]
    return contacts, contact_data(inputs)


def evaluate_offers(store: EventStore, test_from: pd.Timestamp | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    contacts, data = offer_data(store)
    at = pd.to_datetime(contacts["at"])
    cut = pd.Timestamp(test_from) if test_from is not None else at.quantile(0.6)
    test = (at >= cut).to_numpy()
    train = ~test
    y = contacts["y"].to_numpy()
    if train.sum() == 0 or test.sum() == 0 or len(np.unique(y[test])) < 2:
        raise InputError(f"contacts before {cut:%Y-%m-%d} ({int(train.sum())}) and from it ({int(test.sum())}) must "
                         "both exist, and the test contacts must hold both outcomes; choose another --test-from")
    x = contact_features(contacts, data)
    model = ResponseModel().fit(x[train], y[train], at[train])
    p = model.predict_proba(x[test])
    rows = {"response_model": classification_metrics(y[test], p)}
    calibration = calibration_table(y[test], p).reset_index(names="predicted_bin").to_dict(orient="records")
    for name, column in BASELINES.items():
        score = x.loc[test, column].to_numpy()
        rows[name] = {"auc": classification_metrics(y[test], score / (score.max() or 1.0))["auc"]}
    by_type = {}
    types = contacts.loc[test, "offer_id"].map(data.offer_types).fillna("?").to_numpy()
    for kind in sorted(set(types)):
        chosen = types == kind
        if len(np.unique(y[test][chosen])) == 2:
            by_type[kind] = {"contacts": int(chosen.sum()), "positive_rate": round(float(y[test][chosen].mean()), 4),
                             "auc": classification_metrics(y[test][chosen], p[chosen])["auc"]}
    return {"contacts": len(contacts), "train": int(train.sum()), "test": int(test.sum()),
            "test_from": cut.isoformat(), "test_positive_rate": round(float(y[test].mean()), 4),
            "chosen": model.kind_, "validation_auc": model.validation_, "models": rows, "calibration": calibration,
            "by_offer_type": by_type,
            "seconds": round(time.perf_counter() - started, 1)}


def train_offers(store: EventStore, registry: ModelRegistry, version: str | None = None) -> dict[str, Any]:
    """Fit the response model on every contact the store holds and keep it with ``version`` (default: the
    promoted one), where decisions and exports read it."""
    started = time.perf_counter()
    version = version or registry.promoted()
    contacts, data = offer_data(store)
    x = contact_features(contacts, data)
    model = ResponseModel().fit(x, contacts["y"].to_numpy(), pd.to_datetime(contacts["at"]))
    registry.save_part(version, OFFERS_DIR, model.save)
    return {"version": version, "contacts": len(contacts), "positive_rate": round(float(contacts["y"].mean()), 4),
            "chosen": model.kind_, "validation_auc": model.validation_, "features": len(model.features_),
            "seconds": round(time.perf_counter() - started, 1)}


def format_offers(result: dict[str, Any]) -> str:
    lines = [f"offers: {result['contacts']:,} contacts; train {result['train']:,}, test {result['test']:,} "
             f"(from {result['test_from'][:10]}, positive {result['test_positive_rate']:.3f}); chosen "
             f"{result['chosen']} on validation {result['validation_auc']}",
             *metrics_lines(result["models"], 26), *calibration_lines(result["calibration"], "response model")]
    for kind, m in result["by_offer_type"].items():
        lines.append(f"  type {kind}: {m['contacts']:,} contacts, positive {m['positive_rate']:.3f}, "
                     f"AUC {m['auc']:.4f}")
    return "\n".join(lines)


def decision_inputs(store: EventStore, registry: ModelRegistry, version: str | None = None
                    ) -> tuple[OfferInputs, ResponseModel, str]:
    """What an export decides from: every customer's inputs, the response model and customer scores kept
    with ``version`` (default: the promoted one). Without scores, rules on them fail (a warning says so)."""
    version = version or registry.promoted()
    model = ResponseModel.load(registry.part_path(version, OFFERS_DIR))
    try:
        scores = registry.customer_scores(version)
    except ModelNotFoundError:
        logger.warning("offers: version %s has no customer scores (reco score customers); rules on segment, value "
                       "tier, churn or CLV fail for everyone", version)
        scores = None
    return read_inputs(store, scores), model, version
