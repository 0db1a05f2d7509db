"""The train job: purchase history from the store -> default model + fallback -> a new registry version.

The history is read as of a robust "now" (reco.interactions.asof: a lone tail of late events is
reported and left out). A version whose learned parts could not train is saved for inspection but
never promoted: the serving version stays, and the job fails with what happened in plain words.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from importlib.metadata import version as package_version
from typing import Any

import numpy as np
import pandas as pd

from reco.clock import utc_now
from reco.erasure import complete_pending, reapply
from reco.evaluation import TASKS
from reco.exceptions import ArtifactError, ConfigurationError, ModelNotFoundError, TrainingError
from reco.interactions import IdMapping
from reco.models import DEFAULT_MODEL, ComplementsRecommender, RecentPopularityRecommender, model_classes
from reco.registry import ModelRegistry
from reco.store import EventStore
from training.gate import gate
from training.guard import guard
from training.history import purchase_history

logger = logging.getLogger(__name__)

FALLBACK_MODEL = "popularity"
COMPLEMENTS_MODEL = "complements"  # "goes well with": GET /v1/items/{id}/complements
# What ``train`` tells its ``progress`` callback, in order: a run's progress bar moves on each.
STAGES: tuple[str, ...] = ("reading purchases", "fitting", "measuring the latest window", "quality gate", "saving")


def train(
    store: EventStore,
    registry: ModelRegistry,
    *,
    model: str = DEFAULT_MODEL,
    params: Mapping[str, Any] | None = None,
    tuned: Mapping[str, Any] | None = None,
    promote: bool = True,
    as_of: pd.Timestamp | str | None = None,
    use_guard: bool = True,
    use_gate: bool = True,
    tolerance: float = 0.02,
    keep_versions: int | None = None,
    by: str = "shell",
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train ``model`` (tuned parameters first, then ``params``) on every purchase; save a version.

    The fallback for customers without personal results is trending popularity, with the window
    `reco tune` chose for the recent-popularity baseline (30 days without tuning). ``as_of``: the time
    to train as of (default: the end of the history, see reco.interactions.asof). ``use_guard``: serve, per
    mode, a baseline that beats the model on the latest window (training.guard) instead of the model.
    ``use_gate``: promote only a version that passes the quality gate against the promoted one
    (training.gate, within ``tolerance``); one that does not stays a candidate, recorded in the registry's
    history with the reason. ``keep_versions``: prune older versions beyond this many afterwards. ``by``:
    who asked (the registry's history records it). ``progress``: told each stage of ``STAGES`` as it
    begins (a training run's progress bar; it may raise to cancel: nothing is saved before the last).
    """
    note = progress or (lambda stage: None)
    classes = model_classes()
    if model not in classes:
        raise ConfigurationError(f"unknown model {model!r}; valid: {', '.join(sorted(classes))}")
    started, started_at = time.perf_counter(), utc_now()
    note(STAGES[0])
    events, when = purchase_history(store, "train", as_of)
    complete_pending(store, registry)  # erasures whose model files failed before: retried by every job
    logger.info("train: %s purchases read in %.1fs", f"{len(events):,}", time.perf_counter() - started)
    tuned_models = dict((tuned or {}).get("models", {}))
    chosen = {**tuned_models.get(model, {}).get("params", {}), **dict(params or {})}
    valid = classes[model]().get_params()
    unknown = sorted(set(chosen) - set(valid))
    if unknown:
        raise ConfigurationError(f"{model} has no parameter(s) {unknown}; valid: {', '.join(valid)}")
    window = tuned_models.get("recent_popularity", {}).get("params_by_task", {}).get("new", {}).get("window_days", 30)
    mapping = IdMapping(np.sort(events["customer_id"].unique()), np.sort(events["item_id"].unique()))
    now = when.as_of
    logger.info("train: %s customers x %s items, as of %s", f"{mapping.n_users:,}", f"{mapping.n_items:,}", now)
    note(STAGES[1])
    fit_started = time.perf_counter()
    default = classes[model](**chosen).fit_events(events, mapping, now=now)
    fit_seconds = time.perf_counter() - fit_started
    fallback = RecentPopularityRecommender(window_days=window).fit_events(events, mapping, now=now)
    logger.info("train: %s fitted in %.1fs", model, fit_seconds)
    models: dict[str, Any] = {model: default, FALLBACK_MODEL: fallback,
                              COMPLEMENTS_MODEL: ComplementsRecommender().fit_events(events, mapping, now=now)}
    serving = {mode: model for mode in TASKS}  # the evaluation tasks are the serving modes
    promoted_meta = _promoted_metadata(registry) if use_gate else None  # what the quality gate compares with
    note(STAGES[2])
    measured = guard(events, model, chosen, tuned) if use_guard or (use_gate and promoted_meta) else None
    checked = measured if use_guard and measured is not None else {"off": True}
    for mode, name in checked.get("serving", {}).items():
        if name != model:  # a baseline beat the model on this mode: fit it on all of history and serve it
            key = f"{name}@{mode}"
            models[key] = classes[name](**checked["params"][mode]).fit_events(events, mapping, now=now)
            serving[mode] = key
    metadata = {
        "default_model": model,
        "fallback_model": FALLBACK_MODEL,
        "serving": serving,
        "guard": {k: v for k, v in checked.items() if k != "params"},
        "data": {
            "events": len(events),
            "customers": mapping.n_users,
            "items": mapping.n_items,
            "items_with_category": int(events.loc[events["category"].notna(), "item_id"].nunique()),
            "first_event": events["timestamp"].min().isoformat(),
            "last_event": events["timestamp"].max().isoformat(),
            "store": store.safe_url,
            "store_events": store.count_events(),  # what the schedule compares to skip a run with nothing new
            **when.to_dict(),
        },
        "params": {model: default.get_params(), FALLBACK_MODEL: fallback.get_params()},
        "input": {model: default.input_spec.to_dict()},
        "tuned": {"created_at": tuned.get("created_at"), "holdout_days": tuned.get("holdout_days")} if tuned else None,
        "timing": {"fit_seconds": round(fit_seconds, 3)},
        "software": {p: package_version(p) for p in ("reco", "implicit", "numpy", "scipy")},
    }
    unlearned = default.unlearned_parts()
    metadata["unlearned"] = unlearned
    for key in serving.values():
        if key != model:
            metadata["params"][key] = models[key].get_params()
    note(STAGES[3])
    verdict = gate(events, measured, model=model, params=default.get_params(), serving=serving,
                   data=metadata["data"], promoted=promoted_meta, tolerance=tolerance) if use_gate else {
        "skipped": "the quality gate was turned off (--no-gate)"}
    metadata["gate"] = verdict
    note(STAGES[4])
    version = registry.save(models, mapping, metadata)
    try:  # customers erased while this ran are in the new files: unlink them before anyone can use it
        reapply(store, registry, version, started_at)
    except ArtifactError:
        registry.discard(version)
        raise
    if unlearned and promote:
        parts = "; ".join(f"its {part} did not train: {why}" for part, why in unlearned.items())
        raise TrainingError(
            f"version {version} was saved but NOT promoted, so the serving version is unchanged: the {model} model "
            f"trained as of {now} but {parts}. {when.describe() or ''} Check that the history reaches up to the "
            f"as-of time (reco train --as-of DATE) or add purchases; to serve it all the same: reco models --promote "
            f"{version}".replace("  ", " "))
    promoted = False
    if promote and verdict.get("passed", True):
        reason = verdict.get("skipped") or "; ".join(verdict.get("reasons", []))
        registry.promote(version, by=by, reason=f"trained; {reason}")
        promoted = True
    elif promote:
        why = "; ".join(verdict["reasons"])
        registry.refuse(version, by=by, reason=why)
        logger.warning("train: version %s is kept as a candidate, not promoted, by the quality gate: %s", version, why)
    pruned = registry.prune(keep_versions, by=by) if keep_versions else []
    return {
        "version": version,
        "model": model,
        "serving": serving,
        "promoted": promoted,
        "gate": verdict,
        "pruned": pruned,
        "tuned": bool(tuned_models),
        "customers": mapping.n_users,
        "items": mapping.n_items,
        "events": len(events),
        **when.to_dict(),
        "fit_seconds": round(fit_seconds, 3),
        "seconds": round(time.perf_counter() - started, 3),
    }


def _promoted_metadata(registry: ModelRegistry) -> dict[str, Any] | None:
    """The promoted version's metadata, None when nothing is promoted (or its metadata is gone)."""
    try:
        return registry.metadata(registry.promoted())
    except (ModelNotFoundError, ArtifactError) as exc:
        if isinstance(exc, ArtifactError):
            logger.warning("train: the promoted version's metadata cannot be read (%s); nothing to compare with", exc)
        return None
