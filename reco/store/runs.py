"""The training-run queue: runs asked for (API, shell, schedule) wait here until a worker takes them.

One run trains at a time in the whole store: ``claim`` takes the oldest queued run only while no run is
running, in one UPDATE whose condition is checked again under the row lock (PostgreSQL) or the single
writer (SQLite), so two workers never take the same run. A running run's worker sends heartbeats with
its progress; a run whose heartbeat stopped (its worker died) is marked failed by the next worker that
starts (``fail_abandoned``). A queued run is cancelled at once; a running one when its worker next
checks (``cancel_requested``). Rows hold no customer ids: runs are about the whole store.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, exists, func, insert, select, update
from sqlalchemy.orm import aliased

from reco.clock import utc_now
from reco.exceptions import ConfigurationError
from reco.store.tables import training_run_logs, training_runs
from reco.vocabulary import RUN_KINDS, RUN_PROMOTE, RUN_STATES

ACTIVE = RUN_STATES[:2]  # queued, running
FINISHED = RUN_STATES[2:]  # succeeded, failed, cancelled
SOURCES = ("api", "dashboard", "cli", "schedule")  # who asked: a key over the API or the dashboard, a shell, cron
LOG_LINES_KEPT = 200  # per run; older lines are dropped as new ones arrive
LINE_CHARS = 1_000


class RunStore:
    """Training runs and their log lines in one store."""

    def __init__(self, engine: Engine, transaction: Callable[[], AbstractContextManager[Connection]] | None = None
                 ) -> None:
        """``transaction``: how writes begin (the store's, which turns a long wait for another writer into
        StoreBusyError); default the engine's."""
        self.engine = engine
        self._begin = transaction or engine.begin

    def enqueue(self, kind: str, promote: str = "auto", source: str = "api") -> dict[str, Any]:
        """Queue a run of ``kind`` (``RUN_KINDS``); ``promote`` ``auto`` (through the quality gate) or
        ``never``. Returns the run as ``get`` does."""
        for name, value, valid in (("kind", kind, RUN_KINDS), ("promote", promote, RUN_PROMOTE),
                                   ("source", source, SOURCES)):
            if value not in valid:
                raise ConfigurationError(f"{name} {value!r} is not valid; valid: {', '.join(valid)}")
        run_id = uuid.uuid4().hex
        with self._begin() as conn:
            conn.execute(insert(training_runs).values(
                run_id=run_id, kind=kind, promote=promote, source=source, state="queued", done=0, total=0,
                created_at=utc_now(), cancel_requested=False))
        return self.get(run_id)  # type: ignore[return-value]

    def claim(self, worker: str, now: datetime | None = None, run_id: str | None = None) -> dict[str, Any] | None:
        """Take the oldest queued run for ``worker`` (marked running), or None: nothing queued, or a run is
        running already. Workers take the runs queued by the API and the schedule; a run the shell queued
        (``reco train``, source ``cli``) is taken by that shell only, by its ``run_id``."""
        now = now or utc_now()
        running = aliased(training_runs)
        if run_id is not None:
            oldest = select(training_runs.c.run_id).where(training_runs.c.run_id == run_id).scalar_subquery()
        else:
            oldest = (select(training_runs.c.run_id)
                      .where(and_(training_runs.c.state == "queued", training_runs.c.source != "cli"))
                      .order_by(training_runs.c.created_at, training_runs.c.run_id).limit(1).scalar_subquery())
        with self._begin() as conn:  # one statement: SQLite takes its write lock before reading
            run_id = conn.execute(
                update(training_runs)
                .where(and_(training_runs.c.run_id == oldest, training_runs.c.state == "queued",
                            ~exists(select(running.c.run_id).where(running.c.state == "running"))))
                .values(state="running", worker=worker[:128], started_at=now, heartbeat_at=now)
                .returning(training_runs.c.run_id)
            ).scalar()
        return None if run_id is None else self.get(run_id)

    def progress(self, run_id: str, stage: str, done: int, total: int, now: datetime | None = None) -> None:
        """Record where a running run is (and that its worker is alive)."""
        with self._begin() as conn:
            conn.execute(update(training_runs).where(training_runs.c.run_id == run_id)
                         .values(stage=stage[:64], done=int(done), total=int(total), heartbeat_at=now or utc_now()))

    def log(self, run_id: str, lines: str | list[str], now: datetime | None = None) -> None:
        """Append lines to a run's log (the last ``LOG_LINES_KEPT`` are kept)."""
        lines = [lines] if isinstance(lines, str) else lines
        if not lines:
            return
        at = now or utc_now()
        with self._begin() as conn:
            last = conn.execute(select(func.max(training_run_logs.c.seq))
                                .where(training_run_logs.c.run_id == run_id)).scalar()
            first = 0 if last is None else int(last) + 1
            conn.execute(insert(training_run_logs), [{"run_id": run_id, "seq": first + n, "at": at,
                                                      "line": line[:LINE_CHARS]} for n, line in enumerate(lines)])
            newest = first + len(lines) - 1
            conn.execute(training_run_logs.delete().where(and_(training_run_logs.c.run_id == run_id,
                                                               training_run_logs.c.seq <= newest - LOG_LINES_KEPT)))

    def finish(self, run_id: str, state: str, result: dict[str, Any] | None = None, error: str | None = None,
               now: datetime | None = None) -> None:
        """End a running run as succeeded, failed or cancelled, with its result (metrics, version, the
        gate's verdict) or what went wrong."""
        if state not in FINISHED:
            raise ConfigurationError(f"state {state!r} does not end a run; valid: {', '.join(FINISHED)}")
        with self._begin() as conn:
            conn.execute(update(training_runs)
                         .where(and_(training_runs.c.run_id == run_id, training_runs.c.state == "running"))
                         .values(state=state, finished_at=now or utc_now(), error=error,
                                 result=None if result is None else json.dumps(result, sort_keys=True, default=str)))

    def cancel(self, run_id: str, now: datetime | None = None) -> dict[str, Any] | None:
        """Cancel a run: a queued one at once, a running one when its worker next checks. None: no such run."""
        with self._begin() as conn:
            conn.execute(update(training_runs)
                         .where(and_(training_runs.c.run_id == run_id, training_runs.c.state == "queued"))
                         .values(state="cancelled", finished_at=now or utc_now(), error="cancelled before it started"))
            conn.execute(update(training_runs)
                         .where(and_(training_runs.c.run_id == run_id, training_runs.c.state == "running"))
                         .values(cancel_requested=True))
        return self.get(run_id)

    def cancel_requested(self, run_id: str) -> bool:
        with self.engine.connect() as conn:
            return bool(conn.execute(select(training_runs.c.cancel_requested)
                                     .where(training_runs.c.run_id == run_id)).scalar())

    def fail_abandoned(self, stale_after: timedelta, now: datetime | None = None) -> list[str]:
        """Mark failed every running run whose worker sent no heartbeat for ``stale_after`` (it died):
        what a worker does as it starts. Returns their ids."""
        now = now or utc_now()
        stale = and_(training_runs.c.state == "running", training_runs.c.heartbeat_at < now - stale_after)
        with self._begin() as conn:
            ids = list(conn.execute(select(training_runs.c.run_id).where(stale)).scalars())
            if ids:
                conn.execute(update(training_runs).where(and_(stale, training_runs.c.run_id.in_(ids))).values(
                    state="failed", finished_at=now,
                    error=f"its worker stopped: no heartbeat for more than {stale_after.total_seconds():g} s"))
        return ids

    def get(self, run_id: str) -> dict[str, Any] | None:
        """A run with its progress (``percent``), result and log lines (oldest first); None if unknown."""
        with self.engine.connect() as conn:
            row = conn.execute(select(training_runs).where(training_runs.c.run_id == run_id)).mappings().first()
            if row is None:
                return None
            lines = list(conn.execute(select(training_run_logs.c.line).where(training_run_logs.c.run_id == run_id)
                                      .order_by(training_run_logs.c.seq)).scalars())
        return _run(dict(row), lines)

    def active(self) -> list[dict[str, Any]]:
        """The runs queued or running, oldest first, without their logs."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(training_runs).where(training_runs.c.state.in_(ACTIVE))
                                .order_by(training_runs.c.created_at, training_runs.c.run_id)).mappings()
            return [_run(dict(r), None) for r in rows]

    def runs(self, limit: int = 50) -> list[dict[str, Any]]:
        """The latest runs, newest first, without their logs."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(training_runs).order_by(training_runs.c.created_at.desc(),
                                                               training_runs.c.run_id).limit(limit)).mappings()
            return [_run(dict(r), None) for r in rows]


def _run(row: dict[str, Any], lines: list[str] | None) -> dict[str, Any]:
    row["cancel_requested"] = bool(row["cancel_requested"])
    row["result"] = None if row["result"] is None else json.loads(row["result"])
    row["percent"] = round(100.0 * row["done"] / row["total"], 1) if row["total"] else None
    if lines is not None:
        row["log"] = lines
    return row
