"""Scheduled retraining (``RECO_RETRAIN_SCHEDULE``, cron syntax, UTC): the worker queues a run of kind
``all`` (promote ``auto``, through the quality gate) when the schedule falls due, unless a run is
already queued or running, or no event arrived since the newest version was trained (its metadata
records how many events the store held)."""

from __future__ import annotations

import logging
from typing import Any

from reco.exceptions import ArtifactError, ModelNotFoundError
from reco.registry import ModelRegistry
from reco.schedule import check_schedule, next_due
from reco.store import EventStore

logger = logging.getLogger(__name__)

SCHEDULED_KIND = "all"
__all__ = ["SCHEDULED_KIND", "check_schedule", "next_due", "queue_scheduled"]


def queue_scheduled(store: EventStore, registry: ModelRegistry) -> dict[str, Any] | None:
    """Queue the scheduled run, or None with the reason logged when it is skipped."""
    busy = store.runs.active()
    if busy:
        logger.info("schedule: retraining skipped: run %s is %s already", busy[0]["run_id"], busy[0]["state"])
        return None
    versions = registry.versions()
    if versions:
        try:
            held = registry.metadata(versions[-1]).get("data", {}).get("store_events")
        except (ArtifactError, ModelNotFoundError):
            held = None
        now = store.count_events()
        if held is not None and int(held) == now:
            logger.info("schedule: retraining skipped: no new events since version %s (%s events)", versions[-1],
                        f"{now:,}")
            return None
    run = store.runs.enqueue(SCHEDULED_KIND, "auto", source="schedule")
    logger.info("schedule: retraining queued as run %s", run["run_id"])
    return run
