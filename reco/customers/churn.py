"""Churn propensity: P(no purchase within ``horizon_days``), with up to three plain-language reasons.

Training stacks several historical cutoffs (features before each, labels from the horizon after it);
the latest cutoff is ``now - horizon_days``, so every label is known by ``now``. The estimator is a
scikit-learn Pipeline (log transform, imputation, scaling, then a classifier calibrated by
cross-validation) chosen among ``CANDIDATES`` on a validation cutoff whose horizon does not overlap
the labels it was trained on. Besides the purchase-history features, a customer's product mix
(``TasteEmbedding``, learnt from the purchases before ``now``) joins the features: on Online Retail
it adds about 0.004 AUC on the validation and the test cutoff (benchmarks/churn.py). Reasons are
model-faithful: for each group of features, how much lower the probability would be if the customer
looked like a typical retained customer in that respect.
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
from sklearn.ensemble import HistGradientBoostingClassifier, VotingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from reco.atomic import write_json, write_with
from reco.customers.features import FEATURES, check_events, churn_labels, customer_features
from reco.customers.taste import TasteEmbedding, taste_columns
from reco.exceptions import ArtifactError, ConfigurationError, InputError, NotFittedError

logger = logging.getLogger(__name__)

CANDIDATES: tuple[str, ...] = ("logistic", "gbm", "blend")
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


def _calibrated(kind: str, random_state: int) -> CalibratedClassifierCV:
    """Logistic regression or shallow gradient boosting, calibrated by 3-fold isotonic regression."""
    if kind == "logistic":
        classifier: Any = LogisticRegression(C=0.1, max_iter=5000)
    else:
        classifier = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.03, max_depth=3,
                                                    min_samples_leaf=100, l2_regularization=5.0,
                                                    random_state=random_state)
    return CalibratedClassifierCV(classifier, method="isotonic", cv=3)


def make_pipeline(kind: str, random_state: int = 42) -> Pipeline:
    """The candidate estimator ``kind`` (see ``CANDIDATES``); ``blend`` averages the other two's probabilities."""
    if kind in ("logistic", "gbm"):
        classifier: Any = _calibrated(kind, random_state)
    elif kind == "blend":
        classifier = VotingClassifier([(k, _calibrated(k, random_state)) for k in ("logistic", "gbm")],
                                      voting="soft")
    else:
        raise ConfigurationError(f"unknown churn estimator {kind!r}; valid: {', '.join(CANDIDATES)}")
    return Pipeline([
        ("log", FunctionTransformer(signed_log1p, feature_names_out="one-to-one")),
        ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
        ("scale", StandardScaler()),
        ("classifier", classifier),
    ])


def purchases_before(events: pd.DataFrame, cut: pd.Timestamp) -> pd.DataFrame:
    """The purchase rows strictly before ``cut``: what features at ``cut`` may see."""
    return events[(events["event_type"] == "purchase") & (events["timestamp"] < cut)]


def with_taste(x: pd.DataFrame, events: pd.DataFrame, cut: pd.Timestamp, taste: TasteEmbedding | None
               ) -> pd.DataFrame:
    """Customer features at ``cut`` joined with their product-mix columns, from the purchases before it
    (``x`` itself without an embedding)."""
    return x if taste is None else x.join(taste.transform(purchases_before(events, cut), x.index))


