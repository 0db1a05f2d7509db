"""Scheduled retraining (``RECO_RETRAIN_SCHEDULE``, cron syntax, UTC): the worker queues a run of kind
``all`` (promote ``auto``, through the quality gate) when the schedule falls due, unless a run is
already queued or running, or no event arrived since the newest version was trained (its metadata
records how many events the store held)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from croniter import croniter

from reco.exceptions import ArtifactError, ConfigurationError, ModelNotFoundError
from reco.registry import ModelRegistry
from reco.store import EventStore

logger = logging.getLogger(__name__)

SCHEDULED_KIND = "all"


def check_schedule(expression: str) -> str:
    """``expression`` stripped, or ConfigurationError naming it (an empty one means: no schedule)."""
    expression = (expression or "").strip()
    if expression and not croniter.is_valid(expression):
        raise ConfigurationError(f"RECO_RETRAIN_SCHEDULE={expression!r} is not a cron expression; it takes five "
                                 "fields, minute hour day-of-month month day-of-week, e.g. '0 3 * * *' (03:00 UTC "
                                 "every day) or '30 2 * * 1' (Mondays at 02:30 UTC)")
    return expression


def next_due(expression: str, after: datetime) -> datetime:
    """The first time after ``after`` (naive UTC) that the schedule names."""
    return croniter(check_schedule(expression), after).get_next(datetime)


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
