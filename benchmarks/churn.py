"""Churn propensity on the real retail logs: the churn model against the recency rule and RFM logistic.

Online Retail: features before 2011-09-01, 90-day horizon (the model trains on cutoffs up to
2011-06-03, whose labels end by the test cutoff). dunnhumby: test cutoff 2017-10-01. Issue 4's target
on Online Retail: AUC >= 0.77 and Brier <= 0.20. Usage: python benchmarks/churn.py --dataset NAME
Prints the table, the calibration table, a same-season ceiling and one final JSON line.

The ceiling is not a model anyone can deploy: it cross-validates the churn pipelines on the test
cutoff's own customers and labels (5 and 20 folds), so training and test share the season. It shows
how much of the gap to a target the features could close at best, whatever the training cutoffs.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.datasets import DATASETS  # noqa: E402
from benchmarks.retail import load_store  # noqa: E402
from reco.customers.churn import make_pipeline, purchases_before, with_taste  # noqa: E402
from reco.customers.features import FEATURES, churn_labels, customer_features  # noqa: E402
from reco.customers.taste import TasteEmbedding, taste_columns  # noqa: E402
from training.churn import EVENT_COLUMNS, evaluate_churn, format_churn  # noqa: E402

TEST_CUTOFF = {"online_retail": "2011-09-01", "dunnhumby": "2017-10-01"}
ANCHORS = {"online_retail": {"recency_rule": 0.672, "rfm_logistic": 0.749, "published_strict_split": 0.62}}
TARGET = {"online_retail": {"auc": 0.77, "brier": 0.20}}


def same_season_ceiling(events: pd.DataFrame, cut: pd.Timestamp, horizon_days: float,
                        marketing: pd.DataFrame | None, taste_components: int) -> dict[str, dict[str, float]]:
    """AUC and Brier of each candidate cross-validated on the test cutoff's own labels (see the docstring)."""
    marketing = None if marketing is None else marketing[pd.to_datetime(marketing["timestamp"]) < cut]
    taste = TasteEmbedding(taste_components).fit(purchases_before(events, cut)) if taste_components else None
    x = with_taste(customer_features(events, cut, marketing), events, cut, taste)
    columns = [*FEATURES, *taste_columns(taste_components)]
    y = churn_labels(events, x.index, cut, horizon_days).to_numpy()
    out = {}
    for folds in (5, 20):
        for kind in ("logistic", "gbm", "blend"):
            p = cross_val_predict(make_pipeline(kind), x[columns], y, method="predict_proba",
                                  cv=StratifiedKFold(folds, shuffle=True, random_state=0))[:, 1]
            out[f"{kind}_{folds}fold"] = {"auc": round(float(roc_auc_score(y, p)), 4),
                                          "brier": round(float(brier_score_loss(y, np.clip(p, 0.001, 0.999))), 4)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="online_retail")
    parser.add_argument("--horizon-days", type=float, default=90.0)
    parser.add_argument("--taste-components", type=int, default=16,
                        help="product-mix components in the churn features (0: none)")
    parser.add_argument("--fresh", action="store_true", help="re-ingest the log")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    store = load_store(args.dataset, args.fresh)
    events = store.read_events(("purchase", "return"), columns=EVENT_COLUMNS)
    marketing = store.read_marketing()
    result = evaluate_churn(events, pd.Timestamp(TEST_CUTOFF[args.dataset]), args.horizon_days, marketing=marketing,
                            taste_components=args.taste_components)
    print(format_churn(result))
    ceiling = same_season_ceiling(events, pd.Timestamp(TEST_CUTOFF[args.dataset]), args.horizon_days, marketing,
                                  args.taste_components)
    print("same-season ceiling (cross-validated on the test cutoff's own labels; not deployable):")
    print(f"{'pipeline':<20}{'ROC AUC':>9}{'Brier':>8}")
    for name, row in ceiling.items():
        print(f"{name:<20}{row['auc']:>9.4f}{row['brier']:>8.4f}")
    model = result["models"]["churn_model"]
    target = TARGET.get(args.dataset)
    summary = {"benchmark": "churn", "dataset": args.dataset, **{k: round(model[k], 4) for k in
                                                                 ("auc", "pr_auc", "brier", "lift_top_decile")},
               "base_rate": round(model["base_rate"], 4), "customers": model["customers"],
               "estimator": result["estimator"], "taste_components": args.taste_components,
               "validation_auc": result["validation_auc"],
               "fit_seconds": result["fit_seconds"], "marketing_rows": result["marketing_rows"],
               "references": {k: round(v["auc"], 4) for k, v in result["models"].items() if k != "churn_model"},
               "same_season_ceiling": ceiling, "issue_anchors": ANCHORS.get(args.dataset), "target": target,
               "meets_target": None if target is None else bool(model["auc"] >= target["auc"]
                                                                and model["brier"] <= target["brier"]),
               "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
