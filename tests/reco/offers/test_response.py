"""Response features use only what was known at the contact; the model is chosen on validation contacts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reco.exceptions import InputError, NotFittedError
from reco.offers.response import ContactData, ResponseModel, contact_features


def _data() -> tuple[pd.DataFrame, ContactData]:
    t = pd.Timestamp
    purchases = pd.DataFrame({
        "customer_id": ["a", "a", "a", "a", "b"], "item_id": ["meat", "meat", "fish", "meat", "fish"],
        "timestamp": [t("2017-01-01"), t("2017-05-01"), t("2017-05-02"), t("2017-07-01"), t("2017-01-05")],
        "order_id": ["o1", "o2", "o3", "o4", "o5"], "value": [10.0, 5.0, 3.0, 100.0, 2.0],
        "discount": [0.0, 1.0, 0.0, 0.0, 0.0]})
    redemptions = pd.DataFrame({"customer_id": ["a", "a"], "offer_id": ["c1", "c2"],
                                "timestamp": [t("2017-03-10"), t("2017-06-20")]})
    items = pd.DataFrame({"offer_id": ["c1", "c2", "c2"], "item_id": ["meat", "meat", "fish"]})
    contacts = pd.DataFrame({"customer_id": ["a", "a", "b"], "offer_id": ["c1", "c2", "c2"],
                             "at": [t("2017-03-01"), t("2017-06-01"), t("2017-06-01")]})
    return contacts, ContactData(purchases, redemptions, items, {"c1": "A", "c2": "B"})


def test_features_as_of_the_contact() -> None:
    contacts, data = _data()
    x = contact_features(contacts, data)
    first, second, other = x.iloc[0], x.iloc[1], x.iloc[2]
    assert first["baskets"] == 1 and first["spend"] == 10.0 and first["recency_days"] == 59  # not the later ones
    assert first["prior_contacts"] == 0 and first["prior_redemptions"] == 0  # its own redemption is after it
    assert second["baskets"] == 3 and second["spend"] == 18.0 and second["coupon_lines"] == 1
    assert second["offer_items_bought"] == 2 and second["offer_lines"] == 3 and second["offer_items_bought_90d"] == 2
    assert second["prior_contacts"] == 1 and second["prior_redemptions"] == 1  # c1's, not c2's (after the contact)
    assert other["offer_items_bought"] == 1 and other["offer_items_bought_90d"] == 0 and other["prior_contacts"] == 0
    assert (x["type_A"].tolist(), x["type_B"].tolist(), x["offer_items"].tolist()) == (
        [1.0, 0.0, 0.0], [0.0, 1.0, 1.0], [1.0, 2.0, 2.0])


def test_the_model_is_chosen_on_later_training_contacts() -> None:
    rng = np.random.default_rng(0)
    n = 2000
    x = pd.DataFrame({"signal": rng.normal(size=n), "noise": rng.normal(size=n)})
    y = (rng.random(n) < 1 / (1 + np.exp(-2 * x["signal"]))).astype(int)
    at = pd.Series(pd.date_range("2017-01-01", periods=n, freq="h"))
    model = ResponseModel().fit(x, y, at)
    assert model.kind_ in ("logistic", "gbm", "blend") and set(model.validation_) == {"logistic", "gbm", "blend"}
    p = model.predict_proba(x)
    assert p.shape == (n,) and p.min() >= 0 and p.max() <= 1
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y, p) > 0.8
    with pytest.raises(NotFittedError):
        ResponseModel().predict_proba(x)
    with pytest.raises(InputError, match="nothing to learn"):
        ResponseModel().fit(x, np.zeros(n, dtype=int), at)


def test_validation_cut_in_any_time_unit() -> None:
    """Contact times in seconds (not pandas' nanoseconds) still split into earlier training and later
    validation contacts."""
    rng = np.random.default_rng(1)
    n = 1000
    x = pd.DataFrame({"signal": rng.normal(size=n)})
    y = (rng.random(n) < 1 / (1 + np.exp(-2 * x["signal"]))).astype(int)
    at = pd.Series(np.datetime64("2020-01-01") + np.arange(n).astype("timedelta64[h]")).astype("datetime64[s]")
    assert set(ResponseModel().fit(x, y, at).validation_) == {"logistic", "gbm", "blend"}


def test_calibration_is_kept_only_when_it_helps_later_validation_contacts() -> None:
    from reco.offers.response import IDENTITY, _choose_calibration

    rng = np.random.default_rng(3)
    n = 4000
    p = rng.uniform(0.02, 0.6, size=n)
    y = (rng.random(n) < p).astype(int)
    times = np.arange(n)
    slope, intercept = _choose_calibration(p / 3, y, times)  # scores three times too low: Platt repairs them
    assert (slope, intercept) != IDENTITY
    fixed = 1 / (1 + np.exp(-(slope * np.log((p / 3) / (1 - p / 3)) + intercept)))
    assert np.mean((fixed - y) ** 2) < np.mean((p / 3 - y) ** 2) - 0.01
    drifted = np.where(times < n // 2, 0, 1) & y  # nothing redeems in the first half: a calibration from it fails
    assert _choose_calibration(p, drifted, times) == IDENTITY


def test_saved_model_predicts_the_same(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(2)
    n = 1500
    x = pd.DataFrame({"signal": rng.normal(size=n), "noise": rng.normal(size=n)})
    y = (rng.random(n) < 1 / (1 + np.exp(-(2 * x["signal"] - 2)))).astype(int)
    model = ResponseModel().fit(x, y, pd.Series(pd.date_range("2017-01-01", periods=n, freq="h")))
    model.save(tmp_path)
    again = ResponseModel.load(tmp_path)
    assert again.calibration_ == model.calibration_
    assert np.allclose(again.predict_proba(x), model.predict_proba(x))
