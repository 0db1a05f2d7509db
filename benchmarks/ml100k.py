"""MovieLens-100K under the Microsoft Recommenders protocol, to compare with their published table.

Protocol: per-user stratified random split 75/25 (seed 42); every rated item is relevant; items in a
user's training ratings are never recommended; k=10; precision = hits / k; recall = hits / |relevant|;
nDCG with binary gain; MAP = sum of precision at each hit / |relevant|. Their best row is BiVAE:
nDCG@10 0.475, P@10 0.412; the target here is nDCG@10 >= 0.49 and P@10 >= 0.42.

Hyperparameters are chosen by 10-fold cross-validation inside the training ratings, never on the
test ratings: each user's training ratings are shuffled (seed 42) and dealt into 10 folds; each fold
is held out once while the model fits on the other nine, and nDCG@10 is averaged over the folds.
Each validation fit thus sees 90% of the training ratings (67.5% of all), close to the final fit's
75% (a nested 75/25 split, used before, fitted on 56%), and every training rating is validated on
once. The closed-form models also read the training ratings' timestamps (``session_weight``: items
rated in one sitting count more); the test ratings' timestamps are never used. The data comes from
the recbole==1.2.1 wheel on PyPI and is cached under var/bench/.
Usage: python benchmarks/ml100k.py [--models dlae,ease,als,item_knn,bpr]
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reco.interactions import IdMapping  # noqa: E402
from reco.models import model_classes  # noqa: E402

CACHE = ROOT / "var" / "bench" / "ml-100k.inter"
MEMBER = "recbole/dataset_example/ml-100k/ml-100k.inter"
GRIDS = {
    "ease": {"regularization": [100.0, 250.0, 500.0, 1000.0], "session_weight": [0.0, 2.0, 4.0]},
    "dlae": {"regularization": [100.0, 300.0, 1000.0], "dropout": [0.5, 0.67, 0.75],
             "session_weight": [0.0, 2.0, 4.0]},
    "als": {"factors": [32, 64, 128], "regularization": [0.05, 1.0, 10.0], "alpha": [1.0, 5.0]},
    "item_knn": {"similarity": ["bm25", "cosine"], "neighbours": [50, 100, 200]},
    "bpr": {"factors": [64], "learning_rate": [0.01, 0.05], "regularization": [0.01, 0.05, 0.2], "iterations": [100]},
}
PUBLISHED_BEST = {"model": "BiVAE", "ndcg@10": 0.475, "precision@10": 0.412}
TARGET = {"ndcg@10": 0.49, "precision@10": 0.42}
VALIDATION_FOLDS = 10


def load_ratings() -> pd.DataFrame:
    if not CACHE.exists():
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "recbole==1.2.1",
                            "-d", tmp], check=True)
            wheel = next(Path(tmp).glob("recbole-1.2.1-*.whl"))
            with zipfile.ZipFile(wheel) as zf:
                CACHE.write_bytes(zf.read(MEMBER))
    df = pd.read_csv(CACHE, sep="\t")
    df.columns = [c.split(":")[0] for c in df.columns]
    df = df.rename(columns={"user_id": "customer_id", "item_id": "item_id"}).astype(
        {"customer_id": str, "item_id": str})
    return df.assign(timestamp=pd.to_datetime(df["timestamp"], unit="s"))


def stratified_split(df: pd.DataFrame, ratio: float = 0.75, seed: int = 42) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per user: shuffle their ratings with ``seed``, first ``ratio`` of them to training."""
    shuffled = df.sample(frac=1, random_state=seed).sort_values("customer_id", kind="stable")
    rank = shuffled.groupby("customer_id").cumcount()
    size = shuffled.groupby("customer_id")["item_id"].transform("size")
    in_train = rank < np.round(ratio * size)
    return shuffled[in_train], shuffled[~in_train]


def cross_validation_folds(df: pd.DataFrame, k: int = VALIDATION_FOLDS, seed: int = 42
                           ) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """Per user: shuffle their ratings with ``seed`` and deal them into ``k`` folds; (rest, fold) pairs."""
    shuffled = df.sample(frac=1, random_state=seed).sort_values("customer_id", kind="stable")
    fold = shuffled.groupby("customer_id").cumcount().to_numpy() % k
    return [(shuffled[fold != j], shuffled[fold == j]) for j in range(k)]


