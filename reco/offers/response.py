"""P(redeem | customer, offer, as of the contact): features from history before the contact, and a model
chosen on a later validation period of the training contacts, never on the test contacts.

A *contact* is one offer made to one customer at one time (``customer_id``, ``offer_id``, ``at``). Its
features use only what was known at ``at``:

- the customer: recency, baskets and spend (all history and the last 90 days), distinct items, coupon and
  discount use;
- customer x offer affinity: how many of the offer's items they bought (all history and the last 90
  days), how many lines, how long ago the last one;
- past response: earlier contacts, earlier contacts they redeemed, earlier redemptions;
- the offer: how many items it covers, and its type (one-hot of the ``offer_type`` a catalogue gives).

``ResponseModel.fit`` holds out the latest ``validation_share`` of the training contacts by time, picks
the candidate (logistic regression on log features, gradient boosting, or their average) with the best
validation ROC AUC, then refits it on all training contacts. Platt scaling is added when it lowers the
Brier score of the later half of the validation contacts (``_choose_calibration``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from reco.atomic import write_json
from reco.exceptions import ArtifactError, InputError, NotFittedError

logger = logging.getLogger(__name__)

NO_HISTORY_DAYS = 999.0  # recency of something never seen
FORMAT_VERSION = 2  # 2: the calibration


def _log1p_nonneg(x: np.ndarray) -> np.ndarray:
    return np.log1p(np.clip(x, 0, None))


@dataclass(frozen=True)
class ContactData:
    """What features are built from. ``purchases``: customer_id, item_id, timestamp, order_id, value,
    discount (money saved by coupons, >= 0); ``redemptions``: customer_id, offer_id, timestamp;
    ``offer_items``: offer_id, item_id; ``offer_types``: offer_id -> a type name (optional); ``history``:
    the contacts made so far (customer_id, offer_id, at), for past response; None: the contacts being
    described are the history (training, where every contact is in the past of the later ones)."""

    purchases: pd.DataFrame
    redemptions: pd.DataFrame
    offer_items: pd.DataFrame
    offer_types: dict[str, str]
    history: pd.DataFrame | None = None


CONTEXT_COLUMNS = ("offer_spend_per_basket", "basket_spend", "days_since_last_purchase", "usual_gap_days")


def contact_features(contacts: pd.DataFrame, data: ContactData) -> pd.DataFrame:
    """One row of features per contact (``contacts``: customer_id, offer_id, at), in its order."""
    return _described(contacts, data).drop(columns=list(CONTEXT_COLUMNS))


def contact_context(contacts: pd.DataFrame, data: ContactData) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``contact_features`` and, beside it, what a decision's value and reasons read (``CONTEXT_COLUMNS``:
    spend per basket on the offer's items and on a whole basket, days since the last purchase, the
    usual days between baskets; NaN where unknown), from the same pass over the history."""
    described = _described(contacts, data)
    return described.drop(columns=list(CONTEXT_COLUMNS)), described[list(CONTEXT_COLUMNS)]


