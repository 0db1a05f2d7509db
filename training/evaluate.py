"""The evaluate job: purchase history from the store -> a temporal holdout table of models.

With a `reco tune` result present, every model uses its tuned parameters: the default model one
set for both tasks, each baseline its best set per task (the strongest baseline it can be).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from reco.evaluation import TASKS, Evaluation, evaluate_models, format_table, temporal_split
from reco.exceptions import ConfigurationError
from reco.models import DEFAULT_MODEL, Recommender, model_classes
from reco.store import EventStore
from training.choices import BASELINES, PEERS
from training.history import purchase_history

logger = logging.getLogger(__name__)



def build_models(names: Sequence[str], params: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Recommender]:
    """Models by registry name (with the baselines always first), optionally with parameters."""
    classes = model_classes()
    unknown = [n for n in names if n not in classes]
    if unknown:
        raise ConfigurationError(f"unknown model(s) {unknown}; valid: {', '.join(sorted(classes))}")
    ordered = list(dict.fromkeys([*BASELINES, *names]))
    return {name: classes[name](**dict((params or {}).get(name, {}))) for name in ordered}


def evaluate_events(
    events: pd.DataFrame, models: Sequence[str] = (DEFAULT_MODEL,), holdout_days: float = 30.0, k: int = 10,
    tuned: Mapping[str, Any] | None = None, overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Evaluation:
    """Evaluate on a temporal holdout, with tuned parameters where a tuning result is given (``overrides``:
    model -> parameters that win over the tuned ones, as ``reco train --param`` does)."""
    names = [m.strip() for m in models if m.strip()]
    default = DEFAULT_MODEL if DEFAULT_MODEL in names else (names[0] if names else None)
    tuned_models = dict((tuned or {}).get("models", {}))
    if tuned and float(tuned.get("holdout_days", holdout_days)) != float(holdout_days):
        logger.warning("tuning used a %s-day window, evaluation %s days: tuned parameters ignored",
                       tuned.get("holdout_days"), holdout_days)
        tuned_models = {}
    split = temporal_split(events, holdout_days)
    build_models(names)  # refuses unknown names, listing the valid ones
    ordered = list(dict.fromkeys([*BASELINES, *names]))
    params = {task: {n: dict(tuned_models[n]["params_by_task"].get(task, tuned_models[n]["params"])
                             if n in BASELINES or n in PEERS else tuned_models[n]["params"])
                     for n in ordered if n in tuned_models} for task in TASKS}
    for name, given in (overrides or {}).items():
        for task in TASKS:
            params[task][name] = {**params[task].get(name, {}), **dict(given)}
    classes = model_classes()

    def instances(chosen: Sequence[str], task: str) -> dict[str, Recommender]:
        return {n: classes[n](**params[task].get(n, {})) for n in chosen}

    # A model with the same parameters in both tasks is fitted once; only per-task baselines twice.
    same = [n for n in ordered if all(params[t].get(n) == params[TASKS[0]].get(n) for t in TASKS)]
    result = evaluate_models(events, instances(same, TASKS[0]), holdout_days=holdout_days, k=k,
                             default_model=default, split=split)
    differ = [n for n in ordered if n not in same]
    for task in TASKS if differ else ():
        part = evaluate_models(events, instances(differ, task), holdout_days=holdout_days, k=k, tasks=(task,),
                               default_model=default, split=split)
        result.tasks[task].update(part.tasks[task])
        for name, recall in part.candidate_recall.get(task, {}).items():
            result.candidate_recall.setdefault(task, {})[name] = recall
        for name, seconds in part.fit_seconds.items():
            result.fit_seconds[name] = max(result.fit_seconds.get(name, 0.0), seconds)
        for name, chosen in part.params.items():
            result.params[name if task == TASKS[0] else f"{name}[{task}]"] = chosen
    result.tuned = bool(tuned_models)
    return result


def evaluate(
    store: EventStore, models: Sequence[str] = (DEFAULT_MODEL,), holdout_days: float = 30.0, k: int = 10,
    tuned: Mapping[str, Any] | None = None, as_of: pd.Timestamp | str | None = None,
) -> tuple[Evaluation, str]:
    """Evaluate the named models (and the baselines) on the store's purchases up to the as-of time."""
    events, _ = purchase_history(store, "evaluate", as_of)
    result = evaluate_events(events, models, holdout_days, k, tuned)
    return result, format_table(result)
