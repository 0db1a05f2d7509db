"""The churn evaluation job: fit the churn model as of a test cutoff, score the horizon after it.

The model never sees events on or after the test cutoff; its labels come from the horizon after it.
Two reference rules sit beside it in the table, as the issue's anchors: days since the last purchase
(the recency rule) and a logistic regression on four RFM features (recency, orders, spend, tenure).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from reco.customers.churn import ChurnModel, signed_log1p, training_set
from reco.customers.features import check_events, churn_labels
from reco.evaluation import calibration_table, classification_metrics
from reco.evaluation.classification import calibration_lines, metrics_lines
from reco.exceptions import InputError

logger = logging.getLogger(__name__)

EVENT_COLUMNS = ("customer_id", "item_id", "timestamp", "event_type", "quantity", "price", "order_id", "channel",
                 "discount", "coupon_discount")
RFM = ["recency_days", "orders", "spend", "tenure_days"]


def evaluate_churn(events: pd.DataFrame, test_cutoff: pd.Timestamp | None = None, horizon_days: float = 90.0,
                   marketing: pd.DataFrame | None = None, **params: Any) -> dict[str, Any]:
    """Metrics of the churn model and the two reference rules at ``test_cutoff`` (default: last event - H).

    ``marketing``: campaign contacts and redemptions where the data has them (never after the cutoff)."""
    events = check_events(events)
    horizon = pd.Timedelta(days=float(horizon_days))
    last = events["timestamp"].max()
    cut = pd.Timestamp(test_cutoff) if test_cutoff is not None else (last - horizon).normalize()
    if cut + horizon > last + pd.Timedelta(days=1):
        raise InputError(f"test cutoff {cut:%Y-%m-%d} + {horizon_days} days runs past the last event "
                         f"({last:%Y-%m-%d}); choose a cutoff on or before {last - horizon:%Y-%m-%d}", source="events")
    started = time.perf_counter()
    past = events[events["timestamp"] < cut]
    if marketing is not None:
        marketing = marketing[pd.to_datetime(marketing["timestamp"]) < cut]
    built: dict[pd.Timestamp, pd.DataFrame] = {}  # the model's training features, reused for the RFM rule
    model = ChurnModel(horizon_days=horizon_days, **params).fit_events(past, now=cut, marketing=marketing,
                                                                       features=built)
    fit_seconds = time.perf_counter() - started
    x = model.features(events, cut, marketing)
    y = churn_labels(events, x.index, cut, horizon_days).to_numpy()
    p = model.predict_proba(x)
    train_x, train_y = training_set(past, [pd.Timestamp(c) for c in model.cutoffs_], horizon_days, marketing, built)
    rfm = make_pipeline(FunctionTransformer(signed_log1p), StandardScaler(), LogisticRegression(max_iter=2000))
    rfm.fit(train_x[RFM].fillna(0), train_y.to_numpy())
    rows = {
        "churn_model": classification_metrics(y, p),
        "recency_rule": classification_metrics(y, _as_probability(x["recency_days"].to_numpy())),
        "rfm_logistic": classification_metrics(y, rfm.predict_proba(x[RFM].fillna(0))[:, 1]),
    }
    return {
        "test_cutoff": f"{cut:%Y-%m-%d}", "horizon_days": horizon_days, "estimator": model.kind_,
        "validation_auc": model.validation_, "training_cutoffs": model.cutoffs_, "training_rows": model.training_rows_,
        "fit_seconds": round(fit_seconds, 2), "marketing_rows": 0 if marketing is None else len(marketing),
        "models": rows,
        "calibration": calibration_table(y, p).reset_index(names="predicted_bin").to_dict(orient="records"),
    }


def _as_probability(days: np.ndarray) -> np.ndarray:
    """Recency as a score in [0, 1) (monotone, so the AUC is the rule's own; the Brier score is not meaningful)."""
    return days / (days.max() + 1.0)


def format_churn(result: dict[str, Any]) -> str:
    lines = [f"churn within {result['horizon_days']:g} days of {result['test_cutoff']} "
             f"({result['models']['churn_model']['customers']:,} customers, "
             f"base rate {result['models']['churn_model']['base_rate']:.3f}); model: {result['estimator']}",
             *metrics_lines(result["models"]), *calibration_lines(result["calibration"], "churn model")]
    return "\n".join(lines)
