"""BG/NBD and Gamma-Gamma: the published CDNOW estimates, parameter recovery and holdout predictions."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from benchmarks.datasets import fetch_cdnow_sample, read_cdnow
from reco.customers.clv import BetaGeoFitter, GammaGammaFitter, clv, rfm_summary
from reco.exceptions import InputError, NotFittedError

REQUIRE = os.environ.get("RECO_REQUIRE_DOWNLOADS") == "1"


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    """The 1/10 CDNOW sample from the lifetimes wheel on PyPI (fetched once, cached under var/cache)."""
    try:
        path = fetch_cdnow_sample()
    except OSError as exc:
        if REQUIRE:
            pytest.fail(f"{exc} (RECO_REQUIRE_DOWNLOADS=1 demands it)")
        pytest.skip(str(exc))
    return read_cdnow(path)


def test_cdnow_estimates_match_the_published_ones_within_one_percent(cdnow: pd.DataFrame) -> None:
    summary = rfm_summary(cdnow, pd.Timestamp("1997-09-30"), unit_days=7)  # 39-week calibration, weeks
    assert len(summary) == 2357 and int((summary["frequency"] > 0).sum()) == 946
    bgf = BetaGeoFitter().fit(summary)
    for name, published in {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}.items():
        assert bgf.params_[name] == pytest.approx(published, rel=0.01), name
    ggf = GammaGammaFitter().fit(summary)
    assert ggf.n_customers_ == 946
    for name, published in {"p": 6.25, "q": 3.74, "v": 15.44}.items():
        assert ggf.params_[name] == pytest.approx(published, rel=0.01), name


def simulate(n: int = 4000, r: float = 0.5, alpha: float = 8.0, a: float = 0.8, b: float = 3.0,
             weeks: float = 78.0, seed: int = 0) -> pd.DataFrame:
    """Purchase days from the BG/NBD story: Poisson purchases while alive, drop-out after each with prob p."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n):
        lam, p = rng.gamma(r, 1 / alpha), rng.beta(a, b)
        t = rng.uniform(0, 26)  # first purchase in the first half year
        rows.append((c, t))
        while True:
            t += rng.exponential(1 / lam)
            if t > weeks:
                break
            rows.append((c, t))
            if rng.random() < p:
                break
    frame = pd.DataFrame(rows, columns=["customer_id", "week"])
    frame["timestamp"] = pd.Timestamp("2020-01-01") + pd.to_timedelta(frame["week"] * 7, unit="D")
    frame["value"] = 10.0
    return frame


def test_recovers_simulated_parameters_and_predicts_the_holdout() -> None:
    events = simulate()
    end = pd.Timestamp("2020-01-01") + pd.Timedelta(weeks=52)
    summary = rfm_summary(events, end, unit_days=7)
    bgf = BetaGeoFitter().fit(summary)
    fitted = bgf.params_
    assert fitted["r"] == pytest.approx(0.5, rel=0.2) and fitted["alpha"] == pytest.approx(8.0, rel=0.2), fitted
    # a and b trade off against each other; the mean drop-out probability a / (a + b) is what is identified
    assert fitted["a"] / (fitted["a"] + fitted["b"]) == pytest.approx(0.8 / 3.8, rel=0.15), fitted
    future = events[events["timestamp"].dt.normalize() > end].groupby("customer_id").size()
    actual = future.reindex(summary.index.astype(int), fill_value=0).to_numpy()
    predicted = bgf.expected_purchases(26.0, summary)
    assert predicted.sum() == pytest.approx(actual.sum(), rel=0.15)
    naive = summary["frequency"].to_numpy() / np.maximum(summary["T"].to_numpy(), 1) * 26.0
    assert np.abs(predicted - actual).mean() < np.abs(naive - actual).mean()
    alive = bgf.probability_alive(summary)
    assert ((alive > 0) & (alive <= 1)).all()
    assert alive[summary["frequency"].to_numpy() == 0].min() == 1.0  # no repeat yet: cannot have dropped out


def test_gamma_gamma_shrinks_to_the_population_mean_and_clv_discounts() -> None:
    summary = pd.DataFrame({"frequency": [0.0, 1.0, 20.0, 3.0, 5.0, 2.0], "recency": [0, 5, 50, 20, 30, 9],
                            "T": [60.0] * 6, "monetary_value": [0.0, 100.0, 100.0, 20.0, 35.0, 50.0]})
    ggf = GammaGammaFitter().fit(summary)
    spend = ggf.expected_spend(summary)
    population = ggf.params_["p"] * ggf.params_["v"] / (ggf.params_["q"] - 1)
    assert spend[0] == pytest.approx(population)
    assert abs(spend[2] - 100) < abs(spend[1] - 100)  # more purchases, closer to the customer's own mean
    bgf = BetaGeoFitter().fit(simulate(n=500).pipe(rfm_summary, pd.Timestamp("2021-01-01")))
    value = clv(bgf, ggf, summary, months=12, monthly_discount=0.01)
    undiscounted = clv(bgf, ggf, summary, months=12, monthly_discount=0.0)
    assert (value <= undiscounted + 1e-9).all() and (value >= 0).all()
    assert value[2] > value[1]


def test_bad_input_and_unfitted_use_are_named() -> None:
    with pytest.raises(InputError, match=r"column 'T'.*-1"):
        BetaGeoFitter().fit(pd.DataFrame({"frequency": [1.0], "recency": [0.0], "T": [-1.0]}))
    with pytest.raises(InputError, match="recency is after T"):
        BetaGeoFitter().fit(pd.DataFrame({"frequency": [1.0], "recency": [5.0], "T": [2.0]}))
    with pytest.raises(NotFittedError):
        BetaGeoFitter().probability_alive(pd.DataFrame({"frequency": [1.0], "recency": [1.0], "T": [2.0]}))
