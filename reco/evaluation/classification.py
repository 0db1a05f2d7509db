"""Metrics for a probability of an event (churn): ranking quality, calibration and lift."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from reco.exceptions import ConfigurationError


def _check(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    if y.shape != p.shape or y.ndim != 1:
        raise ConfigurationError(f"labels {y.shape} and probabilities {p.shape} must be 1-D and of one length")
    if len(np.unique(y)) != 2:
        raise ConfigurationError(f"labels must hold both 0 and 1, got {sorted(np.unique(y).tolist())}")
    return y, p


def classification_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """ROC AUC, PR AUC (average precision), Brier score, base rate and the top-decile lift.

    Lift in the top decile: the event rate among the 10% scored highest over the overall rate.
    """
    y, p = _check(y, p)
    top = np.argsort(-p, kind="stable")[: max(1, round(0.1 * len(p)))]
    return {
        "auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "brier": float(brier_score_loss(y, p)),
        "lift_top_decile": float(y[top].mean() / y.mean()),
        "base_rate": float(y.mean()),
        "customers": len(y),
    }


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Customers by predicted probability in ``bins`` equal-width bins: count, mean predicted, observed rate."""
    y, p = _check(y, p)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    frame = pd.DataFrame({"bin": which, "y": y, "p": p}).groupby("bin").agg(
        customers=("y", "size"), predicted=("p", "mean"), observed=("y", "mean"))
    frame.index = [f"{edges[i]:.1f}-{edges[i + 1]:.1f}" for i in frame.index]
    return frame
