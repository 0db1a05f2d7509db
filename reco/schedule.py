"""The retraining schedule's cron expression (``RECO_RETRAIN_SCHEDULE``, UTC): checked, and when it is next
due. The worker keeps the schedule (training.schedule); the dashboard shows when it falls due next."""

from __future__ import annotations

from datetime import datetime

from croniter import croniter

from reco.exceptions import ConfigurationError


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