def _described(contacts: pd.DataFrame, data: ContactData) -> pd.DataFrame:
    """Customer features are computed once per (customer, time) and affinity once per (customer, offer,
    time), then spread over the contacts: a batch of every customer x every offer at one time costs one
    pass over each customer's history, not one per offer."""
    c = contacts.reset_index(drop=True)[["customer_id", "offer_id", "at"]].copy()
    c["at"] = pd.to_datetime(c["at"])
    keys = c[["customer_id", "at"]].drop_duplicates().reset_index(drop=True)
    keys["key"] = np.arange(len(keys))
    c = c.merge(keys, on=["customer_id", "at"], how="left")
    p = data.purchases
    past = keys.merge(p, on="customer_id")
    past = past[past["timestamp"] < past["at"]]
    age = (past["at"] - past["timestamp"]).dt.total_seconds() / 86400.0
    past = past.assign(age=age.to_numpy(), recent=(age <= 90).to_numpy())
    by = past.groupby("key")
    per = pd.DataFrame(index=keys["key"])
    per["recency_days"] = by["age"].min()
    per["baskets"] = by["order_id"].nunique()
    per["spend"] = by["value"].sum()
    per["distinct_items"] = by["item_id"].nunique()
    per["coupon_lines"] = (past["discount"] > 0).groupby(past["key"]).sum()
    per["coupon_saved"] = by["discount"].sum()
    recent = past[past["recent"]].groupby("key")
    per["baskets_90d"] = recent["order_id"].nunique()
    per["spend_90d"] = recent["value"].sum()
    history = data.history if data.history is not None else c[["customer_id", "offer_id", "at"]]
    earlier = keys.merge(history[["customer_id", "at"]].rename(columns={"at": "then"}), on="customer_id")
    per["prior_contacts"] = earlier[earlier["then"] < earlier["at"]].groupby("key").size()
    r = data.redemptions
    red = keys.merge(r[["customer_id", "offer_id", "timestamp"]].rename(columns={"timestamp": "then"}),
                     on="customer_id")
    red = red[red["then"] < red["at"]]
    per["prior_redemptions"] = red.groupby("key").size()
    per["prior_offers_redeemed"] = red.groupby("key")["offer_id"].nunique()
    first = by["age"].max()
    per["_gap"] = ((first - per["recency_days"]) / (per["baskets"] - 1)).where(per["baskets"] > 1)

    pairs = c[["customer_id", "offer_id", "at", "key"]].drop_duplicates(["key", "offer_id"])
    affine = past[["key", "item_id", "order_id", "value", "age", "recent"]].merge(
        data.offer_items[data.offer_items["offer_id"].isin(pairs["offer_id"].unique())], on="item_id")
    affine = affine.merge(pairs[["key", "offer_id"]], on=["key", "offer_id"])
    by_offer = affine.groupby(["key", "offer_id"])
    pair = pd.DataFrame({"offer_items_bought": by_offer["item_id"].nunique(), "offer_lines": by_offer.size(),
                         "offer_last_days": by_offer["age"].min(), "_offer_spend": by_offer["value"].sum(),
                         "offer_items_bought_90d": affine[affine["recent"]].groupby(["key", "offer_id"])[
                             "item_id"].nunique()})
    out = c[["key", "offer_id"]].merge(pair, left_on=["key", "offer_id"], right_index=True, how="left")
    out = out.merge(per, left_on="key", right_index=True, how="left")
    sizes = data.offer_items.groupby("offer_id")["item_id"].nunique()
    out["offer_items"] = c["offer_id"].map(sizes).to_numpy()
    for name in sorted(set(data.offer_types.values())):
        out[f"type_{name}"] = (c["offer_id"].map(data.offer_types) == name).astype(float).to_numpy()
    out["day_of_year"] = c["at"].dt.dayofyear.to_numpy()  # the season of the contact
    context = pd.DataFrame({
        "offer_spend_per_basket": (out["_offer_spend"].fillna(0.0) / out["baskets"]).where(out["baskets"] > 0),
        "basket_spend": (out["spend"] / out["baskets"]).where(out["baskets"] > 0),
        "days_since_last_purchase": out["recency_days"], "usual_gap_days": out["_gap"]})
    features = out[[*FEATURES, *[col for col in out.columns if col.startswith("type_")], "day_of_year"]].copy()
    for column in ("recency_days", "offer_last_days"):
        features[column] = features[column].fillna(NO_HISTORY_DAYS)
    features = features.fillna(0.0).astype(float)
    return pd.concat([features, context], axis=1).reset_index(drop=True)


FEATURES = ("recency_days", "baskets", "spend", "distinct_items", "coupon_lines", "coupon_saved", "baskets_90d",
            "spend_90d", "offer_items_bought", "offer_lines", "offer_last_days", "offer_items_bought_90d",
            "prior_contacts", "prior_redemptions", "prior_offers_redeemed", "offer_items")


