"""Metrics for a probability of an event (churn): ranking quality, calibration and lift."""

from __future__ import annotations

from typing import Any

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


def metrics_lines(models: dict[str, dict[str, Any]], width: int = 16) -> list[str]:
    """A header and one line per model of ROC AUC, PR AUC, Brier and top-decile lift ('-' where a model has
    none, as a rule whose score is no probability has no Brier score)."""
    lines = [f"{'model':<{width}}{'ROC AUC':>9}{'PR AUC':>9}{'Brier':>9}{'lift@10%':>10}"]
    for name, m in models.items():
        cells = "".join(f"{m[k]:>9.4f}" if isinstance(m.get(k), float) else f"{'-':>9}"
                        for k in ("auc", "pr_auc", "brier"))
        lift = m.get("lift_top_decile")
        lines.append(f"{name:<{width}}{cells}{f'{lift:.2f}' if isinstance(lift, float) else '-':>10}")
    return lines


def calibration_lines(rows: list[dict[str, Any]], title: str) -> list[str]:
    """``calibration_table`` records as printed lines."""
    lines = [f"calibration ({title}):", f"{'predicted':<12}{'customers':>10}{'mean p':>9}{'observed':>10}"]
    lines += [f"{r['predicted_bin']:<12}{r['customers']:>10}{r['predicted']:>9.3f}{r['observed']:>10.3f}" for r in rows]
    return lines
