"""The training worker (``reco worker``): takes queued training runs from the store (reco.store.runs), one
at a time, and runs them as the shell's jobs would, in its own process, never in an API process.

A run of kind ``recommendations`` trains a new version (``train``; promoted through train's own checks
when the run says ``auto``, kept as a candidate when it says ``never``), ``customers`` scores every
customer with a version, ``offers`` fits the offer-response model of a version, and ``all`` does the
three in that order (offers only when the store holds offer outcomes). Between steps the worker records
progress (a heartbeat) and honours a cancellation; the log lines of the jobs (levels INFO and up of the
``reco`` and ``training`` loggers) are kept with the run. A worker that starts marks failed the runs of
workers that died (no heartbeat for ``stale_after``). The worker also keeps the retraining schedule
(training.schedule), and ``run_here`` records a job of the shell (``reco train``) as a run of its own.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from reco.clock import utc_now
from reco.exceptions import ConfigurationError, RunCancelledError
from reco.registry import ModelRegistry
from reco.store import EventStore
from reco.store.runs import LOG_LINES_KEPT
from training.schedule import check_schedule, next_due, queue_scheduled

logger = logging.getLogger(__name__)

STALE_AFTER = timedelta(minutes=10)  # a running run without a heartbeat this long lost its worker
JOB_LOGGERS = ("reco", "training")


class _RunLog(logging.Handler):
    """Collects the jobs' log lines; ``flush`` keeps them with the run (between steps and at the end, never
    from inside a job's own write transaction, which a second writer would wait on)."""

    def __init__(self, store: EventStore, run_id: str) -> None:
        super().__init__(logging.INFO)
        self.store, self.run_id = store, run_id
        self.lines: deque[str] = deque(maxlen=LOG_LINES_KEPT)

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.name}: {record.getMessage()}")

    def flush(self) -> None:
        lines, self.lines = list(self.lines), deque(maxlen=LOG_LINES_KEPT)
        try:
            self.store.runs.log(self.run_id, lines)
        except Exception as exc:  # the log must never fail the run
            logger.warning("worker: could not keep %d log lines of run %s: %s", len(lines), self.run_id, exc)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


Report = Callable[[str], None]  # a step tells where it is within itself (a part's name) through this
# (stage name, (results so far, report) -> its result, how many parts it reports: the progress bar's steps)
Step = tuple[str, Callable[[dict[str, Any], Report], dict[str, Any]], int]


def steps_of(run: dict[str, Any], store: EventStore, registry: ModelRegistry, tuned: dict[str, Any] | None,
             train_options: Mapping[str, Any] | None = None) -> list[Step]:
    """The run's steps, each a (stage name, function of the results so far -> its result). ``train_options``:
    the quality gate's ``tolerance`` and ``keep_versions`` (train's keywords)."""
    from training.offers import train_offers
    from training.score import STAGES as SCORE_STAGES
    from training.score import score_customers
    from training.train import STAGES, train

    kind, promote = run["kind"], run["promote"] == "auto"

    def version(done: dict[str, Any]) -> str | None:
        return done.get("recommendations", {}).get("version")

    steps: list[Step] = []
    if kind in ("recommendations", "all"):
        options = {**dict(train_options or {}), "by": f"run {run['run_id']} ({run['source']})"}
        steps.append(("recommendations", lambda done, report: train(store, registry, tuned=tuned, promote=promote,
                                                                    progress=report, **options), len(STAGES)))
    if kind in ("customers", "all"):
        steps.append(("customers", lambda done, report: score_customers(store, registry, version=version(done),
                                                                        progress=report), len(SCORE_STAGES)))
    if kind == "offers" or (kind == "all" and store.count_rows("offer_outcomes") > 0):
        steps.append(("offers", lambda done, report: train_offers(store, registry, version=version(done)), 1))
    return steps


def execute(run: dict[str, Any], store: EventStore, registry: ModelRegistry,
            tuned: dict[str, Any] | None = None, train_options: Mapping[str, Any] | None = None,
            steps: list[Step] | None = None, reraise: bool = False) -> dict[str, Any]:
    """Run a claimed run's steps (default: those of its kind, ``steps_of``) and finish it: succeeded with
    each step's result, failed with the error (raised again with ``reraise``, for the shell's exit code),
    or cancelled. Returns the run as stored at the end."""
    run_id = run["run_id"]
    handler = _RunLog(store, run_id)
    levels = {name: logging.getLogger(name).level for name in JOB_LOGGERS}
    for name in JOB_LOGGERS:
        job_logger = logging.getLogger(name)
        job_logger.addHandler(handler)
        if job_logger.getEffectiveLevel() > logging.INFO:  # the run keeps INFO lines whatever the process logs
            job_logger.setLevel(logging.INFO)
    done: dict[str, Any] = {}
    started = time.perf_counter()
    try:
        steps = steps if steps is not None else steps_of(run, store, registry, tuned, train_options)
        total = sum(max(1, parts) for _, _, parts in steps)
        base = 0
        for stage, step, parts in steps:
            if store.runs.cancel_requested(run_id):
                raise RunCancelledError(f"cancelled before step {stage}")
            handler.flush()
            store.runs.progress(run_id, stage, base, total)
            done[stage] = step(done, _Reporter(store, handler, run_id, stage, base, max(1, parts), total))
            base += max(1, parts)
        handler.flush()
        store.runs.progress(run_id, "done", total, total)
        store.runs.finish(run_id, "succeeded", result={**done, "seconds": round(time.perf_counter() - started, 1)})
    except RunCancelledError as exc:
        handler.flush()
        store.runs.finish(run_id, "cancelled", result=done or None, error=str(exc))
    except Exception as exc:  # whatever went wrong is the run's error, and the worker goes on
        logger.warning("worker: run %s failed: %s", run_id, exc)
        handler.flush()
        store.runs.finish(run_id, "failed", result=done or None, error=f"{type(exc).__name__}: {exc}")
        if reraise:
            raise
    finally:
        for name, level in levels.items():
            logging.getLogger(name).removeHandler(handler)
            logging.getLogger(name).setLevel(level)
    return store.runs.get(run_id)  # type: ignore[return-value]


