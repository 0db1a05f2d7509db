"""Churn propensity on the real retail logs: the churn model against the recency rule and RFM logistic.

Online Retail: features before 2011-09-01, 90-day horizon (the model trains on cutoffs up to
2011-06-03, whose labels end by the test cutoff). dunnhumby: test cutoff 2017-10-01. Issue 4's target
on Online Retail: AUC >= 0.77 and Brier <= 0.20. Usage: python benchmarks/churn.py --dataset NAME
Prints the table, the calibration table and one final JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.datasets import DATASETS  # noqa: E402
from benchmarks.retail import load_store  # noqa: E402
from training.churn import EVENT_COLUMNS, evaluate_churn, format_churn  # noqa: E402

TEST_CUTOFF = {"online_retail": "2011-09-01", "dunnhumby": "2017-10-01"}
ANCHORS = {"online_retail": {"recency_rule": 0.672, "rfm_logistic": 0.749, "published_strict_split": 0.62}}
TARGET = {"online_retail": {"auc": 0.77, "brier": 0.20}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="online_retail")
    parser.add_argument("--horizon-days", type=float, default=90.0)
    parser.add_argument("--fresh", action="store_true", help="re-ingest the log")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    store = load_store(args.dataset, args.fresh)
    events = store.read_events(("purchase", "return"), columns=EVENT_COLUMNS)
    marketing = store.read_marketing()
    result = evaluate_churn(events, pd.Timestamp(TEST_CUTOFF[args.dataset]), args.horizon_days, marketing=marketing)
    print(format_churn(result))
    model = result["models"]["churn_model"]
    target = TARGET.get(args.dataset)
    summary = {"benchmark": "churn", "dataset": args.dataset, **{k: round(model[k], 4) for k in
                                                                 ("auc", "pr_auc", "brier", "lift_top_decile")},
               "base_rate": round(model["base_rate"], 4), "customers": model["customers"],
               "estimator": result["estimator"], "validation_auc": result["validation_auc"],
               "fit_seconds": result["fit_seconds"], "marketing_rows": result["marketing_rows"],
               "references": {k: round(v["auc"], 4) for k, v in result["models"].items() if k != "churn_model"},
               "issue_anchors": ANCHORS.get(args.dataset), "target": target,
               "meets_target": None if target is None else bool(model["auc"] >= target["auc"]
                                                                and model["brier"] <= target["brier"]),
               "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
