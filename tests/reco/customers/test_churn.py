"""The churn model: learns who stops buying, explains why in words, saves and loads, refuses bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline

from reco.customers import churn
from reco.customers.churn import ChurnModel, training_set
from reco.customers.features import churn_labels, customer_features
from reco.exceptions import ArtifactError, ConfigurationError, InputError, NotFittedError
from tests.factories import START, rhythm_log


@pytest.fixture(scope="module")
def fitted() -> tuple[ChurnModel, pd.DataFrame, pd.Timestamp]:
    events = rhythm_log()
    test_cut = START + pd.Timedelta(days=330)
    model = ChurnModel(horizon_days=60, cutoffs=4, spacing_days=30, estimator="gbm").fit_events(
        events[events["timestamp"] < test_cut], now=test_cut)
    return model, events, test_cut


def test_beats_the_recency_rule_on_a_later_cutoff(fitted: tuple[ChurnModel, pd.DataFrame, pd.Timestamp]) -> None:
    model, events, cut = fitted
    assert isinstance(model.pipeline_, Pipeline) and model.kind_ == "gbm"
    x = model.features(events, cut)
    y = churn_labels(events, x.index, cut, 60)
    auc = roc_auc_score(y, model.predict_proba(x))
    recency = roc_auc_score(y, x["recency_days"])
    assert auc > 0.9 and auc > recency + 0.02, (auc, recency)


def test_auto_picks_the_candidate_with_the_best_validation_auc() -> None:
    events = rhythm_log(n=120)
    model = ChurnModel(horizon_days=60, cutoffs=2, spacing_days=30).fit_events(events)
    assert set(model.validation_) == {"logistic", "gbm", "blend"}
    assert model.kind_ == max(model.validation_, key=model.validation_.__getitem__)


def test_scores_carry_plain_language_reasons(fitted: tuple[ChurnModel, pd.DataFrame, pd.Timestamp]) -> None:
    model, events, cut = fitted
    scores = model.score(events[events["timestamp"] < cut], at=cut)
    assert list(scores.columns) == ["churn_probability", "churn_reasons"]
    assert scores["churn_probability"].between(0, 1).all()
    risky = scores.sort_values("churn_probability").tail(20)
    assert all(1 <= len(r) <= 3 for r in risky["churn_reasons"])
    assert any("no purchase for" in text for r in risky["churn_reasons"] for text in r)
    safe = scores.sort_values("churn_probability").head(20)
    assert sum(len(r) for r in safe["churn_reasons"]) < sum(len(r) for r in risky["churn_reasons"])


def test_labels_never_reach_past_now(fitted: tuple[ChurnModel, pd.DataFrame, pd.Timestamp]) -> None:
    model, events, cut = fitted
    assert max(pd.Timestamp(c) for c in model.cutoffs_) + pd.Timedelta(days=60) <= cut
    again = ChurnModel(horizon_days=60, cutoffs=4, spacing_days=30, estimator="gbm").fit_events(events, now=cut)
    x = model.features(events, cut)
    np.testing.assert_allclose(again.predict_proba(x), model.predict_proba(x))


def test_save_load_round_trip_and_version_guard(fitted: tuple[ChurnModel, pd.DataFrame, pd.Timestamp],
                                                tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, events, cut = fitted
    model.save(tmp_path / "churn")
    loaded = ChurnModel.load(tmp_path / "churn")
    assert (tmp_path / "churn" / "taste.npz").exists() and not list((tmp_path / "churn").glob("*.pkl"))
    x = model.features(events, cut)
    np.testing.assert_allclose(loaded.predict_proba(x), model.predict_proba(x))
    assert loaded.reasons(x.head(5)) == model.reasons(x.head(5))
    monkeypatch.setattr(sklearn, "__version__", "0.0.1")
    with pytest.raises(ArtifactError, match="retrain"):
        ChurnModel.load(tmp_path / "churn")


def test_errors_name_the_problem() -> None:
    with pytest.raises(NotFittedError):
        ChurnModel().predict_proba(pd.DataFrame())
    with pytest.raises(ConfigurationError, match=r"estimator 'svm' is not valid; valid: auto, logistic, gbm, blend"):
        ChurnModel(estimator="svm").fit_events(rhythm_log(n=10))
    with pytest.raises(ConfigurationError, match=r"taste_components must be an integer >= 0.*got -1"):
        ChurnModel(taste_components=-1).fit_events(rhythm_log(n=10))
    model = ChurnModel(horizon_days=60, cutoffs=2, estimator="logistic").fit_events(rhythm_log(n=60))
    with pytest.raises(InputError, match=r"missing feature column\(s\) \['taste_0'"):
        model.predict_proba(customer_features(rhythm_log(n=60), START + pd.Timedelta(days=300)))
    with pytest.raises(InputError, match="too short for a 90-day horizon"):
        ChurnModel(horizon_days=90).fit_events(rhythm_log(n=10, days=100))


def test_shared_features_are_built_once_per_cutoff_and_change_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The validation and final fit share cutoffs; a caller can reuse what the fit built (training_set)."""
    events = rhythm_log()
    cut = START + pd.Timedelta(days=330)
    past = events[events["timestamp"] < cut]
    alone = ChurnModel(horizon_days=60, cutoffs=4, spacing_days=30).fit_events(past, now=cut)
    x = alone.features(events, cut)
    calls: list[pd.Timestamp] = []

    def counted(events: pd.DataFrame, at: pd.Timestamp, marketing: pd.DataFrame | None = None) -> pd.DataFrame:
        calls.append(at)
        return customer_features(events, at, marketing)

    monkeypatch.setattr(churn, "customer_features", counted)
    built: dict[pd.Timestamp, pd.DataFrame] = {}
    shared = ChurnModel(horizon_days=60, cutoffs=4, spacing_days=30).fit_events(past, now=cut, features=built)
    cutoffs = [pd.Timestamp(c) for c in shared.cutoffs_]
    assert set(cutoffs) <= set(built) and len(calls) == len(set(calls)) == len(built)  # each cutoff built once
    np.testing.assert_array_equal(shared.predict_proba(x), alone.predict_proba(x))
    again, labels = training_set(past, cutoffs, 60, features=built)
    assert len(calls) == len(built)  # all taken from what the fit built
    fresh, fresh_labels = training_set(past, cutoffs, 60)
    pd.testing.assert_frame_equal(again, fresh)
    pd.testing.assert_series_equal(labels, fresh_labels)


