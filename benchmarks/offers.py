"""The offer-response model on dunnhumby's real campaigns (issue 15, part 3).

Unit: a campaign contact (household x campaign, dated by the campaign's start); label: the household
redeemed at least one of that campaign's coupons. Train on campaigns starting before 2017-08-01, test on
the others. ``reco.offers.response`` builds the features as of each contact and chooses its model on the
latest 30% of the training contacts (never on the test ones). Baselines of the same run: past
redemptions, the number of the campaign's coupon products bought in the last 90 days, and a logistic
regression on recency, frequency, spend, affinity and past response.

The data is read from the raw files here; reading it from the store (offers and outcomes) comes with
the dunnhumby preset's offers. Prints a table and one final JSON line (target: AUC >= 0.77).

Then the export's decisions (reco.offers.engine.decide_many, what ``reco export offers`` runs):

- for every dunnhumby household on the first day of the test period, the test campaigns as offers
  launched that day (their coupon products as scope, email, each campaign's real number of households
  as budget), every household taken as having marketing consent, the response model above;
- a synthetic shop of ``--customers`` customers (default 1,000,000) x ``--offers`` offers (default 50)
  with eight purchases each, caps and budgets, a response model fitted on its own contacts, written to
  Parquet: seconds and peak memory (target: <= 10 minutes and within 24 GiB on 2 cores).

Usage: python benchmarks/offers.py [--customers N] [--offers N] [--skip-synthetic]
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reco.offers import Offer  # noqa: E402
from reco.offers.engine import DecisionSettings, OfferInputs, decide_many, offer_stats  # noqa: E402
from reco.offers.policy import ContactPolicy  # noqa: E402
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


def dunnhumby_export(contacts: pd.DataFrame, data: ContactData, model: ResponseModel) -> dict[str, object]:
    """Decisions for every household on the first day of the test period, the eleven test campaigns as
    offers launched that day (each with its real number of households as budget). Of the decided pairs
    the households really got, how many redeemed, beside the rate of all real test contacts."""
    described = pd.read_csv(DATA / "campaign_descriptions.csv.gz", dtype={"campaign_id": str},
                            parse_dates=["start_date", "end_date"])
    launched = described[described["start_date"] >= SPLIT]
    sizes = contacts.groupby("offer_id").size()
    items = data.offer_items.groupby("offer_id")["item_id"].apply(list)
    offers = [Offer(offer_id=r.campaign_id, name=f"campaign {r.campaign_id}", kind="amount_off", value=1.0,
                    scope={"kind": "items", "items": tuple(items.get(r.campaign_id, ["none"]))}, channels=("email",),
                    valid_from=SPLIT, valid_until=r.end_date + pd.Timedelta(days=1),
                    budget_contacts=int(sizes.get(r.campaign_id, 0)), offer_type=r.campaign_type.replace("Type ", ""))
              for r in launched.itertuples()]
    households = sorted(data.purchases["customer_id"].unique())
    outcomes = pd.concat([
        pd.DataFrame({"customer_id": contacts["customer_id"], "offer_id": contacts["offer_id"], "outcome": "sent",
                      "channel": "email", "timestamp": contacts["at"], "decision_id": None}),
        data.redemptions.assign(outcome="redeemed", channel="store", decision_id=None)], ignore_index=True)
    outcomes = outcomes[outcomes["timestamp"] < SPLIT]
    inputs = OfferInputs(offers=offers, purchases=data.purchases.assign(channel="store"), outcomes=outcomes,
                         customers=pd.DataFrame({"customer_id": households, "consent_personalisation": True,
                                                 "consent_marketing": True, "preferred_channel": None}),
                         categories=pd.Series(dtype=object))
    started = time.perf_counter()
    decided = decide_many(inputs, model, ContactPolicy(), SPLIT.to_pydatetime(), households,
                          offer_stats(inputs, SPLIT.to_pydatetime()), DecisionSettings(n=1))
    seconds = time.perf_counter() - started
    real = contacts[contacts["at"] >= SPLIT]
    both = decided.merge(real, on=["customer_id", "offer_id"])
    return {"households": len(households), "offers": len(offers), "decisions": len(decided),
            "control": int(decided["control"].sum()), "seconds": round(seconds, 1),
            "decided_and_really_contacted": len(both),
            "their_redemption_rate": round(float(both["y"].mean()), 4) if len(both) else None,
            "all_test_contacts_redemption_rate": round(float(real["y"].mean()), 4)}


def synthetic_inputs(customers: int, n_offers: int, seed: int = 0) -> OfferInputs:
    """A shop of ``customers`` x eight purchases over 5,000 items in 50 categories, ``n_offers`` offers
    (category, item and basket scopes; email, sms and app; budgets; a fifth with rules) and two contacts
    of history per ten customers."""
    rng = np.random.default_rng(seed)
    ids = np.char.add("c", np.arange(customers).astype(str)).astype(object)
    per = 8
    rows = customers * per
    taste = rng.integers(0, 50, size=customers)
    category = np.where(rng.random(rows) < 0.6, np.repeat(taste, per), rng.integers(0, 50, size=rows))
    item = category * 100 + rng.integers(0, 100, size=rows)
    at = np.datetime64("2024-01-01") + rng.integers(0, 365 * 86400, size=rows).astype("timedelta64[s]")
    purchases = pd.DataFrame({"customer_id": np.repeat(ids, per), "item_id": np.char.add("i", item.astype(str)),
                              "timestamp": at, "order_id": np.char.add("o", (np.arange(rows) // 2).astype(str)),
                              "value": rng.gamma(2.0, 4.0, size=rows), "discount": 0.0,
                              "channel": rng.choice(np.array(["web", "app", "store"], dtype=object), size=rows)})
    purchases["item_id"] = purchases["item_id"].astype(object)
    categories = pd.Series([f"cat{k // 100}" for k in range(5000)], index=[f"i{k}" for k in range(5000)])
    offers = []
    for o in range(n_offers):
        kind = ("category", "items", "basket")[o % 3]
        scope = (f"category:cat{o % 50}" if kind == "category" else
                 "items:" + "|".join(f"i{(o * 97 + k) % 5000}" for k in range(20)) if kind == "items" else "basket")
        rules = [{"attribute": "days_since_last_purchase", "op": ">=", "value": 30}] if o % 5 == 4 else []
        offers.append(Offer.model_validate({
            "offer_id": f"o{o}", "name": f"offer {o}", "kind": "amount_off", "value": 2, "scope": scope,
            "channels": ("email|app", "sms|email", "app")[o % 3], "valid_from": "2024-01-01",
            "valid_until": "2025-06-01", "budget": int(customers * rng.uniform(0.005, 0.05)),
            "cost_per_contact": 0.01, "cost_per_redemption": 0.5, "rules": rules}))
    contacted = rng.choice(customers, size=customers // 5, replace=False)
    sent_at = np.datetime64("2024-06-01") + rng.integers(0, 180 * 86400, size=len(contacted)).astype("timedelta64[s]")
    offer_of = rng.integers(0, n_offers, size=len(contacted))
    offer_ids = np.char.add("o", offer_of.astype(str)).astype(object)
    sent = pd.DataFrame({"customer_id": ids[contacted], "offer_id": offer_ids, "outcome": "sent",
                         "channel": "email", "timestamp": sent_at, "decision_id": None})
    hit = rng.random(len(sent)) < 0.15
    redeemed = sent[hit].assign(outcome="redeemed", channel="store", timestamp=sent_at[hit] + np.timedelta64(3, "D"))
    consent = pd.DataFrame({"customer_id": ids, "consent_personalisation": rng.random(customers) < 0.9,
                            "consent_marketing": rng.random(customers) < 0.7,
                            "preferred_channel": rng.choice(np.array([None, "email", "app", "sms"], dtype=object),
                                                            size=customers)})
    return OfferInputs(offers=offers, purchases=purchases, outcomes=pd.concat([sent, redeemed], ignore_index=True),
                       customers=consent, categories=categories)


def synthetic_export(customers: int, n_offers: int) -> dict[str, object]:
    """Decide and write the export for the synthetic shop; seconds per step and peak memory."""
    from reco.offers.engine import contact_data, past_contacts

    started = time.perf_counter()
    inputs = synthetic_inputs(customers, n_offers)
    made = time.perf_counter() - started
    at = datetime(2025, 1, 1)
    contacts = past_contacts(inputs.outcomes)
    redeemed = set(zip(*[inputs.outcomes.loc[inputs.outcomes["outcome"] == "redeemed", c]
                         for c in ("customer_id", "offer_id")], strict=True))
    sample = contacts.sample(min(len(contacts), 30_000), random_state=0)
    y = np.array([int(p in redeemed) for p in zip(sample["customer_id"], sample["offer_id"], strict=True)])
    chosen = sample["customer_id"].unique()
    small = OfferInputs(offers=inputs.offers, purchases=inputs.purchases[inputs.purchases["customer_id"].isin(chosen)],
                        outcomes=inputs.outcomes[inputs.outcomes["customer_id"].isin(chosen)],
                        customers=inputs.customers, categories=inputs.categories)
    model = ResponseModel().fit(contact_features(sample, contact_data(small)), y, sample["at"])
    fitted = time.perf_counter() - started - made
    contactable = inputs.customers.loc[inputs.customers["consent_marketing"], "customer_id"].tolist()
    decided = decide_many(inputs, model, ContactPolicy(), at, contactable, offer_stats(inputs, at),
                          DecisionSettings(n=1), chunk_size=20_000)
    decided_s = time.perf_counter() - started - made - fitted
    with tempfile.TemporaryDirectory() as tmp:
        decided.assign(reasons=decided["reasons"].map("; ".join)).drop(columns=["policy"]).to_parquet(
            Path(tmp) / "nbo.parquet", index=False)
    total = time.perf_counter() - started - made - fitted
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return {"customers": customers, "offers": n_offers, "contactable": len(contactable), "decisions": len(decided),
            "make_seconds": round(made, 1), "model_seconds": round(fitted, 1), "decide_seconds": round(decided_s, 1),
            "export_seconds": round(total, 1), "peak_gib": round(peak_gib, 2),
            "meets_target": bool(total <= 600 and peak_gib <= 24)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--offers", type=int, default=50)
    parser.add_argument("--skip-synthetic", action="store_true")
    args = parser.parse_args()
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
    dunnhumby = dunnhumby_export(contacts, data, model)
    d = dunnhumby
    print(f"dunnhumby export: {d['households']:,} households x {d['offers']} test campaigns -> "
          f"{d['decisions']:,} decisions in {d['seconds']} s; of {d['decided_and_really_contacted']:,} "
          f"decided pairs really contacted, {dunnhumby['their_redemption_rate']} redeemed (all test contacts: "
          f"{dunnhumby['all_test_contacts_redemption_rate']})")
    synthetic = None if args.skip_synthetic else synthetic_export(args.customers, args.offers)
    if synthetic is not None:
        print(f"synthetic export: {synthetic['customers']:,} customers x {synthetic['offers']} offers -> "
              f"{synthetic['decisions']:,} decisions; export {synthetic['export_seconds']} s, peak "
              f"{synthetic['peak_gib']} GiB")
    print(json.dumps({"benchmark": "offers", "contacts": len(contacts), "train": int(train.sum()),
                      "test": int(test.sum()), "chosen": model.kind_, "validation_auc": model.validation_,
                      "models": rows, "load_seconds": round(loaded, 1), "feature_seconds": round(built, 1),
                      "target_auc": TARGET_AUC, "dunnhumby_export": dunnhumby, "synthetic_export": synthetic,
                      "meets_target": bool(auc >= TARGET_AUC and auc > best_baseline
                                           and (synthetic is None or synthetic["meets_target"]))}))


if __name__ == "__main__":
    main()