def training_set(events: pd.DataFrame, cutoffs: list[pd.Timestamp], horizon_days: float,
                 marketing: pd.DataFrame | None = None,
                 features: dict[pd.Timestamp, pd.DataFrame] | None = None,
                 taste: TasteEmbedding | None = None) -> tuple[pd.DataFrame, pd.Series]:
    """Features and labels stacked over ``cutoffs`` (a customer appears once per cutoff).

    ``features``: customer features by cutoff already built from these same events and marketing rows;
    missing ones are built and added, so callers that stack overlapping cutoffs build each once.
    ``taste``: a product-mix embedding whose columns join each cutoff's features."""
    xs, ys = [], []
    for cut in cutoffs:
        x = features_at(events, cut, marketing, features)
        if x.empty:
            continue
        x = with_taste(x, events, cut, taste)
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
                 estimator: str = "auto", taste_components: int = 16, random_state: int = 42) -> None:
        self.horizon_days = horizon_days
        self.cutoffs = cutoffs
        self.spacing_days = spacing_days
        self.estimator = estimator
        self.taste_components = taste_components
        self.random_state = random_state

    def get_params(self) -> dict[str, Any]:
        return {"horizon_days": self.horizon_days, "cutoffs": self.cutoffs, "spacing_days": self.spacing_days,
                "estimator": self.estimator, "taste_components": self.taste_components,
                "random_state": self.random_state}

    @property
    def feature_names(self) -> list[str]:
        """The columns the model reads: ``FEATURES``, then the product-mix columns when it uses them."""
        return [*FEATURES, *taste_columns(self.taste_components)]

    def _validate(self) -> None:
        if not (isinstance(self.horizon_days, int | float) and self.horizon_days > 0):
            raise ConfigurationError(f"horizon_days must be > 0, got {self.horizon_days!r}")
        if not (isinstance(self.cutoffs, int) and self.cutoffs >= 1):
            raise ConfigurationError(f"cutoffs must be an integer >= 1, got {self.cutoffs!r}")
        if not (isinstance(self.spacing_days, int | float) and self.spacing_days > 0):
            raise ConfigurationError(f"spacing_days must be > 0, got {self.spacing_days!r}")
        if self.estimator not in ("auto", *CANDIDATES):
            raise ConfigurationError(f"estimator {self.estimator!r} is not valid; valid: auto, {', '.join(CANDIDATES)}")
        if not (isinstance(self.taste_components, int) and self.taste_components >= 0):
            raise ConfigurationError(f"taste_components must be an integer >= 0 (0: no product-mix features), "
                                     f"got {self.taste_components!r}")

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
        self.taste_ = self._taste(events, now + pd.Timedelta(seconds=1))
        x, y = training_set(events, cutoffs, float(self.horizon_days), marketing, features, self.taste_)
        if y.nunique() < 2:
            what = ("bought nothing" if int(y.iloc[0]) == 1 else "bought again")
            raise InputError(
                f"every one of the {len(y):,} training customers {what} within {self.horizon_days:g} days of their "
                f"cutoff ({', '.join(f'{c:%Y-%m-%d}' for c in cutoffs)}), so there is nothing to tell apart; the "
                f"history as of {now:%Y-%m-%d} may not reach up to it (check the as-of time) or is too short",
                source="events")
        self.kind_ = kind
        self.pipeline_ = make_pipeline(kind, self.random_state).fit(x[self.feature_names], y.to_numpy())
        retained = x[y.to_numpy() == 0]
        self.reference_ = (retained if len(retained) else x).median().reindex(self.feature_names)
        self.cutoffs_ = [f"{c:%Y-%m-%d}" for c in cutoffs]
        self.trained_until_ = now
        self.training_rows_ = len(y)
        self.training_churn_rate_ = float(y.mean())
        logger.info("churn: %s on %s rows from %d cutoffs (%s .. %s), churn rate %.3f, %.1fs", kind, f"{len(y):,}",
                    len(cutoffs), self.cutoffs_[-1], self.cutoffs_[0], self.training_churn_rate_,
                    time.perf_counter() - started)
        return self

    def _taste(self, events: pd.DataFrame, until: pd.Timestamp) -> TasteEmbedding | None:
        """The product-mix embedding learnt from the purchases before ``until`` (None when switched off)."""
        if not self.taste_components:
            return None
        return TasteEmbedding(self.taste_components, self.random_state).fit(purchases_before(events, until))

    def _choose(self, events: pd.DataFrame, last: pd.Timestamp, first: pd.Timestamp,
                marketing: pd.DataFrame | None, features: dict[pd.Timestamp, pd.DataFrame]) -> str:
        """The candidate with the best AUC at ``last`` when trained on cutoffs whose labels end before it
        (the embedding, too, sees only purchases before ``last``); the blend is scored as the mean of the two."""
        train_cuts = self.training_cutoffs(last - pd.Timedelta(days=float(self.horizon_days)), first)
        if not train_cuts:
            logger.info("churn: too little history for a validation cutoff; using gbm")
            return "gbm"
        taste = self._taste(events, last)
        x, y = training_set(events, train_cuts, float(self.horizon_days), marketing, features, taste)
        xv = with_taste(features_at(events, last, marketing, features), events, last, taste)
        yv = churn_labels(events, xv.index, last, float(self.horizon_days))
        if y.nunique() < 2 or yv.nunique() < 2:
            return "gbm"
        probabilities = {}
        for kind in ("logistic", "gbm"):
            model = make_pipeline(kind, self.random_state).fit(x[self.feature_names], y.to_numpy())
            probabilities[kind] = model.predict_proba(xv[self.feature_names])[:, 1]
        probabilities["blend"] = (probabilities["logistic"] + probabilities["gbm"]) / 2
        for kind in CANDIDATES:
            self.validation_[kind] = float(roc_auc_score(yv, probabilities[kind]))
        best = max(self.validation_, key=self.validation_.__getitem__)
        logger.info("churn: validation AUC at %s: %s -> %s", f"{last:%Y-%m-%d}",
                    ", ".join(f"{k} {v:.4f}" for k, v in self.validation_.items()), best)
        return best

    # ---------------------------------------------------------------- scoring
    def _check_fitted(self) -> None:
        if not hasattr(self, "pipeline_"):
            raise NotFittedError("this ChurnModel is not fitted yet; call fit_events (or load) first")

    def features(self, events: pd.DataFrame, at: pd.Timestamp, marketing: pd.DataFrame | None = None
                 ) -> pd.DataFrame:
        """What the model reads at ``at``: ``customer_features`` and, when used, the product-mix columns."""
        self._check_fitted()
        events = check_events(events)
        at = pd.Timestamp(at)
        return with_taste(customer_features(events, at, marketing), events, at, self.taste_)

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """P(churn) for each row of ``features`` output."""
        self._check_fitted()
        missing = [f for f in self.feature_names if f not in features.columns]
        if missing:
            raise InputError(f"missing feature column(s) {missing}; build them with ChurnModel.features",
                             source="churn features")
        # Isotonic calibration can return exactly 0 or 1; nobody is certain to stay or to go.
        return np.clip(self.pipeline_.predict_proba(features[self.feature_names])[:, 1], 0.001, 0.999)

    def score(self, events: pd.DataFrame, at: pd.Timestamp | None = None,
              marketing: pd.DataFrame | None = None) -> pd.DataFrame:
        """Every customer with a purchase before ``at`` (default: after the last event): probability, reasons."""
        self._check_fitted()
        events = check_events(events)
        at = pd.Timestamp(at) if at is not None else events["timestamp"].max() + pd.Timedelta(seconds=1)
        return self.score_features(self.features(events, at, marketing))

    def score_features(self, features: pd.DataFrame) -> pd.DataFrame:
        """Probability and reasons for each row of ``features`` output (same index)."""
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
        groups = {**REASON_GROUPS, "taste": tuple(taste_columns(self.taste_components))}
        for group, columns in groups.items():
            if not columns:
                continue
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
                         for text in [describe(names[j], row, self.reference_, table[r, j])] if text][:limit]
            if not sentences and prob[r] >= 0.5:
                # Saturated scores: no single group moves them alone, so name where the customer is worst off
                # against a typical retained customer, in order of effect.
                sentences = [text for j in order[r]
                             for text in [describe(names[j], row, self.reference_, table[r, j])] if text][:limit]
            out.append(sentences)
        return out

    # ---------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> None:
        """``path/`` with ``churn.json`` (parameters, reference values) and ``pipeline.joblib``."""
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        write_with(path / "pipeline.joblib", lambda tmp: joblib.dump(self.pipeline_, tmp))
        if self.taste_ is not None:
            self.taste_.save(path)
        write_json(path / "churn.json", {
            "params": self.get_params(), "kind": self.kind_, "sklearn_version": sklearn.__version__,
            "features": self.feature_names,
            "reference": {k: optional_float(v) for k, v in self.reference_.items()},
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
        model = cls(**meta["params"])
        if meta.get("features") != model.feature_names:
            raise ArtifactError(f"churn model at {path} uses other features than this reco; retrain it")
        model.pipeline_ = joblib.load(path / "pipeline.joblib")
        model.taste_ = TasteEmbedding.load(path) if model.taste_components else None
        model.kind_ = meta["kind"]
        model.reference_ = pd.Series({k: np.nan if v is None else v for k, v in meta["reference"].items()},
                                     dtype=float).reindex(model.feature_names)
        model.validation_ = meta["validation_auc"]
        model.cutoffs_ = meta["cutoffs"]
        model.trained_until_ = pd.Timestamp(meta["trained_until"])
        model.training_rows_ = meta["training_rows"]
        model.training_churn_rate_ = meta["training_churn_rate"]
        return model


def optional_float(value: object) -> float | None:
    """A float, or None for a missing value (None, NaN, NaT): what JSON and API responses carry."""
    return None if value is None or pd.isna(value) else float(value)  # type: ignore[arg-type]


def describe(group: str, row: pd.Series, reference: pd.Series, effect: float = 0.0) -> str | None:
    """A sentence a marketer can read for one reason group, from the customer's own numbers, or None when
    the customer is not worse than a typical retained customer in that respect (the sentence would mislead).
    ``effect``: how much lower P(churn) would be with the group at its typical retained value; the product
    mix has no one number to compare, so its sentence needs a positive effect."""
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
    if group == "taste":
        if effect <= 0:
            return None
        return "product mix like that of customers who stopped buying"
    if group == "campaigns":
        if row["campaigns_total"] <= 0 or row["redemption_rate"] >= reference["redemption_rate"]:
            return None
        if row["redemptions_total"] == 0:
            return f"redeemed none of the {row['campaigns_total']:.0f} campaigns they received"
        return (f"redeems few offers: {row['redemptions_total']:.0f} redemptions from "
                f"{row['campaigns_total']:.0f} campaigns")
    return None
