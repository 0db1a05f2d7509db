"""The evaluate job: purchase history from the store -> a temporal holdout table of models."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from reco.evaluation import Evaluation, evaluate_models, format_table
from reco.exceptions import ConfigurationError, InputError
from reco.models import Recommender, model_classes
from reco.store import EventStore

logger = logging.getLogger(__name__)

BASELINES: tuple[str, ...] = ("popularity", "recent_popularity", "buy_again")
DEFAULT_MODEL = "als"


def build_models(names: Sequence[str]) -> dict[str, Recommender]:
    """Models by registry name, with their default hyperparameters; always with the baselines."""
    classes = model_classes()
    unknown = [n for n in names if n not in classes]
    if unknown:
        raise ConfigurationError(f"unknown model(s) {unknown}; valid: {', '.join(sorted(classes))}")
    ordered = list(dict.fromkeys([*BASELINES, *names]))
    return {name: classes[name]() for name in ordered}


def evaluate(
    store: EventStore, models: Sequence[str] = (DEFAULT_MODEL,), holdout_days: float = 30.0, k: int = 10
) -> tuple[Evaluation, str]:
    """Evaluate the named models (and the baselines) on the store's purchases."""
    events = store.read_events(("purchase",), columns=("customer_id", "item_id", "timestamp"))
    if events.empty:
        raise InputError(f"the event store at {store.safe_url} holds no purchases; run 'reco ingest' first")
    chosen = build_models([m.strip() for m in models if m.strip()])
    default = DEFAULT_MODEL if DEFAULT_MODEL in chosen else None
    result = evaluate_models(events, chosen, holdout_days=holdout_days, k=k, default_model=default)
    return result, format_table(result)
