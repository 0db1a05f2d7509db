"""The offer-response model on dunnhumby's real campaigns (issue 15, part 3).

Unit: a campaign contact (household x campaign, dated by the campaign's start); label: the household
redeemed at least one of that campaign's coupons. Train on campaigns starting before 2017-08-01, test on
the others. ``reco.offers.response`` builds the features as of each contact and chooses its model on the
latest 30% of the training contacts (never on the test ones). Baselines of the same run: past
redemptions, the number of the campaign's coupon products bought in the last 90 days, and a logistic
regression on recency, frequency, spend, affinity and past response.

The data is read from the raw files here; reading it from the store (offers and outcomes) comes with
the dunnhumby preset's offers. Prints a table and one final JSON line (target: AUC >= 0.77).
Usage: python benchmarks/offers.py
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reco.offers.response import ContactData, ResponseModel, contact_features  # noqa: E402

DATA = ROOT.parent / "shared" / "datasets" / "dunnhumby_complete_journey"
SPLIT = pd.Timestamp("2017-08-01")
TARGET_AUC = 0.77


def load() -> tuple[pd.DataFrame, ContactData]:
    tx = pd.read_csv(DATA / "transactions.csv.gz", usecols=["household_id", "basket_id", "product_id", "sales_value",
                                                            "coupon_disc", "coupon_match_disc",
                                                            "transaction_timestamp"],
                     dtype={"household_id": str, "basket_id": str, "product_id": str},
                     parse_dates=["transaction_timestamp"])
    purchases = pd.DataFrame({"customer_id": tx["household_id"], "item_id": tx["product_id"],
                              "timestamp": tx["transaction_timestamp"], "order_id": tx["basket_id"],
                              "value": tx["sales_value"],
                              "discount": -(tx["coupon_disc"] + tx["coupon_match_disc"])})
    campaigns = pd.read_csv(DATA / "campaigns.csv.gz", dtype=str)
    described = pd.read_csv(DATA / "campaign_descriptions.csv.gz", dtype={"campaign_id": str},
                            parse_dates=["start_date", "end_date"])
    coupons = pd.read_csv(DATA / "coupons.csv.gz", dtype=str)
    redeemed = pd.read_csv(DATA / "coupon_redemptions.csv.gz", dtype=str)
    redeemed["redemption_date"] = pd.to_datetime(redeemed["redemption_date"])
    contacts = campaigns.merge(described, on="campaign_id").rename(
        columns={"household_id": "customer_id", "campaign_id": "offer_id", "start_date": "at"})
    pairs = set(zip(redeemed["household_id"], redeemed["campaign_id"], strict=True))
    contacts["y"] = [int((c, o) in pairs) for c, o in zip(contacts["customer_id"], contacts["offer_id"], strict=True)]
    data = ContactData(
        purchases=purchases,
        redemptions=pd.DataFrame({"customer_id": redeemed["household_id"], "offer_id": redeemed["campaign_id"],
                                  "timestamp": redeemed["redemption_date"]}),
        offer_items=coupons.rename(columns={"campaign_id": "offer_id", "product_id": "item_id"})[
            ["offer_id", "item_id"]].drop_duplicates(),
        offer_types=dict(zip(described["campaign_id"], described["campaign_type"].str.replace("Type ", ""),
                             strict=True)),
    )
    return contacts, data


def metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    top = np.argsort(-p)[: max(1, len(p) // 10)]
    return {"auc": round(float(roc_auc_score(y, p)), 4), "pr_auc": round(float(average_precision_score(y, p)), 4),
            "brier": round(float(brier_score_loss(y, np.clip(p, 0, 1))), 4) if p.max() <= 1 else None,
            "lift_top_decile": round(float(y[top].mean() / y.mean()), 2)}


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    started = time.perf_counter()
    contacts, data = load()
    loaded = time.perf_counter() - started
    x = contact_features(contacts, data)
    built = time.perf_counter() - started - loaded
    y = contacts["y"].to_numpy()
    train = (contacts["at"] < SPLIT).to_numpy()
    test = ~train
    model = ResponseModel().fit(x[train], y[train], contacts.loc[train, "at"])
    rows = {"response_model": metrics(y[test], model.predict_proba(x[test])),
            "past_redemptions": metrics(y[test], x.loc[test, "prior_redemptions"].to_numpy()),
            "offer_items_bought_90d": metrics(y[test], x.loc[test, "offer_items_bought_90d"].to_numpy())}
    simple = ["recency_days", "baskets", "spend", "offer_items_bought", "offer_items_bought_90d", "prior_redemptions",
              "prior_offers_redeemed", "prior_contacts"]
    logistic = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    logistic.fit(np.log1p(x.loc[train, simple].clip(lower=0)), y[train])
    rows["logistic_rfm_affinity_response"] = metrics(
        y[test], logistic.predict_proba(np.log1p(x.loc[test, simple].clip(lower=0)))[:, 1])
    print(f"\noffers: {len(contacts):,} contacts, train {train.sum():,} (positive {y[train].mean():.3f}), test "
          f"{test.sum():,} (positive {y[test].mean():.3f}); chosen: {model.kind_} {model.validation_}")
    print(f"{'model':<34}{'ROC AUC':>9}{'PR AUC':>9}{'Brier':>9}{'lift@10%':>10}")
    for name, m in rows.items():
        brier = f"{m['brier']:.4f}" if m["brier"] is not None else "-"
        print(f"{name:<34}{m['auc']:>9.4f}{m['pr_auc']:>9.4f}{brier:>9}{m['lift_top_decile']:>10.2f}")
    best_baseline = max(v["auc"] for k, v in rows.items() if k != "response_model")
    auc = rows["response_model"]["auc"]
    print(json.dumps({"benchmark": "offers", "contacts": len(contacts), "train": int(train.sum()),
                      "test": int(test.sum()), "chosen": model.kind_, "validation_auc": model.validation_,
                      "models": rows, "load_seconds": round(loaded, 1), "feature_seconds": round(built, 1),
                      "target_auc": TARGET_AUC,
                      "meets_target": bool(auc >= TARGET_AUC and auc > best_baseline)}))


if __name__ == "__main__":
    main()
