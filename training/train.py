"""The train job: purchase history from the store -> ALS + popularity -> a new registry version."""

from __future__ import annotations

import logging
import time
from importlib.metadata import version as package_version
from typing import Any

from reco.exceptions import InputError
from reco.interactions import build_user_items
from reco.models import ALSRecommender, PopularityRecommender
from reco.registry import ModelRegistry
from reco.store import EventStore

logger = logging.getLogger(__name__)


def train(
    store: EventStore,
    registry: ModelRegistry,
    *,
    weighting: str = "log1p",
    half_life_days: float = 90.0,
    als_params: dict[str, Any] | None = None,
    promote: bool = True,
) -> dict[str, Any]:
    """Train on every purchase in the store and save a version; returns the job's report."""
    started = time.perf_counter()
    store.create_schema()
    events = store.read_events(("purchase",), columns=("customer_id", "item_id", "timestamp"))
    if events.empty:
        raise InputError(f"the event store at {store.safe_url} holds no purchases; run 'reco ingest' first")
    logger.info("train: %s purchases read in %.1fs", f"{len(events):,}", time.perf_counter() - started)
    user_items, mapping = build_user_items(events, weighting=weighting, half_life_days=half_life_days)
    logger.info("train: matrix %s customers x %s items, %s pairs", f"{user_items.shape[0]:,}",
                f"{user_items.shape[1]:,}", f"{user_items.nnz:,}")
    fit_started = time.perf_counter()
    als = ALSRecommender(**(als_params or {})).fit(user_items)
    als_seconds = time.perf_counter() - fit_started
    popularity = PopularityRecommender().fit(user_items)
    logger.info("train: ALS fitted in %.1fs", als_seconds)
    metadata = {
        "default_model": "als",
        "fallback_model": "popularity",
        "data": {
            "events": len(events),
            "customers": mapping.n_users,
            "items": mapping.n_items,
            "pairs": int(user_items.nnz),
            "first_event": events["timestamp"].min().isoformat(),
            "last_event": events["timestamp"].max().isoformat(),
            "store": store.safe_url,
        },
        "params": {"weighting": weighting, "half_life_days": half_life_days, "als": als.get_params()},
        "timing": {"als_fit_seconds": round(als_seconds, 3)},
        "software": {p: package_version(p) for p in ("reco", "implicit", "numpy", "scipy")},
    }
    version = registry.save({"als": als, "popularity": popularity}, mapping, metadata)
    if promote:
        registry.promote(version)
    return {
        "version": version,
        "promoted": promote,
        "customers": mapping.n_users,
        "items": mapping.n_items,
        "events": len(events),
        "seconds": round(time.perf_counter() - started, 3),
    }
