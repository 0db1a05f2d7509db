"""Scale: a synthetic purchase log (default 10M purchases, 1M customers, 100k items) through the real
train -> save -> export path; prints seconds and peak memory (RSS) per stage and one final JSON line.

The log has power-law item popularity and repeat buying: every customer has three staple items that
make up 40% of their purchases. Customer activity is skewed too. Usage:
python benchmarks/scale.py [--purchases N --customers N --items N] [--skip-export]
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reco.export import write_recommendations  # noqa: E402
from reco.interactions import IdMapping  # noqa: E402
from reco.models import DEFAULT_MODEL, RecentPopularityRecommender, model_classes  # noqa: E402
from reco.registry import ModelRegistry  # noqa: E402
from reco.service import RecommendationService  # noqa: E402

STAGES: list[dict[str, object]] = []


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


class stage:  # noqa: N801 - used as a context manager name
    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> None:
        self.started = time.perf_counter()
        logging.info("stage %s ...", self.name)

    def __exit__(self, *exc: object) -> None:
        seconds = time.perf_counter() - self.started
        STAGES.append({"stage": self.name, "seconds": round(seconds, 1), "peak_rss_gib": round(peak_gib(), 2)})
        logging.info("stage %s: %.1fs, peak RSS %.2f GiB", self.name, seconds, peak_gib())


def synthetic_log(purchases: int, customers: int, items: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    popularity = 1.0 / (np.arange(items) + 10.0) ** 1.05
    popularity /= popularity.sum()
    activity = 1.0 / (np.arange(customers) + 50.0) ** 0.7
    activity /= activity.sum()
    who = rng.choice(customers, size=purchases, p=activity)
    staples = rng.choice(items, size=(customers, 3), p=popularity)
    repeat = rng.random(purchases) < 0.4
    what = np.where(repeat, staples[who, rng.integers(0, 3, size=purchases)],
                    rng.choice(items, size=purchases, p=popularity))
    when = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365 * 86400, size=purchases), unit="s")
    return pd.DataFrame({"customer_id": pd.Series(who).map("c{:07d}".format),
                         "item_id": pd.Series(what).map("i{:06d}".format), "timestamp": when})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--purchases", type=int, default=10_000_000)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--skip-export", action="store_true")
    parser.add_argument("--model", choices=sorted(model_classes()), default=DEFAULT_MODEL)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    with tempfile.TemporaryDirectory(dir=ROOT / "var" if (ROOT / "var").exists() else None) as tmp:
        with stage("generate"):
            events = synthetic_log(args.purchases, args.customers, args.items)
        with stage("id mapping"):
            mapping = IdMapping(np.sort(events["customer_id"].unique()), np.sort(events["item_id"].unique()))
            now = events["timestamp"].max()
        with stage(f"fit {args.model}"):
            model = model_classes()[args.model]().fit_events(events, mapping, now=now)
        with stage("fit fallback"):
            fallback = RecentPopularityRecommender(window_days=14).fit_events(events, mapping, now=now)
        with stage("save"):
            registry = ModelRegistry(Path(tmp) / "models")
            version = registry.save({args.model: model, "popularity": fallback}, mapping,
                                    {"default_model": args.model, "fallback_model": "popularity",
                                     "data": {"last_event": now.isoformat()}})
        with stage("load"):
            bundle = registry.load(version)
            catalogue = pd.DataFrame({"item_id": mapping.item_ids, "name": mapping.item_ids})
            service = RecommendationService(bundle, catalogue)
        export = None
        if not args.skip_export:
            with stage("export top-10, all customers"):
                export = write_recommendations(service, mapping.user_ids, events, Path(tmp) / "recs.parquet", n=10)
    print(f"\nscale: {args.purchases:,} purchases, {mapping.n_users:,} customers, {mapping.n_items:,} items")
    print(f"{'stage':<32}{'seconds':>10}{'peak RSS GiB':>14}")
    for s in STAGES:
        print(f"{s['stage']:<32}{s['seconds']:>10}{s['peak_rss_gib']:>14}")
    print(json.dumps({"benchmark": "scale", "purchases": args.purchases, "customers": mapping.n_users,
                      "items": mapping.n_items, "stages": STAGES, "export_rows": export and export["rows"],
                      "peak_rss_gib": round(peak_gib(), 2), "within_24_gib": peak_gib() < 24}))


if __name__ == "__main__":
    main()
