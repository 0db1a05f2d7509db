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
from reco.exceptions import ConfigurationError, InputError
from reco.models import Recommender, model_classes
from reco.store import EventStore

logger = logging.getLogger(__name__)

BASELINES: tuple[str, ...] = ("popularity", "recent_popularity", "buy_again")
DEFAULT_MODEL = "hybrid"


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
    tuned: Mapping[str, Any] | None = None,
) -> Evaluation:
    """Evaluate on a temporal holdout, with tuned parameters where a tuning result is given."""
    names = [m.strip() for m in models if m.strip()]
    default = DEFAULT_MODEL if DEFAULT_MODEL in names else (names[0] if names else None)
    tuned_models = dict((tuned or {}).get("models", {}))
    if tuned and float(tuned.get("holdout_days", holdout_days)) != float(holdout_days):
        logger.warning("tuning used a %s-day window, evaluation %s days: tuned parameters ignored",
                       tuned.get("holdout_days"), holdout_days)
        tuned_models = {}
    split = temporal_split(events, holdout_days)
    shared = {n: t["params"] for n, t in tuned_models.items() if n not in BASELINES}
    result: Evaluation | None = None
    for task in TASKS:
        per_task = {n: t["params_by_task"].get(task, t["params"]) for n, t in tuned_models.items() if n in BASELINES}
        chosen = build_models(names, {**shared, **per_task})
        part = evaluate_models(events, chosen, holdout_days=holdout_days, k=k, tasks=(task,), default_model=default,
                               split=split)
        if result is None:
            result = part
        else:
            result.tasks[task] = part.tasks[task]
            for name, seconds in part.fit_seconds.items():
                result.fit_seconds[name] = max(result.fit_seconds.get(name, 0.0), seconds)
            for name, params in part.params.items():
                if result.params.get(name) != params:
                    result.params[f"{name}[{task}]"] = params
    assert result is not None
    result.tuned = bool(tuned_models)
    return result


def evaluate(
    store: EventStore, models: Sequence[str] = (DEFAULT_MODEL,), holdout_days: float = 30.0, k: int = 10,
    tuned: Mapping[str, Any] | None = None,
) -> tuple[Evaluation, str]:
    """Evaluate the named models (and the baselines) on the store's purchases."""
    events = store.read_events(("purchase",), columns=("customer_id", "item_id", "timestamp"))
    if events.empty:
        raise InputError(f"the event store at {store.safe_url} holds no purchases; run 'reco ingest' first")
    result = evaluate_events(events, models, holdout_days, k, tuned)
    return result, format_table(result)