def product_churn_log(n: int = 400, days: int = 420, seed: int = 1) -> pd.DataFrame:
    """Customers join at random days and buy every 10 to 20 days. Buyers of one product range (items A*)
    stop for good after any order with probability 1/4; buyers of the other (B*) never stop. Among those
    who bought lately, only the product mix tells who has just stopped."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n):
        lapsing = c % 2 == 0
        gap, day, k = rng.uniform(10, 20), rng.uniform(0, days - 40), 0
        while day < days:
            item = f"{'A' if lapsing else 'B'}{int(rng.integers(0, 12)):02d}"
            rows.append((f"C{c:03d}", item, START + pd.Timedelta(days=float(day)), "purchase", 1.0,
                         float(rng.uniform(5, 50)), f"O{c}-{k}", "web"))
            if lapsing and rng.random() < 0.25:
                break
            day += gap * rng.uniform(0.7, 1.3)
            k += 1
    return pd.DataFrame(rows, columns=["customer_id", "item_id", "timestamp", "event_type", "quantity", "price",
                                       "order_id", "channel"])


def test_product_mix_features_find_who_has_just_stopped() -> None:
    events = product_churn_log()
    cut = START + pd.Timedelta(days=330)
    past = events[events["timestamp"] < cut]
    aucs, models = {}, {}
    for k in (0, 4):
        models[k] = ChurnModel(horizon_days=60, cutoffs=4, estimator="logistic", taste_components=k).fit_events(
            past, now=cut)
        x = models[k].features(events, cut)
        active = x[x["recency_days"] < 20]  # bought lately: their recency and rhythm say nothing yet
        y = churn_labels(events, active.index, cut, 60)
        aucs[k] = roc_auc_score(y, models[k].predict_proba(active))
    assert y.sum() >= 8 and aucs[4] > aucs[0] + 0.15 and aucs[4] > 0.8, (int(y.sum()), aucs)
    assert "taste_0" not in models[0].features(events, cut).columns
    scores = models[4].score(past, at=cut).loc[active.index]
    lapsing_range = scores[scores.index.str[1:].astype(int) % 2 == 0]
    steady = scores[scores.index.str[1:].astype(int) % 2 == 1]

    def named(frame: pd.DataFrame) -> int:
        return sum("product mix like that of customers who stopped buying" in r for r in frame["churn_reasons"])

    assert named(lapsing_range) >= len(lapsing_range) // 2, lapsing_range["churn_reasons"].head()
    assert named(steady) <= 0.05 * len(steady), steady["churn_reasons"].head()
