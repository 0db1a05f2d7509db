"""The quality gate of retraining: a new version replaces the promoted one only when it is not worse.

Both are measured on the same data: the new version's history, its most recent window (the guard's,
training.guard: the tuned holdout or 30 days, at most a quarter of the span) held out, everything before
it to train on. The new version's figure per mode (``all``, ``new``) is nDCG@10 of what it serves for that
mode (its model, or the baseline the guard chose); the promoted version's is that of *its* recipe (model
and parameters, or its chosen baseline) fitted on the same history before the window, so a version
trained months ago and one trained today are compared on equal terms. When both recipes are the same,
the same fit gives the same figure and is not repeated.

The new version is promoted only if, for every mode:
- it is not below the best baseline on that window (issue 8's guard: never ship a loser), and
- it is at most ``tolerance`` (a share, e.g. 0.02) below the promoted version's figure;
and its history is not older or smaller than the promoted version's: it reaches at least as far and
holds at least ``1 - MAX_HISTORY_SHRINK`` of its purchases (a failed ingest or a wrong ``--as-of`` would
otherwise train a version on a fraction of the data, which the same-data comparison cannot see).
Otherwise it stays a candidate and the verdict says why; ``reco models --promote`` can still promote it.
The first version of a registry has nothing to compare with and passes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import pandas as pd

from reco.exceptions import ConfigurationError, InputError
from training.choices import BASELINES
from training.evaluate import evaluate_events
from training.guard import K

logger = logging.getLogger(__name__)

MAX_HISTORY_SHRINK = 0.10  # a new version's history may hold this share fewer purchases (erasures) than the promoted's


def _same(a: Any, b: Any) -> bool:
    """Parameters equal as the metadata stores them (JSON: tuples become lists)."""
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def promoted_scores(events: pd.DataFrame, measured: Mapping[str, Any], model: str, params: Mapping[str, Any],
                    promoted: Mapping[str, Any]) -> tuple[dict[str, tuple[str, float | None]], str]:
    """Per mode, (what the promoted version serves, its nDCG@10 on the guard's window and data), and how it
    was obtained: ``same recipe`` (the new version's own figure), ``refit``, ``its baselines`` (it served
    baselines only, measured by the guard on this window), or why its model could not be refitted."""
    scores = measured["scores"]
    p_model = str(promoted.get("default_model", ""))
    p_params = dict(promoted.get("params", {}).get(p_model, {}))
    serving = {mode: str(name).split("@", 1)[0] for mode, name in dict(promoted.get("serving") or {}).items()}
    serving = {mode: serving.get(mode, p_model) for mode in scores}
    refit: dict[str, float] = {}
    how = "same recipe" if any(name == p_model for name in serving.values()) else "its baselines"
    if how == "same recipe" and not (p_model == model and _same(p_params, params)):
        how = "refit"
        try:
            result = evaluate_events(events, (p_model,), holdout_days=float(measured["window_days"]), k=K,
                                     overrides={p_model: p_params})
            refit = {task: float(by_model[p_model][f"ndcg@{K}"]) for task, by_model in result.tasks.items()
                     if p_model in by_model}
        except (ConfigurationError, InputError, TypeError) as exc:
            how = f"its model could not be refitted ({exc})"
            logger.warning("gate: the promoted version's %s could not be refitted: %s", p_model, exc)
    out: dict[str, tuple[str, float | None]] = {}
    for mode, name in serving.items():
        if name != p_model:
            out[mode] = (name, scores[mode].get(name))
        elif how == "same recipe":
            out[mode] = (name, scores[mode].get(model))
        else:
            out[mode] = (name, refit.get(mode))
    return out, how


def gate(events: pd.DataFrame, measured: Mapping[str, Any] | None, *, model: str, params: Mapping[str, Any],
         serving: Mapping[str, str], data: Mapping[str, Any], promoted: Mapping[str, Any] | None,
         tolerance: float) -> dict[str, Any]:
    """The verdict on a new version (see the module docstring): ``passed``, ``reasons`` (why not, or notes),
    and per mode the figures compared. ``measured``: the guard's measurement of the new version's model and
    the baselines; ``serving``: what the new version serves per mode; ``promoted``: the promoted version's
    metadata (None when nothing is promoted)."""
    if not 0 <= tolerance < 1:
        raise ConfigurationError(f"gate tolerance must be in [0, 1), got {tolerance!r}")
    verdict: dict[str, Any] = {"passed": True, "reasons": [], "tolerance": tolerance, "metric": f"ndcg@{K}",
                               "promoted_version": promoted.get("version") if promoted else None, "modes": {}}
    if promoted is None:
        verdict["reasons"].append("nothing promoted (or readable) to compare with")
        return verdict
    if measured is None or "skipped" in measured:
        why = (measured or {}).get("skipped", "not measured")
        verdict.update(passed=False, reasons=[f"it could not be measured on a recent window ({why})"])
        return verdict
    verdict.update(window_days=measured["window_days"], cut=measured["cut"], end=measured["end"])
    failures: list[str] = []
    p_data = dict(promoted.get("data") or {})
    if p_data.get("last_event") and data.get("last_event") and (
            pd.Timestamp(data["last_event"]) < pd.Timestamp(p_data["last_event"])):
        failures.append(f"its history ends {data['last_event']}, before the promoted version's "
                        f"({p_data['last_event']})")
    if p_data.get("events") and data.get("events", 0) < (1 - MAX_HISTORY_SHRINK) * float(p_data["events"]):
        shrink = 1 - data["events"] / float(p_data["events"])
        failures.append(f"its history holds {data['events']:,} purchases, {shrink:.0%} fewer than the promoted "
                        f"version's {int(p_data['events']):,}")
    theirs, how = promoted_scores(events, measured, model, params, promoted)
    verdict["promoted_compared"] = how
    for mode, by_model in measured["scores"].items():
        served = str(serving.get(mode, model)).split("@", 1)[0]
        ours = by_model.get(served)
        baselines = {name: value for name, value in by_model.items() if name in BASELINES}
        best = max(baselines, key=lambda name: baselines[name]) if baselines else None
        p_name, p_score = theirs.get(mode, (None, None))
        verdict["modes"][mode] = {"served": served, "score": ours, "promoted_served": p_name,
                                  "promoted_score": None if p_score is None else round(p_score, 4),
                                  "best_baseline": best, "baseline_score": baselines.get(best) if best else None}
        if ours is None:
            failures.append(f"mode {mode}: {served} was not measured")
            continue
        if best is not None and ours < baselines[best]:
            failures.append(f"mode {mode}: nDCG@{K} {ours:.4f} is below the best baseline, {best} "
                            f"{baselines[best]:.4f}")
        if p_score is not None and ours < p_score * (1 - tolerance):
            failures.append(f"mode {mode}: nDCG@{K} {ours:.4f} is {1 - ours / p_score:.1%} below the promoted "
                            f"version's {p_score:.4f} ({p_name}; tolerance {tolerance:.0%})")
    if failures:
        verdict.update(passed=False, reasons=failures)
    else:
        verdict["reasons"] = [f"not worse than the promoted version {promoted.get('version')} by more than "
                              f"{tolerance:.0%} and not below the best baseline on either mode"]
    return verdict
