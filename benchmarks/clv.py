"""Lifetime value on CDNOW: BG/NBD and Gamma-Gamma against the published estimates, and a holdout check.

The 1/10 sample (2,357 customers) from the lifetimes wheel; calibration 1997-01-01 .. 1997-09-30 in
weeks (Fader, Hardie & Lee 2005), holdout 1997-10-01 .. 1998-06-30 (39 weeks). The holdout check
compares predicted with actual repeat purchases per customer (MAE, total) against the naive "same rate
as before" forecast. Usage: python benchmarks/clv.py; prints a table and one final JSON line.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.datasets import fetch_cdnow_sample, read_cdnow  # noqa: E402
from reco.customers.clv import BetaGeoFitter, GammaGammaFitter, clv, rfm_summary  # noqa: E402

PUBLISHED = {"bgnbd": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
             "gamma_gamma": {"p": 6.25, "q": 3.74, "v": 15.44}}
CALIBRATION_END = pd.Timestamp("1997-09-30")
HOLDOUT_END = pd.Timestamp("1998-06-30")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    events = read_cdnow(fetch_cdnow_sample())
    summary = rfm_summary(events, CALIBRATION_END, unit_days=7)
    started = time.perf_counter()
    bgf = BetaGeoFitter().fit(summary)
    ggf = GammaGammaFitter().fit(summary)
    fit_seconds = time.perf_counter() - started
    holdout = events[(events["timestamp"] > CALIBRATION_END) & (events["timestamp"] <= HOLDOUT_END)]
    actual = (holdout.assign(day=holdout["timestamp"].dt.normalize()).groupby("customer_id")["day"].nunique()
              .reindex(summary.index, fill_value=0).to_numpy(dtype=float))
    weeks = (HOLDOUT_END - CALIBRATION_END).days / 7
    predicted = bgf.expected_purchases(weeks, summary)
    naive = summary["frequency"].to_numpy() / np.maximum(summary["T"].to_numpy(), 1e-9) * weeks
    value = clv(bgf, ggf, summary, months=12, monthly_discount=0.01, unit_days=7)
    rows = {"bgnbd": predicted, "same_rate_as_before": naive}
    holdout_stats = {name: {"mae": float(np.abs(p - actual).mean()), "total_predicted": float(p.sum()),
                            "total_error_pct": float(100 * (p.sum() / actual.sum() - 1))}
                     for name, p in rows.items()}
    print(f"\nCDNOW sample: {len(summary):,} customers, {int((summary['frequency'] > 0).sum())} repeat buyers; "
          f"holdout {weeks:.0f} weeks, {actual.sum():.0f} repeat purchases")
    print(f"{'parameter':<12}{'fitted':>10}{'published':>11}{'diff %':>8}")
    fitted = {"bgnbd": bgf.params_, "gamma_gamma": ggf.params_}
    for model, params in PUBLISHED.items():
        for name, ref in params.items():
            print(f"{name:<12}{fitted[model][name]:>10.4f}{ref:>11.3f}{100 * (fitted[model][name] / ref - 1):>8.2f}")
    print(f"{'forecast':<22}{'MAE':>8}{'total':>9}{'error %':>9}")
    for name, st in holdout_stats.items():
        print(f"{name:<22}{st['mae']:>8.3f}{st['total_predicted']:>9.0f}{st['total_error_pct']:>9.1f}")
    print(json.dumps({"benchmark": "clv", "dataset": "cdnow_sample", "customers": len(summary),
                      "fitted": {m: {k: round(v, 4) for k, v in p.items()} for m, p in fitted.items()},
                      "published": PUBLISHED, "within_1pct": all(abs(fitted[m][k] / v - 1) <= 0.01
                                                                 for m, p in PUBLISHED.items() for k, v in p.items()),
                      "holdout": {"weeks": round(weeks, 1), "actual_total": float(actual.sum()),
                                  **{k: {kk: round(vv, 4) for kk, vv in v.items()} for k, v in holdout_stats.items()}},
                      "mean_clv_12m": round(float(value.mean()), 2), "fit_seconds": round(fit_seconds, 3)}))


if __name__ == "__main__":
    main()