def metrics(recs: np.ndarray, relevant: list[set[int]], k: int = 10) -> dict[str, float]:
    ndcg, prec, rec, ap = [], [], [], []
    discounts = 1 / np.log2(np.arange(2, k + 2))
    for row, rel in zip(recs, relevant, strict=True):
        hits = np.array([i in rel for i in row[:k]], dtype=float)
        ideal = discounts[: min(len(rel), k)].sum()
        ndcg.append((hits * discounts).sum() / ideal)
        prec.append(hits.sum() / k)
        rec.append(hits.sum() / len(rel))
        ap.append((np.cumsum(hits) / np.arange(1, k + 1) * hits).sum() / len(rel))
    return {"ndcg@10": float(np.mean(ndcg)), "precision@10": float(np.mean(prec)),
            "recall@10": float(np.mean(rec)), "map": float(np.mean(ap))}


def run(model_name: str, params: dict, train: pd.DataFrame, test: pd.DataFrame) -> tuple[dict[str, float], float]:
    mapping = IdMapping(np.sort(train["customer_id"].unique()), np.sort(train["item_id"].unique()))
    u = mapping.user_indices(train["customer_id"])
    i = mapping.item_indices(train["item_id"])
    matrix = csr_matrix((np.ones(len(u), dtype=np.float32), (u, i)), shape=(mapping.n_users, mapping.n_items))
    model = model_classes()[model_name](**params)
    started = time.perf_counter()
    if params.get("session_weight"):
        model.fit_events(train, mapping)
    else:
        model.fit(matrix)
    fit_seconds = time.perf_counter() - started
    tu, ti = mapping.user_indices(test["customer_id"]), mapping.item_indices(test["item_id"])
    keep = (tu >= 0) & (ti >= 0)
    relevant = pd.Series(ti[keep]).groupby(tu[keep]).agg(set)
    users = relevant.index.to_numpy()
    ids, _ = model.recommend(users, matrix[users], n=10, filter_already_purchased=True)
    return metrics(ids, list(relevant)), fit_seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="dlae,ease,als,item_knn,bpr")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    ratings = load_ratings()
    train, test = stratified_split(ratings)
    validations = cross_validation_folds(train)
    rows = []
    for name in args.models.split(","):
        grid = GRIDS.get(name, {})
        best = None
        for values in itertools.product(*grid.values()):
            params = dict(zip(grid, values, strict=True))
            score = float(np.mean([run(name, params, fit, val)[0]["ndcg@10"] for fit, val in validations]))
            logging.info("%s %s validation nDCG@10 %.4f (mean of %d folds)", name, params, score, len(validations))
            if best is None or score > best[0]:
                best = (score, params)
        assert best is not None
        result, fit_seconds = run(name, best[1], train, test)
        rows.append({"dataset": "ml-100k", "model": name, **{k: round(v, 4) for k, v in result.items()},
                     "fit_seconds": round(fit_seconds, 2), "params": best[1],
                     "validation_ndcg@10": round(best[0], 4)})
    print(f"\nMovieLens-100K, {len(ratings):,} ratings, train {len(train):,} / test {len(test):,}")
    print(f"{'model':<10}{'nDCG@10':>9}{'P@10':>8}{'R@10':>8}{'MAP':>8}{'fit s':>8}  params (chosen on validation)")
    for r in sorted(rows, key=lambda r: -r["ndcg@10"]):
        print(f"{r['model']:<10}{r['ndcg@10']:>9.4f}{r['precision@10']:>8.4f}{r['recall@10']:>8.4f}{r['map']:>8.4f}"
              f"{r['fit_seconds']:>8.2f}  {r['params']}")
    print(f"published best: {PUBLISHED_BEST}; target: {TARGET}")
    best_row = max(rows, key=lambda r: r["ndcg@10"])
    summary = {k: best_row[k] for k in ("dataset", "model", "ndcg@10", "precision@10", "recall@10", "map",
                                        "fit_seconds")}
    summary["meets_target"] = all(best_row[k] >= v for k, v in TARGET.items())
    summary["all_models"] = rows
    summary["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
