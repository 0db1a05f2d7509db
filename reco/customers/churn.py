"""Churn propensity: P(no purchase within ``horizon_days``), with up to three plain-language reasons.

Training stacks several historical cutoffs (features before each, labels from the horizon after it);
the latest cutoff is ``now - horizon_days``, so every label is known by ``now``. The estimator is a
scikit-learn Pipeline (log transform, imputation, scaling, then a classifier calibrated by
cross-validation) chosen among ``CANDIDATES`` on a validation cutoff whose horizon does not overlap
the labels it was trained on. Reasons are model-faithful: for each group of features, how much lower
the probability would be if the customer looked like a typical retained customer in that respect.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Self

import joblib
import numpy as np
import pandas as pd
import sklearn
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from reco.atomic import write_json, write_with
from reco.customers.features import FEATURES, check_events, churn_labels, customer_features
from reco.exceptions import ArtifactError, ConfigurationError, InputError, NotFittedError

logger = logging.getLogger(__name__)

CANDIDATES: tuple[str, ...] = ("logistic", "gbm")
# Feature groups a reason can name, and the features each group moves.
REASON_GROUPS: dict[str, tuple[str, ...]] = {
    "recency": ("recency_days", "overdue"),
    "frequency": ("orders", "orders_30d", "orders_90d", "orders_365d", "orders_per_month"),
    "trend": ("spend_90d", "spend_prev_90d", "spend_trend", "orders_prev_90d", "orders_trend"),
    "value": ("spend", "basket_value", "basket_items"),
    "tenure": ("tenure_days",),
    "rhythm": ("gap_mean", "gap_cv", "gap_last"),
    "breadth": ("distinct_items", "items_per_order"),
    "returns": ("return_orders_share", "return_value_share"),
    "promotions": ("discount_share", "coupon_share"),
    "campaigns": ("campaigns_total", "campaigns_90d", "redemptions_total", "redemptions_90d", "redemption_rate",
                  "days_since_redemption"),
}
MIN_REASON_EFFECT = 0.02  # a reason must move the probability by at least 2 points


def signed_log1p(x: np.ndarray) -> np.ndarray:
    """log(1 + |x|) with the sign kept: tames heavy-tailed counts and money without dropping negatives."""
    return np.sign(x) * np.log1p(np.abs(x))


def make_pipeline(kind: str, random_state: int = 42) -> Pipeline:
    """The candidate estimator ``kind`` (see ``CANDIDATES``), calibrated by 3-fold isotonic regression."""
    if kind == "logistic":
        classifier: Any = LogisticRegression(C=0.1, max_iter=5000)
    elif kind == "gbm":
        classifier = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.03, max_depth=3,
                                                    min_samples_leaf=100, l2_regularization=5.0,
                                                    random_state=random_state)
    else:
        raise ConfigurationError(f"unknown churn estimator {kind!r}; valid: {', '.join(CANDIDATES)}")
    return Pipeline([
        ("log", FunctionTransformer(signed_log1p, feature_names_out="one-to-one")),
        ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
        ("scale", StandardScaler()),
        ("classifier", CalibratedClassifierCV(classifier, method="isotonic", cv=3)),
    ])


def training_set(events: pd.DataFrame, cutoffs: list[pd.Timestamp], horizon_days: float,
                 marketing: pd.DataFrame | None = None,
                 features: dict[pd.Timestamp, pd.DataFrame] | None = None) -> tuple[pd.DataFrame, pd.Series]:
    """Features and labels stacked over ``cutoffs`` (a customer appears once per cutoff).

    ``features``: customer features by cutoff already built from these same events and marketing rows;
    missing ones are built and added, so callers that stack overlapping cutoffs build each once."""
    xs, ys = [], []
    for cut in cutoffs:
        x = features_at(events, cut, marketing, features)
        if x.empty:
            continue
        xs.append(x)
        ys.append(churn_labels(events, x.index, cut, horizon_days))
    if not xs:
        raise InputError(f"no customer has a purchase before any of the cutoffs {[f'{c:%Y-%m-%d}' for c in cutoffs]}",
                         source="events")
    return pd.concat(xs), pd.concat(ys)


def features_at(events: pd.DataFrame, cut: pd.Timestamp, marketing: pd.DataFrame | None,
                features: dict[pd.Timestamp, pd.DataFrame] | None) -> pd.DataFrame:
    """``customer_features`` at ``cut``, taken from / stored in ``features`` when given (see ``training_set``)."""
    if features is None:
        return customer_features(events, cut, marketing)
    if cut not in features:
        features[cut] = customer_features(events, cut, marketing)
    return features[cut]


class ChurnModel:
    """Calibrated churn propensity over ``horizon_days``, trained on ``cutoffs`` stacked cutoffs."""

    def __init__(self, horizon_days: float = 90.0, cutoffs: int = 4, spacing_days: float = 30.0,
                 estimator: str = "auto", random_state: int = 42) -> None:
        self.horizon_days = horizon_days
        self.cutoffs = cutoffs
        self.spacing_days = spacing_days
        self.estimator = estimator
        self.random_state = random_state

    def get_params(self) -> dict[str, Any]:
        return {"horizon_days": self.horizon_days, "cutoffs": self.cutoffs, "spacing_days": self.spacing_days,
                "estimator": self.estimator, "random_state": self.random_state}

    def _validate(self) -> None:
        if not (isinstance(self.horizon_days, int | float) and self.horizon_days > 0):
            raise ConfigurationError(f"horizon_days must be > 0, got {self.horizon_days!r}")
        if not (isinstance(self.cutoffs, int) and self.cutoffs >= 1):
            raise ConfigurationError(f"cutoffs must be an integer >= 1, got {self.cutoffs!r}")
        if not (isinstance(self.spacing_days, int | float) and self.spacing_days > 0):
            raise ConfigurationError(f"spacing_days must be > 0, got {self.spacing_days!r}")
        if self.estimator not in ("auto", *CANDIDATES):
            raise ConfigurationError(f"estimator {self.estimator!r} is not valid; valid: auto, {', '.join(CANDIDATES)}")

    def training_cutoffs(self, last: pd.Timestamp, first_event: pd.Timestamp) -> list[pd.Timestamp]:
        """``cutoffs`` dates, ``spacing_days`` apart, ending at ``last``, each with 30+ days of history."""
        dates = [last - pd.Timedelta(days=float(self.spacing_days) * j) for j in range(int(self.cutoffs))]
        return [d for d in dates if d - first_event >= pd.Timedelta(days=30)]

    def fit_events(self, events: pd.DataFrame, now: pd.Timestamp | None = None,
                   marketing: pd.DataFrame | None = None,
                   features: dict[pd.Timestamp, pd.DataFrame] | None = None) -> Self:
        """Choose the estimator (unless fixed) on a validation cutoff, then fit it on cutoffs ending at now - H.

        ``marketing`` (campaign contacts and redemptions, where the data has them) adds campaign features.
        ``features``: a dict to share customer features by cutoff with the caller (see ``training_set``);
        the validation and the final fit share two of their cutoffs either way."""
        self._validate()
        features = {} if features is None else features
        events = check_events(events)
        started = time.perf_counter()
        now = pd.Timestamp(now) if now is not None else events["timestamp"].max()
        first = events["timestamp"].min()
        horizon = pd.Timedelta(days=float(self.horizon_days))
        last = now - horizon
        cutoffs = self.training_cutoffs(last, first)
        if not cutoffs:
            raise InputError(f"events run {first:%Y-%m-%d} .. {now:%Y-%m-%d}: too short for a {self.horizon_days}-day "
                             f"horizon after 30 days of history", source="events")
        self.validation_: dict[str, float] = {}
        kind = self.estimator
        if kind == "auto":
            kind = self._choose(events, last, first, marketing, features)
        x, y = training_set(events, cutoffs, float(self.horizon_days), marketing, features)
        if y.nunique() < 2:
            raise InputError(f"every training customer has churn label {int(y.iloc[0])}; cannot learn", source="events")
        self.kind_ = kind
        self.pipeline_ = make_pipeline(kind, self.random_state).fit(x[list(FEATURES)], y.to_numpy())
        retained = x[y.to_numpy() == 0]
        self.reference_ = (retained if len(retained) else x).median().reindex(list(FEATURES))
        self.cutoffs_ = [f"{c:%Y-%m-%d}" for c in cutoffs]
        self.trained_until_ = now
        self.training_rows_ = len(y)
        self.training_churn_rate_ = float(y.mean())
        logger.info("churn: %s on %s rows from %d cutoffs (%s .. %s), churn rate %.3f, %.1fs", kind, f"{len(y):,}",
                    len(cutoffs), self.cutoffs_[-1], self.cutoffs_[0], self.training_churn_rate_,
                    time.perf_counter() - started)
        return self

    def _choose(self, events: pd.DataFrame, last: pd.Timestamp, first: pd.Timestamp,
                marketing: pd.DataFrame | None, features: dict[pd.Timestamp, pd.DataFrame]) -> str:
        """The candidate with the best AUC at ``last`` when trained on cutoffs whose labels end before it."""
        train_cuts = self.training_cutoffs(last - pd.Timedelta(days=float(self.horizon_days)), first)
        if not train_cuts:
            logger.info("churn: too little history for a validation cutoff; using gbm")
            return "gbm"
        x, y = training_set(events, train_cuts, float(self.horizon_days), marketing, features)
        xv = features_at(events, last, marketing, features)
        yv = churn_labels(events, xv.index, last, float(self.horizon_days))
        if y.nunique() < 2 or yv.nunique() < 2:
            return "gbm"
        for kind in CANDIDATES:
            model = make_pipeline(kind, self.random_state).fit(x[list(FEATURES)], y.to_numpy())
            self.validation_[kind] = float(roc_auc_score(yv, model.predict_proba(xv[list(FEATURES)])[:, 1]))
        best = max(self.validation_, key=self.validation_.__getitem__)
        logger.info("churn: validation AUC at %s: %s -> %s", f"{last:%Y-%m-%d}",
                    ", ".join(f"{k} {v:.4f}" for k, v in self.validation_.items()), best)
        return best

    # ---------------------------------------------------------------- scoring
    def _check_fitted(self) -> None:
        if not hasattr(self, "pipeline_"):
            raise NotFittedError("this ChurnModel is not fitted yet; call fit_events (or load) first")

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """P(churn) for each row of ``customer_features`` output."""
        self._check_fitted()
        missing = [f for f in FEATURES if f not in features.columns]
        if missing:
            raise InputError(f"missing feature column(s) {missing}", source="churn features")
        # Isotonic calibration can return exactly 0 or 1; nobody is certain to stay or to go.
        return np.clip(self.pipeline_.predict_proba(features[list(FEATURES)])[:, 1], 0.001, 0.999)

    def score(self, events: pd.DataFrame, at: pd.Timestamp | None = None,
              marketing: pd.DataFrame | None = None) -> pd.DataFrame:
        """Every customer with a purchase before ``at`` (default: after the last event): probability, reasons."""
        self._check_fitted()
        events = check_events(events)
        at = pd.Timestamp(at) if at is not None else events["timestamp"].max() + pd.Timedelta(seconds=1)
        return self.score_features(customer_features(events, at, marketing))

    def score_features(self, features: pd.DataFrame) -> pd.DataFrame:
        """Probability and reasons for each row of ``customer_features`` output (same index)."""
        prob = self.predict_proba(features) if len(features) else np.zeros(0)
        reasons = self.reasons(features, prob)
        return pd.DataFrame({"churn_probability": prob, "churn_reasons": reasons}, index=features.index)

    def reasons(self, features: pd.DataFrame, prob: np.ndarray | None = None, limit: int = 3) -> list[list[str]]:
        """Up to ``limit`` sentences per customer, the groups whose typical-customer value lowers P most."""
        self._check_fitted()
        if not len(features):
            return []
        prob = self.predict_proba(features) if prob is None else prob
        effects = {}
        for group, columns in REASON_GROUPS.items():
            moved = features.copy()
            for c in columns:
                moved[c] = self.reference_[c]
            effects[group] = prob - self.predict_proba(moved)
        names = list(effects)
        table = np.column_stack([effects[g] for g in names])
        order = np.argsort(-table, axis=1, kind="stable")
        out = []
        for r, (_, row) in enumerate(features.iterrows()):
            sentences = [text for j in order[r] if table[r, j] >= MIN_REASON_EFFECT
                         for text in [describe(names[j], row, self.reference_)] if text][:limit]
            if not sentences and prob[r] >= 0.5:
                # Saturated scores: no single group moves them alone, so name where the customer is worst off
                # against a typical retained customer, in order of effect.
                sentences = [text for j in order[r] for text in [describe(names[j], row, self.reference_)]
                             if text][:limit]
            out.append(sentences)
        return out

    # ---------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> None:
        """``path/`` with ``churn.json`` (parameters, reference values) and ``pipeline.joblib``."""
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        write_with(path / "pipeline.joblib", lambda tmp: joblib.dump(self.pipeline_, tmp))
        write_json(path / "churn.json", {
            "params": self.get_params(), "kind": self.kind_, "sklearn_version": sklearn.__version__,
            "features": list(FEATURES), "reference": {k: optional_float(v) for k, v in self.reference_.items()},
            "validation_auc": self.validation_, "cutoffs": self.cutoffs_,
            "trained_until": self.trained_until_.isoformat(),
            "training_rows": self.training_rows_, "training_churn_rate": self.training_churn_rate_,
        })

    @classmethod
    def load(cls, path: str | Path) -> ChurnModel:
        path = Path(path)
        try:
            meta = json.loads((path / "churn.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ArtifactError(f"cannot read churn model at {path}: {exc}") from exc
        if meta.get("sklearn_version") != sklearn.__version__:
            raise ArtifactError(f"churn model at {path} was trained with scikit-learn {meta.get('sklearn_version')}; "
                                f"this environment has {sklearn.__version__}: retrain it (reco score customers)")
        if meta.get("features") != list(FEATURES):
            raise ArtifactError(f"churn model at {path} uses other features than this reco; retrain it")
        model = cls(**meta["params"])
        model.pipeline_ = joblib.load(path / "pipeline.joblib")
        model.kind_ = meta["kind"]
        model.reference_ = pd.Series({k: np.nan if v is None else v for k, v in meta["reference"].items()},
                                     dtype=float).reindex(list(FEATURES))
        model.validation_ = meta["validation_auc"]
        model.cutoffs_ = meta["cutoffs"]
        model.trained_until_ = pd.Timestamp(meta["trained_until"])
        model.training_rows_ = meta["training_rows"]
        model.training_churn_rate_ = meta["training_churn_rate"]
        return model


def optional_float(value: object) -> float | None:
    """A float, or None for a missing value (None, NaN, NaT): what JSON and API responses carry."""
    return None if value is None or pd.isna(value) else float(value)  # type: ignore[arg-type]


def describe(group: str, row: pd.Series, reference: pd.Series) -> str | None:
    """A sentence a marketer can read for one reason group, from the customer's own numbers, or None when
    the customer is not worse than a typical retained customer in that respect (the sentence would mislead)."""
    if group == "recency":
        days = row["recency_days"]
        if days <= reference["recency_days"]:
            return None
        if pd.notna(row["gap_mean"]) and row["gap_mean"] >= 1 and row["overdue"] >= 1.5:
            return (f"no purchase for {days:.0f} days, {row['overdue']:.1f}x their usual gap of "
                    f"{row['gap_mean']:.0f} days")
        return f"no purchase for {days:.0f} days"
    if group == "frequency":
        if row["orders"] <= 1:
            return "only one order so far"
        if row["orders_365d"] >= reference["orders_365d"]:
            return None
        return f"{row['orders_365d']:.0f} orders in the last year (typical: {reference['orders_365d']:.0f})"
    if group == "trend":
        before, recent = row["spend_prev_90d"], row["spend_90d"]
        if before > 0 and recent < 0.8 * before:
            return f"spend down {100 * (1 - max(recent, 0) / before):.0f}% on the previous quarter"
        if row["orders_prev_90d"] > row["orders_90d"]:
            return (f"{row['orders_90d']:.0f} orders in the last 90 days, down from "
                    f"{row['orders_prev_90d']:.0f} in the 90 before")
        return None
    if group == "value":
        if row["basket_value"] >= reference["basket_value"]:
            return None
        return (f"small baskets: {row['basket_value']:.2f} per order on average "
                f"(typical: {reference['basket_value']:.2f})")
    if group == "tenure":
        if row["tenure_days"] >= reference["tenure_days"]:
            return None
        return f"new customer: first purchase {row['tenure_days']:.0f} days ago"
    if group == "rhythm":
        if pd.isna(row["gap_mean"]) or pd.isna(reference["gap_mean"]) or row["gap_mean"] <= reference["gap_mean"]:
            return None
        return (f"buys rarely: {row['gap_mean']:.0f} days between orders on average "
                f"(typical: {reference['gap_mean']:.0f})")
    if group == "breadth":
        if row["distinct_items"] >= reference["distinct_items"]:
            return None
        return f"narrow basket: {row['distinct_items']:.0f} different products bought"
    if group == "returns":
        if row["return_orders_share"] <= max(reference["return_orders_share"], 0):
            return None
        return f"returned goods on {100 * row['return_orders_share']:.0f}% of orders"
    if group == "promotions":
        share = max(row["discount_share"], row["coupon_share"])
        if share <= max(reference["discount_share"], reference["coupon_share"]):
            return None
        return f"buys mostly on promotion ({100 * share:.0f}% of orders)"
    if group == "campaigns":
        if row["campaigns_total"] <= 0 or row["redemption_rate"] >= reference["redemption_rate"]:
            return None
        if row["redemptions_total"] == 0:
            return f"redeemed none of the {row['campaigns_total']:.0f} campaigns they received"
        return (f"redeems few offers: {row['redemptions_total']:.0f} redemptions from "
                f"{row['campaigns_total']:.0f} campaigns")
    return None
