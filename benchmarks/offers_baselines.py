"""First measurement of offer-response baselines on dunnhumby (issue 15, part 3), before the library has
a response model: each campaign contact (household x campaign) is labelled 1 when the household redeemed
one of the campaign's coupons; features are built as of the campaign's start from the raw files; train on
campaigns starting before 2017-08-01, test on the rest (the issue's split).

It reproduces the issue's anchors (past redemptions AUC 0.699, coupon products bought in the last 90
days 0.720) and tries a logistic regression and gradient boosting on these features. Caveat: the
feature set and the models were looked at on the test split here; the library's model (next) must
choose on a later validation period of the training campaigns only. Prints a table and one JSON line.
Usage: python benchmarks/offers_baselines.py  (about a minute)
"""

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

D = str(Path(__file__).resolve().parents[2] / "shared" / "datasets" / "dunnhumby_complete_journey") + "/"

t0 = time.time()
tx = pd.read_csv(
    D + "transactions.csv.gz",
    usecols=[
        "household_id",
        "basket_id",
        "product_id",
        "quantity",
        "sales_value",
        "retail_disc",
        "coupon_disc",
        "transaction_timestamp",
    ],
    parse_dates=["transaction_timestamp"],
)
camp = pd.read_csv(D + "campaigns.csv.gz")
desc = pd.read_csv(D + "campaign_descriptions.csv.gz", parse_dates=["start_date", "end_date"])
coup = pd.read_csv(D + "coupons.csv.gz")
red = pd.read_csv(D + "coupon_redemptions.csv.gz", parse_dates=["redemption_date"])
c = camp.merge(desc, on="campaign_id")
redeemed = red.groupby(["household_id", "campaign_id"]).size().rename("n_red").reset_index()
c = c.merge(redeemed, on=["household_id", "campaign_id"], how="left")
c["y"] = (c.n_red.fillna(0) > 0).astype(int)
print(c.shape, c.y.mean())
camp_prod = {k: set(v) for k, v in coup.groupby("campaign_id").product_id}
camp_size = coup.groupby("campaign_id").product_id.nunique()
camp_coupons = coup.groupby("campaign_id").coupon_upc.nunique()
rows = []
txg = tx.groupby("household_id")
hh_tx = {h: g for h, g in txg}
for r in c.itertuples():
    s = r.start_date
    g = hh_tx.get(r.household_id)
    past = g[g.transaction_timestamp < s] if g is not None else tx.iloc[:0]
    p90 = past[past.transaction_timestamp >= s - pd.Timedelta(days=90)]
    prods = camp_prod.get(r.campaign_id, set())
    inp = past[past.product_id.isin(prods)]
    inp90 = p90[p90.product_id.isin(prods)]
    prior = c[(c.household_id == r.household_id) & (c.start_date < s)]
    prior_red = red[(red.household_id == r.household_id) & (red.redemption_date < s)]
    rows.append(
        dict(
            recency=(s - past.transaction_timestamp.max()).days if len(past) else 999,
            baskets=past.basket_id.nunique(),
            baskets90=p90.basket_id.nunique(),
            spend=past.sales_value.sum(),
            spend90=p90.sales_value.sum(),
            coupon_disc=-past.coupon_disc.sum(),
            coupon_lines=(past.coupon_disc < 0).sum(),
            retail_disc=-past.retail_disc.sum(),
            n_prod_bought=inp.product_id.nunique(),
            n_prod_bought90=inp90.product_id.nunique(),
            lines_in=len(inp),
            lines_in90=len(inp90),
            share_in=len(inp) / max(len(past), 1),
            spend_in=inp.sales_value.sum(),
            last_in=(s - inp.transaction_timestamp.max()).days if len(inp) else 999,
            prior_contacts=len(prior),
            prior_redeemed=prior.y.sum() if len(prior) else 0,
            prior_red_count=len(prior_red),
            camp_size=camp_size.get(r.campaign_id, 0),
            camp_coupons=camp_coupons.get(r.campaign_id, 0),
            typeA=int(r.campaign_type == "Type A"),
            typeB=int(r.campaign_type == "Type B"),
            duration=(r.end_date - r.start_date).days,
            distinct_products=past.product_id.nunique(),
        )
    )
X = pd.DataFrame(rows)
print("features", time.time() - t0)
split = pd.Timestamp("2017-08-01")
tr = (c.start_date < split).values
te = ~tr
y = c.y.values
print("train", tr.sum(), y[tr].mean(), "test", te.sum(), y[te].mean())
results = {}


def rep(name, p):
    results[name] = {"auc": round(roc_auc_score(y[te], p), 4), "pr_auc": round(average_precision_score(y[te], p), 4)}
    print(f"{name:30s} AUC {results[name]['auc']:.4f} PR {results[name]['pr_auc']:.4f}")


rep("prior_red_count", X.prior_red_count[te] + 1e-3 * X.prior_redeemed[te])
rep("n_prod_bought90", X.n_prod_bought90[te])
base = [
    "recency",
    "baskets",
    "spend",
    "n_prod_bought",
    "n_prod_bought90",
    "prior_redeemed",
    "prior_red_count",
    "prior_contacts",
]
lr = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(np.log1p(X[base][tr].clip(lower=0)), y[tr])
rep("logistic base", lr.predict_proba(np.log1p(X[base][te].clip(lower=0)))[:, 1])
allf = list(X.columns)
lr2 = make_pipeline(StandardScaler(), LogisticRegression(max_iter=4000, C=0.3)).fit(
    np.log1p(X[allf][tr].clip(lower=0)), y[tr]
)
p_lr = lr2.predict_proba(np.log1p(X[allf][te].clip(lower=0)))[:, 1]
rep("logistic all", p_lr)
for lr_, it, leaf in ((0.05, 200, 15), (0.03, 300, 7), (0.05, 100, 31)):
    gb = HistGradientBoostingClassifier(learning_rate=lr_, max_iter=it, max_leaf_nodes=leaf, random_state=0).fit(
        X[allf][tr], y[tr]
    )
    p = gb.predict_proba(X[allf][te])[:, 1]
    rep(f"gbm {lr_} {it} {leaf}", p)
rep("blend", (p_lr + p) / 2)
print(
    json.dumps(
        {
            "benchmark": "offers_baselines",
            "contacts": len(c),
            "train": int(tr.sum()),
            "test": int(te.sum()),
            "test_positive_rate": round(float(y[te].mean()), 4),
            "models": results,
            "seconds": round(time.time() - t0, 1),
            "chosen_on": "test (exploration)",
        }
    )
)