def _prepare(store: EventStore, stale_after: timedelta) -> None:
    """What whoever runs runs does first: the tables exist, and runs whose worker died are marked failed."""
    store.create_schema()
    for run_id in store.runs.fail_abandoned(stale_after):
        logger.warning("run %s lost its worker (no heartbeat for %s); marked failed", run_id, stale_after)


class _Reporter:
    """A step's ``report``: each part it names moves the run's progress one step within the step's share
    (never past it), and is where a cancellation asked for meanwhile stops the step."""

    def __init__(self, store: EventStore, handler: _RunLog, run_id: str, stage: str, base: int, parts: int,
                 total: int) -> None:
        self.store, self.handler, self.run_id = store, handler, run_id
        self.stage, self.base, self.parts, self.total = stage, base, parts, total
        self.seen = 0

    def __call__(self, part: str) -> None:
        if self.store.runs.cancel_requested(self.run_id):
            raise RunCancelledError(f"cancelled during step {self.stage} ({part})")
        self.handler.flush()
        done = self.base + min(self.seen, self.parts - 1)
        self.store.runs.progress(self.run_id, f"{self.stage}: {part}", done, self.total)
        self.seen += 1


def _wait(seconds: float) -> None:
    """Sleep while another run runs (a seam for the tests)."""
    time.sleep(seconds)


def run_here(store: EventStore, registry: ModelRegistry, kind: str, promote: str, step: Step,
             poll_seconds: float = 2.0, stale_after: timedelta = STALE_AFTER) -> dict[str, Any]:
    """Run one job of the shell (``reco train``) as a training run of source ``cli``, so that it shows with
    the others (API, schedule) and, like them, never trains beside another run: while one runs, this
    waits for it. Its failure is recorded, then raised. Returns the finished run."""
    _prepare(store, stale_after)
    name = worker_name()
    run = store.runs.enqueue(kind, promote, source="cli")
    waited = 0.0
    try:
        while (claimed := store.runs.claim(name, run_id=run["run_id"])) is None:
            if waited == 0 or waited >= 60:
                logger.info("another training run is running; run %s waits for it to end", run["run_id"])
                waited = 0.0
            _wait(poll_seconds)
            waited += poll_seconds
    except BaseException:  # interrupted while waiting: the queued run must not linger
        store.runs.cancel(run["run_id"])
        raise
    return execute(claimed, store, registry, steps=[step], reraise=True)


def run_worker(store: EventStore, registry: ModelRegistry, *, once: bool = False, poll_seconds: float = 2.0,
               stale_after: timedelta = STALE_AFTER, tuned: Callable[[], dict[str, Any] | None] = lambda: None,
               name: str | None = None, train_options: Mapping[str, Any] | None = None,
               schedule: str = "") -> list[dict[str, Any]]:
    """Take and execute runs until stopped (``once``: until none is queued). Returns the runs it executed
    (only when ``once``; a long-running worker keeps nothing). ``schedule``: cron syntax (training.schedule);
    when it falls due, a retraining is queued (not with ``once``)."""
    if not poll_seconds > 0:
        raise ConfigurationError(f"poll_seconds must be > 0, got {poll_seconds!r}")
    schedule = check_schedule(schedule)
    due = next_due(schedule, utc_now()) if schedule and not once else None
    if due is not None:
        logger.info("worker: retraining scheduled (%s); next at %s UTC", schedule, f"{due:%Y-%m-%d %H:%M}")
    _prepare(store, stale_after)
    name = name or worker_name()
    logger.info("worker %s: waiting for training runs", name)
    executed: list[dict[str, Any]] = []
    while True:
        if due is not None and utc_now() >= due:
            queue_scheduled(store, registry)
            due = next_due(schedule, utc_now())
        run = store.runs.claim(name)
        if run is None:
            if once:
                return executed
            _wait(poll_seconds)
            continue
        logger.info("worker: run %s (%s, promote %s) started", run["run_id"], run["kind"], run["promote"])
        finished = execute(run, store, registry, tuned(), train_options)
        logger.info("worker: run %s %s", run["run_id"], finished["state"])
        if once:
            executed.append(finished)
