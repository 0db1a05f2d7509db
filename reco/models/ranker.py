"""Learned two-stage ranker: candidates from five sources, ranked by gradient boosting.

Stage one proposes, per customer, every item they bought plus the best ``candidates`` items from each
of four sources (``SOURCES``): ALS, item-to-item co-purchase (cosine item-kNN over the customer's most
weighted items), the trend (recent popularity) and all-time popularity, so that whatever sells on a
given shop (its regulars' favourites, its best sellers, what goes with what) is among the candidates.
Stage two scores each (customer, item) candidate with the probability that the customer buys it in the
next window, from a gradient-boosted classifier (scikit-learn's HistGradientBoostingClassifier). It is
trained inside ``fit_events`` on the last ``cutoffs`` windows of the training data itself: features as of
each cutoff, labels from the window after it, so nothing after ``now`` is ever used. The features
describe how each customer re-buys each item (distinct purchase days, days since the last and first
purchase, own cycle and how overdue it is), the customer (breadth, recency, frequency), the item
(buyers, trend, share of buyers who re-buy it, its typical cycle, age, buyers in the same dates a year
ago) and the collaborative and co-purchase scores. The per-customer ones come from the model's input
matrix (``input_spec``: the recency-decayed weights plus the ``days``/``last``/``first`` channels), so
scoring needs nothing but a customer's row.

Discovery (recommending only never-bought items, task ``new``) is its own objective: a second classifier
learns which never-bought candidate is bought next from those candidates alone (``new_objective``), so
the likelier re-buys that dominate the first classifier's data do not decide how new items rank.

Windows are ``label_days`` long, unless the history is too short to hold ``cutoffs`` of them after some
history; then they shorten (``window_days``: weekly or bi-weekly on a log of a few months) so that a
short log still trains. Defaults and their measurements: docs/performance.md.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Self

import joblib
import numpy as np
import pandas as pd
import sklearn
from implicit.cpu.topk import topk
from scipy.sparse import csr_matrix
from sklearn.ensemble import HistGradientBoostingClassifier

from reco.exceptions import ArtifactError, ConfigurationError
from reco.interactions.idmapping import IdMapping
from reco.interactions.matrix import MatrixSpec
from reco.models.als import ALSRecommender, als_part, log1p_weights, restored_als_part
from reco.models.base import csr_from_state, csr_state, rank_within_rows, register
from reco.models.categories import (
    NO_CATEGORY,
    category_items,
    category_shares,
    category_since_last,
    customer_categories,
    item_category_codes,
    lookup,
    n_categories,
)
from reco.models.factors import FactorModel
from reco.models.item_knn import item_similarity

logger = logging.getLogger(__name__)

CHANNELS = ("days", "last", "first", "visits", "visits_since", "visit_decayed")
_BLOCKS = 1 + len(CHANNELS)  # weights, then one block per channel
FEATURES: tuple[str, ...] = (
    "bought", "decayed", "days", "since_last", "since_first", "cycle", "overdue", "days_share",
    "visits_since_last", "visit_decayed", "visit_share",
    "user_items", "user_since_last", "user_days_max", "user_tenure", "user_visits",
    "item_buyers", "item_trend", "item_repeat_share", "item_cycle", "item_age", "item_since_last",
    "item_recent", "item_last_year", "item_category_share",
    "category_share", "category_since_last",
    "copurchase", "copurchase_rel",
    "collab", "collab_rel",
)
SOURCES: tuple[str, ...] = ("history", "als", "copurchase", "category", "trend", "popular")
# Co-purchase candidates come from each customer's most weighted items: a bounded query (at most this many
# items times ``neighbours``) that follows what they buy now rather than everything they ever bought.
QUERY_ITEMS = 20
QUERY_CATEGORIES = 10  # likewise, category candidates come from each customer's most bought categories
MIN_WINDOW_DAYS = 7.0  # the shortest training window on a short log (a week of purchases to learn from)
_PRIOR_OFFSET = 4.0  # non-candidates score below every probability (in [0, 1])
# Customers whose candidate features are built at once (a few hundred candidates x 24 float32 features each).
FEATURE_BLOCK_USERS = 4_096


@register
class RankerRecommender(FactorModel):
    """Candidates (bought items, then the top N by ALS, co-purchase, trend, popularity) ranked by a classifier
    of next-window purchase, with its own classifier for never-bought items.

    ``fit`` on a matrix alone has no future window to learn from: it fits the candidate stage and
    ranks by a fixed prior (decayed repurchase, then ALS and trend); ``fit_events`` learns the ranker.
    """

    name = "ranker"
    supports_unknown_users = True

    def __init__(
        self,
        half_life_days: float = 120.0,
        trend_window_days: float = 14.0,
        label_days: float = 30.0,
        cutoffs: int = 6,
        candidates: int = 50,
        neighbours: int = 50,
        new_objective: bool = True,
        factors: int = 64,
        regularization: float = 0.05,
        alpha: float = 2.0,
        iterations: int = 15,
        max_iter: int = 150,
        learning_rate: float = 0.1,
        max_leaf_nodes: int = 31,
        negatives: float = 0.3,
        train_customers: int = 20_000,
        random_state: int = 42,
    ) -> None:
        self.half_life_days = half_life_days
        self.trend_window_days = trend_window_days
        self.label_days = label_days
        self.cutoffs = cutoffs
        self.candidates = candidates
        self.neighbours = neighbours
        self.new_objective = new_objective
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.negatives = negatives
        self.train_customers = train_customers
        self.random_state = random_state

    @property
    def input_spec(self) -> MatrixSpec:
        self._require("positive", "half_life_days")
        return MatrixSpec("recency", half_life_days=float(self.half_life_days), channels=CHANNELS)

    def _validate(self) -> None:
        self._require("positive", "half_life_days", "trend_window_days", "label_days", "learning_rate", "negatives")
        self._require("positive_int", "cutoffs", "candidates", "neighbours", "max_iter", "train_customers")
        if not isinstance(self.max_leaf_nodes, int) or self.max_leaf_nodes < 2:
            raise ConfigurationError(f"max_leaf_nodes must be an integer >= 2, got {self.max_leaf_nodes!r}")
        if not isinstance(self.new_objective, bool | np.bool_):
            raise ConfigurationError(f"new_objective must be True or False, got {self.new_objective!r}")

    def window_days(self, first: pd.Timestamp, now: pd.Timestamp) -> float:
        """Days between training cutoffs and of each label window: ``label_days``, unless the history is too
        short to hold ``cutoffs`` such windows after some history; then the span / (cutoffs + 1), at least 7
        days (weekly or bi-weekly windows on a log of a few months)."""
        span = (now - first).total_seconds() / 86400.0 if pd.notna(first) else 0.0
        wanted = float(self.label_days)
        if span >= wanted * (int(self.cutoffs) + 1):
            return wanted
        return max(MIN_WINDOW_DAYS, min(wanted, span / (int(self.cutoffs) + 1)))

    # ---------------------------------------------------------------- learning
    def fit_events(self, events: pd.DataFrame, mapping: IdMapping, now: pd.Timestamp | None = None) -> Self:
        """Learn the ranker on windows before ``now``, then fit the candidate stage on all events."""
        self._validate()
        ts = pd.to_datetime(events["timestamp"])
        now = pd.Timestamp(now) if now is not None else ts.max()
        spec = self.input_spec
        started = time.perf_counter()
        rng = np.random.default_rng(self.random_state)
        features, labels = [], []
        step = self.window_days(ts[ts < now].min(), now)
        categories = item_category_codes(events, mapping)
        logger.info("ranker: %s of %s items have a category (%s categories)", f"{(categories >= 0).sum():,}",
                    f"{mapping.n_items:,}", f"{n_categories(categories):,}")
        for j in range(1, int(self.cutoffs) + 1):
            cut = now - pd.Timedelta(days=step * j)
            end = cut + pd.Timedelta(days=step)
            past, future = events[ts < cut], events[(ts >= cut) & (ts < end)]
            if past.empty or future.empty:
                logger.info("ranker: no events on one side of cutoff %s; skipped", cut)
                continue
            matrix, _ = spec.build(past, now=cut, mapping=mapping, window=False)
            u = mapping.user_indices(future["customer_id"].astype(str))
            i = mapping.item_indices(future["item_id"].astype(str))
            known = (u >= 0) & (i >= 0)
            bought_next = np.unique(u[known].astype(np.int64) * mapping.n_items + i[known])
            users = np.unique(bought_next // mapping.n_items)
            users = users[np.diff(matrix.indptr)[users] > 0]
            if len(users) > self.train_customers:
                users = np.sort(rng.choice(users, int(self.train_customers), replace=False))
            if not len(users):
                continue
            stage = self._stage_one(matrix, self._last_year(events, ts, cut, mapping), categories)
            n_before = len(labels)
            for first in range(0, len(users), FEATURE_BLOCK_USERS):
                part = users[first:first + FEATURE_BLOCK_USERS]
                x, keys = stage.features(part, matrix[part], new_only=False)
                features.append(x)
                pairs = part[keys // mapping.n_items] * mapping.n_items + keys % mapping.n_items
                labels.append(np.isin(pairs, bought_next))
            cutoff_labels = np.concatenate(labels[n_before:])
            logger.info("ranker: cutoff %s: %s customers, %s candidates, %.1f%% positive (%.1fs)",
                        f"{cut:%Y-%m-%d}", f"{len(users):,}", f"{len(cutoff_labels):,}", 100 * cutoff_labels.mean(),
                        time.perf_counter() - started)
        matrix, _ = spec.build(events[ts < now], now=now, mapping=mapping, window=False)
        self._season = self._last_year(events, ts, now, mapping)
        self._categories = categories
        try:
            self.fit(matrix)
        finally:
            del self._season, self._categories
        y = np.concatenate(labels) if labels else np.zeros(0, dtype=bool)
        self.unlearned_: dict[str, str] = {}
        if y.sum() == 0 or y.all():
            span = f"{now - pd.Timedelta(days=step * int(self.cutoffs)):%Y-%m-%d} .. {now:%Y-%m-%d}"
            why = (f"its {len(y):,} training candidates from the {self.cutoffs} windows {span} were all of one "
                   "label (bought, or not bought, in the window after)" if labels else
                   f"none of the {self.cutoffs} windows {span} has purchases both before its cutoff and in the "
                   f"{step:g} days after it")
            self.unlearned_ = {"classifier": why}
            logger.warning("ranker: the classifier did not train (%s); ranking by the prior", why)
            return self
        x = np.concatenate(features)
        keep = y | (rng.random(len(y)) < float(self.negatives))
        x, y = x[keep], y[keep]
        self.classifier_ = self._classifier().fit(x, y)
        logger.info("ranker: classifier fitted on %s candidates (%.1fs in all)", f"{len(y):,}",
                    time.perf_counter() - started)
        new = x[:, FEATURES.index("bought")] == 0
        if self.new_objective and 0 < y[new].sum() < new.sum():
            # Discovery (task ``new``) is its own objective: which never-bought candidate is bought next,
            # learned from those candidates alone rather than alongside the far likelier re-buys.
            self.new_classifier_ = self._classifier().fit(x[new], y[new])
            logger.info("ranker: new-item classifier fitted on %s candidates (%.1fs in all)", f"{new.sum():,}",
                        time.perf_counter() - started)
        return self

    def _last_year(self, events: pd.DataFrame, ts: pd.Series, ref: pd.Timestamp, mapping: IdMapping) -> np.ndarray:
        """Buyers per item in the label window one year before ``ref``: seasonal demand (Christmas, summer)."""
        start = ref - pd.Timedelta(days=365)
        window = events[(ts >= start) & (ts < start + pd.Timedelta(days=float(self.label_days)))]
        if window.empty:
            return np.full(mapping.n_items, np.nan, dtype=np.float32)
        matrix, _ = MatrixSpec("binary").build(window, mapping=mapping)
        return np.log1p(np.asarray(matrix.sum(axis=0)).ravel()).astype(np.float32)

    def _classifier(self) -> HistGradientBoostingClassifier:
        return HistGradientBoostingClassifier(
            max_iter=int(self.max_iter), learning_rate=float(self.learning_rate),
            max_leaf_nodes=int(self.max_leaf_nodes), early_stopping=False, random_state=self.random_state)

    def _fit(self, user_items: csr_matrix) -> None:
        self._validate()
        stage = self._stage_one(user_items, getattr(self, "_season", None), getattr(self, "_categories", None))
        self._cf = stage.cf
        self.item_stats_ = stage.item_stats
        self.item_category_ = stage.codes
        self._orders = item_orders(self.item_stats_)  # once, not per scoring call
        self._category_items = stage.category_items
        self.knn_ = stage.knn
        self.classifier_ = None
        self.new_classifier_ = None
        self._set_factors(stage.cf.user_factors_, stage.cf.item_factors_)

    def _stage_one(self, user_items: csr_matrix, last_year: np.ndarray | None = None,
                   categories: np.ndarray | None = None) -> _StageOne:
        n_items = user_items.shape[1] // _BLOCKS
        weights = user_items[:, :n_items]
        logged = log1p_weights(weights)
        cf = als_part(self).fit(logged)
        stats = item_statistics(user_items, n_items, float(self.trend_window_days), float(self.label_days))
        seasonal = np.full((1, n_items), np.nan, dtype=np.float32) if last_year is None else last_year[None, :]
        codes = np.full(n_items, NO_CATEGORY, dtype=np.int32) if categories is None else categories
        knn = item_similarity(logged, "cosine", int(self.neighbours))
        buyers = np.expm1(stats[ITEM_STATS.index("buyers")].astype(np.float64))
        stats = np.vstack([stats, seasonal, category_shares(codes, buyers)[None, :]])
        return _StageOne(cf, stats, int(self.candidates), n_items, knn, codes)

    # ---------------------------------------------------------------- scoring
    def _stage(self) -> _StageOne:
        return _StageOne(self._cf, self.item_stats_, int(self.candidates), self.n_items_, self.knn_,
                         self.item_category_, self._orders, self._category_items)

    def _candidate_scores(
        self, user_ids: np.ndarray, user_items: csr_matrix, new_only: bool = False
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Classifier probabilities of the candidates; every other item's prior is below them (< 0)."""
        if self.classifier_ is None:
            return None
        x, keys = self._stage().features(user_ids, user_items, new_only=new_only)
        if not len(keys):
            return keys, np.zeros(0, dtype=np.float32)
        return keys, self._classifier_for(new_only).predict_proba(x)[:, 1].astype(np.float32)

    def _classifier_for(self, new_only: bool) -> HistGradientBoostingClassifier:
        """The new-item classifier when only never-bought items may be recommended (and it was learned)."""
        return self.new_classifier_ if new_only and self.new_classifier_ is not None else self.classifier_

    def candidate_sources(self, user_ids: np.ndarray, user_items: csr_matrix) -> dict[str, np.ndarray]:
        """The candidates stage one proposes for these customers, by source (keys ``row * n_items + item``):
        what ``reco evaluate`` measures as candidate recall."""
        self._check_fitted()
        return self._stage().candidate_sources(np.asarray(user_ids, dtype=np.int64), user_items)

    def _scores(self, user_ids: np.ndarray, user_items: csr_matrix, new_only: bool = False) -> np.ndarray:
        stage = self._stage()
        vectors = stage.vectors(user_ids, self.purchased(user_items))
        prior = stage.prior(user_items, vectors @ self._cf.item_factors_.T)
        if self.classifier_ is not None:
            x, keys = stage.features(user_ids, user_items, new_only=new_only, vectors=vectors)
            if len(keys):
                prob = self._classifier_for(new_only).predict_proba(x)[:, 1].astype(np.float32)
                prior[keys // self.n_items_, keys % self.n_items_] = prob
        return prior

    def explain(self, user_items_row: csr_matrix, item_ids: np.ndarray | list[int]) -> np.ndarray:
        """An item bought before explains itself; a new one, by its most similar purchase."""
        self._check_fitted()
        item_ids = np.asarray(item_ids, dtype=np.int64)
        row = self.purchased(user_items_row)
        because = self._cf.explain(row, item_ids)
        return np.where(np.isin(item_ids, row.indices), item_ids, because)

    # ---------------------------------------------------------------- persistence
    def _state(self) -> dict[str, np.ndarray]:
        return {**super()._state(), "item_stats": self.item_stats_,
                "sklearn_version": np.asarray(sklearn.__version__),
                "has_classifier": np.asarray(self.classifier_ is not None),
                "has_new_classifier": np.asarray(self.new_classifier_ is not None),
                "item_category": self.item_category_,
                **{f"knn_{k}": v for k, v in csr_state(self.knn_).items()}}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        if "item_category" not in arrays or "knn_data" not in arrays:
            raise ArtifactError("this ranker was saved by an earlier reco, without the co-purchase and category "
                                "candidates; retrain it (reco train)")
        super()._set_state(arrays)
        self.item_stats_ = arrays["item_stats"].astype(np.float32)
        self._orders = item_orders(self.item_stats_)
        self.item_category_ = arrays["item_category"].astype(np.int32)
        self._category_items = _StageOne.category_list(self.item_category_, self.item_stats_, int(self.candidates))
        self.knn_ = csr_from_state({k.removeprefix("knn_"): v for k, v in arrays.items() if k.startswith("knn_")})
        self._cf = restored_als_part(self)
        self._saved_sklearn = str(arrays["sklearn_version"])
        self._saved_classifier = bool(arrays["has_classifier"])
        self._saved_new_classifier = bool(arrays["has_new_classifier"])
        self.classifier_ = None
        self.new_classifier_ = None

    def _save_files(self, directory: Path) -> None:
        if self.classifier_ is not None:
            joblib.dump(self.classifier_, directory / "classifier.joblib")
        if self.new_classifier_ is not None:
            joblib.dump(self.new_classifier_, directory / "new_classifier.joblib")

    def _load_files(self, directory: Path) -> None:
        if not self._saved_classifier:
            return
        if self._saved_sklearn != sklearn.__version__:
            raise ArtifactError(f"model at {directory} was trained with scikit-learn {self._saved_sklearn}; this "
                                f"environment has {sklearn.__version__}: retrain it (reco train)")
        self.classifier_ = joblib.load(directory / "classifier.joblib")
        if self._saved_new_classifier:
            self.new_classifier_ = joblib.load(directory / "new_classifier.joblib")


ITEM_STATS = ("buyers", "trend", "repeat_share", "cycle", "age", "since_last", "recent", "last_year",
              "category_share")


def item_statistics(user_items: csr_matrix, n_items: int, trend_window_days: float, recent_days: float) -> np.ndarray:
    """Per item (``ITEM_STATS`` but the last): log buyers, log buyers in the trend window, share of buyers who
    bought on two or more days, median of their cycles (days between purchases), days since the first
    and the last sale, log buyers in the last ``recent_days``. From the weights + days/last/first blocks.
    ``last_year`` (buyers in the coming window's dates a year ago) needs events: see ``fit_events``;
    ``category_share`` the categories: see ``_stage_one``."""
    _, items, (_, days, last, first, *_) = split_blocks(user_items, n_items, _BLOCKS)
    last, first = last - 1, first - 1
    buyers = np.bincount(items, minlength=n_items).astype(np.float64)
    trend = np.bincount(items[last < trend_window_days], minlength=n_items)
    recent = np.bincount(items[last < recent_days], minlength=n_items)
    repeat = days >= 2
    repeaters = np.bincount(items[repeat], minlength=n_items)
    cycles = (first - last)[repeat] / (days[repeat] - 1)
    cycle = np.full(n_items, np.nan)
    if repeat.any():
        median = pd.Series(cycles).groupby(items[repeat]).median()
        cycle[median.index.to_numpy()] = median.to_numpy()
    age = np.full(n_items, np.nan)
    since = np.full(n_items, np.nan)
    if len(items):
        age_s = pd.Series(first).groupby(items).max()
        since_s = pd.Series(last).groupby(items).min()
        age[age_s.index.to_numpy()] = age_s.to_numpy()
        since[since_s.index.to_numpy()] = since_s.to_numpy()
    share = np.where(buyers > 0, repeaters / np.maximum(buyers, 1), np.nan)
    return np.vstack([np.log1p(buyers), np.log1p(trend), share, cycle, age, since, np.log1p(recent)]).astype(
        np.float32)


def item_orders(item_stats: np.ndarray) -> dict[str, np.ndarray]:
    """Items by trend (buyers in the trend window: recent popularity) and by buyers of all time, most first
    (ties by index): the candidates every customer gets from the two popularity sources."""
    return {"trend": np.argsort(-item_stats[ITEM_STATS.index("trend")], kind="stable"),
            "popular": np.argsort(-item_stats[ITEM_STATS.index("buyers")], kind="stable")}


def top_per_row(matrix: csr_matrix, k: int) -> csr_matrix:
    """The ``k`` largest stored values of each row (ties by column), the rest dropped."""
    matrix = csr_matrix(matrix)
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    order, rank = rank_within_rows(rows, matrix.indices, matrix.data)
    keep = order[rank < k]
    return csr_matrix((matrix.data[keep], (rows[keep], matrix.indices[keep])), shape=matrix.shape)


class _StageOne:
    """Candidate generation and features for a block of customers, from fitted parts."""

    def __init__(self, cf: ALSRecommender, item_stats: np.ndarray, candidates: int, n_items: int, knn: csr_matrix,
                 codes: np.ndarray, orders: dict[str, np.ndarray] | None = None,
                 category_items: csr_matrix | None = None) -> None:
        self.cf = cf
        self.item_stats = item_stats
        self.candidates = candidates
        self.n_items = n_items
        self.knn = knn
        self.codes = codes
        orders = item_orders(item_stats) if orders is None else orders
        self.top_items = {name: order[: min(candidates, n_items)] for name, order in orders.items()}
        self.category_items = (self.category_list(codes, item_stats, candidates) if category_items is None
                               else category_items)

    @staticmethod
    def category_list(codes: np.ndarray, item_stats: np.ndarray, candidates: int) -> csr_matrix:
        """The ``candidates`` items of each category with the most buyers, as shares of the category."""
        return category_items(codes, item_stats[ITEM_STATS.index("category_share")], candidates)

    def copurchase(self, weights: csr_matrix) -> csr_matrix:
        """Item-kNN scores of every item not bought, from each customer's ``QUERY_ITEMS`` most weighted items."""
        return _unbought(top_per_row(log1p_weights(weights), QUERY_ITEMS) @ self.knn, weights)

    def in_categories(self, shares: csr_matrix, weights: csr_matrix) -> csr_matrix:
        """Scores of the items not bought within each customer's ``QUERY_CATEGORIES`` most bought categories:
        the customer's share of the category x the item's share of its buyers."""
        return _unbought(top_per_row(shares, QUERY_CATEGORIES) @ self.category_items, weights)

    def vectors(self, user_ids: np.ndarray, weights: csr_matrix) -> np.ndarray:
        """ALS user vectors from the weights block (log1p, as ALS was fitted); solved for unknown users."""
        return self.cf._user_vectors(np.asarray(user_ids, dtype=np.int64), log1p_weights(weights))

    def prior(self, user_items: csr_matrix, collab: np.ndarray) -> np.ndarray:
        """Fallback order: bought items by decayed weight, then ALS + trend; all below any probability."""
        weights = user_items[:, : self.n_items]
        lo, hi = collab.min(axis=1, keepdims=True), collab.max(axis=1, keepdims=True)
        trend = self.item_stats[ITEM_STATS.index("trend")]
        scores = (collab - lo) / np.maximum(hi - lo, 1e-9) + trend[None, :] / max(float(trend.max()), 1e-9)
        repurchase = weights.toarray()
        repurchase /= np.maximum(repurchase.max(axis=1, keepdims=True), 1e-9)
        scores = np.where(repurchase > 0, 2.0 + repurchase, scores) - _PRIOR_OFFSET
        return scores.astype(np.float32)

    def _sources(self, vectors: np.ndarray, item_factors: np.ndarray, weights: csr_matrix, bought_keys: np.ndarray,
                 copurchase: csr_matrix, in_categories: csr_matrix
                 ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """Candidate keys ``row * n_items + item`` by source (``SOURCES``; history: bought; als: the top
        ``candidates`` by ALS; copurchase: the top by item-kNN; category: the top within the customer's
        categories; trend and popular: the most bought items lately and of all time; all but history
        without bought items), and ALS's top lists."""
        n_items, n_users = self.n_items, weights.shape[0]
        top, top_scores = topk(item_factors, vectors, min(self.candidates, n_items), filter_query_items=weights)
        users = np.arange(n_users, dtype=np.int64)[:, None] * n_items
        als = (users + top)[np.isfinite(top_scores)]
        sources = {"history": bought_keys, "als": als[~np.isin(als, bought_keys)]}
        for name, scores in (("copurchase", copurchase), ("category", in_categories)):
            near = top_per_row(scores, self.candidates).tocoo()
            sources[name] = near.row.astype(np.int64) * n_items + near.col
        for name, items in self.top_items.items():
            keys = (users + items[None, :]).ravel()
            sources[name] = keys[~np.isin(keys, bought_keys)]
        return sources, top, top_scores

    def candidate_sources(self, user_ids: np.ndarray, user_items: csr_matrix) -> dict[str, np.ndarray]:
        """``_sources`` for a block of customers (what ``features`` ranks)."""
        rows_b, items_b, (decayed, *_) = split_blocks(user_items, self.n_items, _BLOCKS)
        weights = csr_matrix((decayed, (rows_b, items_b)), shape=(user_items.shape[0], self.n_items))
        vectors = np.ascontiguousarray(self.vectors(user_ids, weights), dtype=np.float32)
        bought_keys = rows_b.astype(np.int64) * self.n_items + items_b
        shares = customer_categories(weights, self.codes)
        return self._sources(vectors, np.ascontiguousarray(self.cf.item_factors_, dtype=np.float32), weights,
                             bought_keys, self.copurchase(weights), self.in_categories(shares, weights))[0]

    def features(
        self, user_ids: np.ndarray, user_items: csr_matrix, new_only: bool, vectors: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Feature rows (columns ``FEATURES``) for every candidate pair, and their keys ``row * n_items + item``
        where ``row`` is the position in ``user_items``. With ``new_only`` bought items are not candidates.
        ALS scores only what it needs: the top candidates by a fused top-k (implicit), the extremes of each
        row, and the candidates' own dot products, so nothing dense over the catalogue is built."""
        n_items, n_users = self.n_items, user_items.shape[0]
        rows_b, items_b, (decayed, days, last, first, visits, v_since, v_decayed) = split_blocks(
            user_items, n_items, _BLOCKS)
        last, first = last - 1, first - 1
        weights = csr_matrix((decayed, (rows_b, items_b)), shape=(n_users, n_items))
        if vectors is None:
            vectors = self.vectors(user_ids, weights)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        item_factors = np.ascontiguousarray(self.cf.item_factors_, dtype=np.float32)
        bought_keys = rows_b.astype(np.int64) * n_items + items_b

        near = self.copurchase(weights)
        shares = customer_categories(weights, self.codes)
        sources, _top, top_scores = self._sources(vectors, item_factors, weights, bought_keys, near,
                                                 self.in_categories(shares, weights))
        found = np.isfinite(top_scores)
        new_keys = np.unique(np.concatenate([keys for name, keys in sources.items() if name != "history"]))
        keys = new_keys if new_only else np.concatenate([bought_keys, new_keys])
        nb = 0 if new_only else len(bought_keys)
        rows, items = keys // n_items, keys % n_items

        c_max = np.where(found[:, 0], top_scores[:, 0], -np.inf).astype(np.float32)
        np.maximum.at(c_max, rows_b, np.einsum("ij,ij->i", vectors[rows_b], item_factors[items_b]))
        c_min = -topk(item_factors, -vectors, 1)[1][:, 0]

        def pad(values: np.ndarray, fill: float) -> np.ndarray:
            out = np.full(len(keys), fill, dtype=np.float32)
            out[:nb] = values[:nb]
            return out

        bought = pad(np.ones(len(bought_keys), dtype=np.float32), 0.0)
        p_decayed, p_days, p_last, p_first = pad(decayed, 0.0), pad(days, 0.0), pad(last, np.nan), pad(first, np.nan)
        p_v_since, p_v_decayed = pad(v_since - 1, np.nan), pad(v_decayed, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            cycle = np.where(p_days >= 2, (p_first - p_last) / np.maximum(p_days - 1, 1), np.nan)
            overdue = p_last / cycle
        n_bought = np.bincount(rows_b, minlength=n_users).astype(np.float32)
        user_since = np.full(n_users, np.inf, dtype=np.float32)
        user_days = np.zeros(n_users, dtype=np.float32)
        user_tenure = np.full(n_users, -np.inf, dtype=np.float32)
        np.minimum.at(user_since, rows_b, last)
        np.maximum.at(user_days, rows_b, days)
        np.maximum.at(user_tenure, rows_b, first)
        user_visits = np.zeros(n_users, dtype=np.float32)
        user_visits[rows_b] = visits
        user_since[~np.isfinite(user_since)] = np.nan
        user_tenure[~np.isfinite(user_tenure)] = np.nan
        c_vals = np.einsum("ij,ij->i", vectors[rows], item_factors[items])
        co = lookup(near, rows, items)
        co_max = np.zeros(n_users, dtype=np.float32)
        np.maximum.at(co_max, np.repeat(np.arange(n_users), np.diff(near.indptr)), near.data)
        cats = self.codes[items]
        has_cat = np.where(cats >= 0, 0.0, np.nan).astype(np.float32)
        cat_share = lookup(shares, rows, cats) + has_cat
        cat_since = lookup(category_since_last(rows_b, items_b, last, self.codes, n_users), rows, cats,
                           missing=np.nan) - 1
        c_min, c_max = c_min[rows], c_max[rows]
        x = np.column_stack([
            bought, p_decayed, p_days, p_last, p_first, cycle, overdue, p_days / np.maximum(user_days[rows], 1),
            p_v_since, p_v_decayed, p_days / np.maximum(user_visits[rows], 1),
            n_bought[rows], user_since[rows], user_days[rows], user_tenure[rows], user_visits[rows],
            *self.item_stats[:, items],
            cat_share, cat_since,
            co, co / np.maximum(co_max[rows], 1e-9),
            c_vals, (c_vals - c_min) / np.maximum(c_max - c_min, 1e-9),
        ]).astype(np.float32)
        # "Not defined" (never bought, no repeat buyers) as -1: every feature is otherwise >= 0 apart from
        # the collaborative score, and scikit-learn cannot bin a column that is all NaN.
        x[:, :-2] = np.nan_to_num(x[:, :-2], nan=-1.0)
        return x, keys


def _unbought(scores: csr_matrix, weights: csr_matrix) -> csr_matrix:
    """``scores`` without the entries of items the customer bought (``weights``' pattern), rows sorted."""
    scores = csr_matrix(scores)
    bought = csr_matrix((np.ones(weights.nnz, dtype=np.float32), weights.indices, weights.indptr), shape=weights.shape)
    scores = csr_matrix(scores - scores.multiply(bought))
    scores.eliminate_zeros()
    scores.sort_indices()
    return scores


def split_blocks(user_items: csr_matrix, n_items: int, blocks: int) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Rows, items and one value array per block of a matrix whose blocks share one pattern (``MatrixSpec``)."""
    wide = csr_matrix(user_items)
    wide.sort_indices()
    per_row = np.diff(wide.indptr) // blocks
    rows = np.repeat(np.arange(wide.shape[0]), per_row)
    within = np.arange(len(rows)) - np.repeat(np.cumsum(per_row) - per_row, per_row)
    starts = wide.indptr[:-1][rows] + within
    items = wide.indices[starts] % n_items
    return rows, items, [wide.data[starts + b * per_row[rows]] for b in range(blocks)]
