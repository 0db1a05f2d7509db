"""Churn metrics: known values on hand-made labels, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from reco.evaluation import calibration_table, classification_metrics
from reco.exceptions import ConfigurationError


def test_metrics_on_a_perfect_and_a_useless_ranking() -> None:
    y = np.array([1] * 10 + [0] * 90)
    perfect = classification_metrics(y, np.r_[np.full(10, 0.9), np.full(90, 0.1)])
    assert perfect["auc"] == 1 and perfect["pr_auc"] == 1
    assert perfect["lift_top_decile"] == pytest.approx(10.0) and perfect["brier"] == pytest.approx(0.01)
    flat = classification_metrics(y, np.full(100, 0.1))
    assert flat["auc"] == 0.5 and flat["brier"] == pytest.approx(0.09) and flat["base_rate"] == 0.1


def test_calibration_table_bins_and_rates() -> None:
    y = np.array([0, 0, 1, 1, 1, 0])
    p = np.array([0.05, 0.15, 0.95, 0.92, 0.55, 0.51])
    table = calibration_table(y, p, bins=10)
    assert table.loc["0.9-1.0", "customers"] == 2 and table.loc["0.9-1.0", "observed"] == 1
    assert table.loc["0.5-0.6", "observed"] == 0.5 and table["customers"].sum() == 6


def test_labels_of_one_kind_are_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"both 0 and 1, got \[1.0\]"):
        classification_metrics(np.ones(5), np.full(5, 0.5))
