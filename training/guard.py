"""The guard of ``reco train``: never ship a model that loses to a one-line baseline on this shop.

Before a version is saved, the default model and the baselines (popularity, recent popularity,
buy-again) are fitted on the history before the shop's most recent window and measured on that window
(nDCG@10, per mode: ``all`` may recommend what a customer bought before, ``new`` may not). For each mode
the best of them serves; a baseline replaces the default only when it is strictly better there. The
choice is visible: in the version's metadata (``serving``, ``guard``), in ``reco models``, in the log and
in the API's ``model`` field. ``reco train --no-guard`` serves the default for both modes.

The window is the tuned one (``reco tune``) or 30 days, at most a quarter of the history's span, so a
short log still keeps most of its history for training.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pandas as pd

from reco.evaluation import TASKS
from reco.exceptions import ConfigurationError, InputError
from reco.models import model_classes
from training.choices import BASELINES
from training.evaluate import evaluate_events

logger = logging.getLogger(__name__)

K = 10


def guard_window(events: pd.DataFrame, tuned: Mapping[str, Any] | None) -> float:
    """Days of the validation window: the tuned one or 30, at most a quarter of the history's span."""
    ts = pd.to_datetime(events["timestamp"])
    span = max((ts.max() - ts.min()).total_seconds() / 86400.0, 1.0)
    wanted = float((tuned or {}).get("holdout_days", 30.0))
    return round(min(wanted, span / 4), 2)


def guard(events: pd.DataFrame, model: str, params: Mapping[str, Any],
          tuned: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Measure ``model`` (with ``params``) and the baselines on the latest window; returns the serving
    choice per mode, the figures, and the chosen baselines' parameters (to fit them on all of history)."""
    days = guard_window(events, tuned)
    try:
        result = evaluate_events(events, (model,), holdout_days=days, k=K, tuned=tuned, overrides={model: params})
    except (ConfigurationError, InputError) as exc:
        logger.warning("guard: not measured (%s); the %s model serves both modes", exc, model)
        return {"skipped": str(exc), "serving": {mode: model for mode in TASKS}, "params": {}}
    metric = f"ndcg@{K}"
    serving: dict[str, str] = {}
    scores: dict[str, dict[str, float]] = {}
    chosen_params: dict[str, dict[str, Any]] = {}
    for task, by_model in result.tasks.items():
        scores[task] = {name: round(float(m[metric]), 4) for name, m in by_model.items()}
        best = max(scores[task], key=lambda name: (scores[task][name], name == model))
        mode = task  # the evaluation's tasks are the serving modes: all and new
        if best != model and scores[task][best] > scores[task].get(model, float("-inf")):
            serving[mode] = best
            recorded = result.params.get(f"{best}[{task}]", result.params.get(best, {}))
            valid = set(model_classes()[best]().get_params())
            chosen_params[mode] = {k: v for k, v in recorded.items() if k in valid}
            logger.warning("guard: mode %s serves %s: nDCG@%d %.4f against %s %.4f on the latest %g days", mode,
                           best, K, scores[task][best], model, scores[task].get(model, float("nan")), days)
        else:
            serving[mode] = model
            logger.info("guard: mode %s serves %s: nDCG@%d %.4f, best baseline %.4f, on the latest %g days", mode,
                        model, K, scores[task].get(model, float("nan")),
                        max((v for n, v in scores[task].items() if n in BASELINES), default=float("nan")), days)
    return {"window_days": days, "cut": result.cut.isoformat(), "end": result.end.isoformat(), "metric": metric,
            "scores": scores, "serving": serving, "params": chosen_params}