CANDIDATES = ("logistic", "gbm", "blend")
IDENTITY = (1.0, 0.0)  # no calibration: P = sigmoid(1 x logit(score) + 0) = score


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _platt(scores: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """P = sigmoid(slope x logit(score) + intercept), fitted by logistic regression (two parameters)."""
    fit = LogisticRegression(C=1e6, max_iter=1000).fit(_logit(scores).reshape(-1, 1), y)
    return float(fit.coef_[0, 0]), float(fit.intercept_[0])


def _choose_calibration(scores: np.ndarray, y: np.ndarray, times: np.ndarray) -> tuple[float, float]:
    """Platt scaling fitted on the earlier half of the validation contacts is kept only if it lowers the
    Brier score of the later half (then refitted on all of them); else none. A redemption rate that
    drifts between periods can make a calibration learnt on one period worse on the next: the data
    decides, never the test contacts."""
    order = np.argsort(times, kind="stable")
    first, second = order[: len(order) // 2], order[len(order) // 2:]
    if len(np.unique(y[first])) < 2 or len(np.unique(y[second])) < 2:
        return IDENTITY
    slope, intercept = _platt(scores[first], y[first])
    calibrated = 1.0 / (1.0 + np.exp(-(slope * _logit(scores[second]) + intercept)))
    if np.mean((calibrated - y[second]) ** 2) >= np.mean((scores[second] - y[second]) ** 2):
        return IDENTITY
    return _platt(scores, y)


def _pipeline(kind: str, random_state: int) -> Pipeline:
    if kind == "logistic":
        return make_pipeline(FunctionTransformer(_log1p_nonneg), StandardScaler(),
                             LogisticRegression(max_iter=4000, C=0.3))
    return make_pipeline(HistGradientBoostingClassifier(learning_rate=0.03, max_iter=300, max_leaf_nodes=7,
                                                        l2_regularization=1.0, random_state=random_state))


class ResponseModel:
    """Chooses and fits the response model (see the module docstring); scikit-learn conventions."""

    def __init__(self, validation_share: float = 0.3, random_state: int = 0) -> None:
        self.validation_share = validation_share
        self.random_state = random_state

    def fit(self, x: pd.DataFrame, y: np.ndarray, at: pd.Series) -> ResponseModel:
        y = np.asarray(y, dtype=int)
        if len(np.unique(y)) < 2:
            raise InputError(f"all {len(y):,} training contacts have response {int(y[0])}; nothing to learn")
        if not 0 < self.validation_share < 1:
            raise InputError(f"validation_share {self.validation_share!r} must be in (0, 1)")
        times = pd.to_datetime(at).to_numpy(dtype="datetime64[ns]")  # any unit in, nanoseconds for the cut
        cut = np.quantile(times.astype("int64"), 1 - self.validation_share).astype("datetime64[ns]")
        early = times < cut
        self.validation_: dict[str, float] = {}
        if len(np.unique(y[early])) == 2 and len(np.unique(y[~early])) == 2:
            scores = {}
            for kind in ("logistic", "gbm"):
                scores[kind] = _pipeline(kind, self.random_state).fit(x[early], y[early]).predict_proba(x[~early])[:, 1]
                self.validation_[kind] = round(float(roc_auc_score(y[~early], scores[kind])), 4)
            self.validation_["blend"] = round(float(roc_auc_score(y[~early], (scores["logistic"] + scores["gbm"]) / 2)),
                                              4)
            self.kind_ = max(CANDIDATES, key=lambda k: self.validation_[k])
            chosen = (scores["logistic"] + scores["gbm"]) / 2 if self.kind_ == "blend" else scores[self.kind_]
            self.calibration_ = _choose_calibration(chosen, y[~early], times[~early])
        else:
            self.kind_ = "logistic"
            self.calibration_ = IDENTITY
        kinds = ("logistic", "gbm") if self.kind_ == "blend" else (self.kind_,)
        self.pipelines_ = [_pipeline(kind, self.random_state).fit(x, y) for kind in kinds]
        self.features_ = list(x.columns)
        logger.info("offers: response model %s (validation AUC %s, calibration %s) on %s contacts", self.kind_,
                    self.validation_, "none" if self.calibration_ == IDENTITY else
                    "slope {:.3f}, intercept {:.3f}".format(*self.calibration_), f"{len(y):,}")
        return self

    def save(self, directory: Path) -> None:
        """``response.json`` (choice, features, validation) and one joblib file per fitted pipeline, as the
        ranker saves its classifier."""
        if not hasattr(self, "pipelines_"):
            raise NotFittedError("ResponseModel is not fitted; call fit first")
        directory.mkdir(parents=True, exist_ok=True)
        for k, pipeline in enumerate(self.pipelines_):
            joblib.dump(pipeline, directory / f"pipeline-{k}.joblib")
        write_json(directory / "response.json", {
            "format_version": FORMAT_VERSION, "kind": self.kind_, "features": self.features_,
            "validation": self.validation_, "pipelines": len(self.pipelines_), "calibration": list(self.calibration_),
            "params": {"validation_share": self.validation_share, "random_state": self.random_state}})

    @classmethod
    def load(cls, directory: Path) -> ResponseModel:
        """What ``save`` wrote; any damaged or missing file is an ArtifactError."""
        try:
            meta = json.loads((directory / "response.json").read_text(encoding="utf-8"))
            if meta.get("format_version") != FORMAT_VERSION:
                raise ArtifactError(f"response model at {directory} has format {meta.get('format_version')!r}; "
                                    f"this reco reads {FORMAT_VERSION}")
            model = cls(**meta["params"])
            model.kind_, model.features_, model.validation_ = meta["kind"], list(meta["features"]), meta["validation"]
            slope, intercept = meta["calibration"]
            model.calibration_ = (float(slope), float(intercept))
            model.pipelines_ = [joblib.load(directory / f"pipeline-{k}.joblib") for k in range(int(meta["pipelines"]))]
        except ArtifactError:
            raise
        except Exception as exc:  # a truncated joblib fails in many ways: one kind of error
            raise ArtifactError(f"cannot read the response model at {directory}: {type(exc).__name__}: {exc}") from exc
        return model

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        if not hasattr(self, "pipelines_"):
            raise NotFittedError("ResponseModel is not fitted; call fit first")
        x = x.reindex(columns=self.features_, fill_value=0.0)
        raw = np.mean([p.predict_proba(x)[:, 1] for p in self.pipelines_], axis=0)
        if self.calibration_ == IDENTITY:
            return raw
        slope, intercept = self.calibration_
        return 1.0 / (1.0 + np.exp(-(slope * _logit(raw) + intercept)))
