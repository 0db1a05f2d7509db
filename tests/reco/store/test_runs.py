"""The training-run queue: one run at a time, never taken twice, cancellable, and failed when its worker
died."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from reco.exceptions import ConfigurationError
from reco.store import EventStore
from reco.store.runs import LOG_LINES_KEPT, utc_now


def test_a_run_goes_from_queued_to_running_to_succeeded_with_progress_and_logs(store: EventStore) -> None:
    run = store.runs.enqueue("recommendations", "auto")
    assert run["state"] == "queued" and run["percent"] is None and run["log"] == []
    taken = store.runs.claim("host:1")
    assert taken is not None and taken["run_id"] == run["run_id"] and taken["state"] == "running"
    assert taken["worker"] == "host:1" and taken["started_at"] is not None
    store.runs.progress(run["run_id"], "fitting the ranker", 3, 8)
    store.runs.log(run["run_id"], "line 0")
    store.runs.log(run["run_id"], [f"line {n}" for n in range(1, LOG_LINES_KEPT + 5)])
    store.runs.log(run["run_id"], [])
    store.runs.finish(run["run_id"], "succeeded", result={"version": "v1", "gate": {"promoted": True}})
    done = store.runs.get(run["run_id"])
    assert done["state"] == "succeeded" and done["stage"] == "fitting the ranker" and done["percent"] == 37.5
    assert done["result"] == {"version": "v1", "gate": {"promoted": True}} and done["finished_at"] is not None
    assert len(done["log"]) == LOG_LINES_KEPT and done["log"][-1] == f"line {LOG_LINES_KEPT + 4}"
    assert store.runs.claim("host:1") is None  # nothing queued
    assert store.runs.get("nope") is None


def test_one_run_at_a_time_oldest_first(store: EventStore) -> None:
    first = store.runs.enqueue("all", "never", source="schedule")
    second = store.runs.enqueue("customers")
    shell = store.runs.enqueue("recommendations", source="cli")  # only its shell takes it, by id
    assert store.runs.claim("a")["run_id"] == first["run_id"]
    assert store.runs.claim("shell", run_id=shell["run_id"]) is None  # it waits too
    assert store.runs.claim("b") is None  # a run is running: the second waits
    store.runs.finish(first["run_id"], "failed", error="no purchases")
    assert store.runs.get(first["run_id"])["error"] == "no purchases"
    assert store.runs.claim("b")["run_id"] == second["run_id"]
    store.runs.finish(second["run_id"], "succeeded")
    assert store.runs.claim("c") is None  # the shell's run is not for workers
    assert store.runs.claim("shell", run_id=shell["run_id"])["run_id"] == shell["run_id"]
    assert [r["run_id"] for r in store.runs.runs()] == [shell["run_id"], second["run_id"], first["run_id"]]


def test_workers_racing_for_runs_never_take_the_same_one(store: EventStore, store_url: str) -> None:
    for _ in range(3):
        store.runs.enqueue("recommendations")
    taken: list[str] = []
    barrier = threading.Barrier(4)

    def worker(name: str) -> None:
        own = EventStore(store_url)  # a worker process has its own connections
        barrier.wait()
        got = own.runs.claim(name)
        if got is not None:
            taken.append(got["run_id"])
        own.dispose()

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(taken) == 1  # four workers at once: exactly one run starts
    assert sum(r["state"] == "running" for r in store.runs.runs()) == 1


def test_cancel_a_queued_run_at_once_and_a_running_one_by_request(store: EventStore) -> None:
    queued = store.runs.enqueue("offers")
    assert store.runs.cancel(queued["run_id"])["state"] == "cancelled"
    assert store.runs.claim("w") is None  # a cancelled run is never taken
    running = store.runs.enqueue("offers")
    store.runs.claim("w")
    after = store.runs.cancel(running["run_id"])
    assert after["state"] == "running" and after["cancel_requested"] and store.runs.cancel_requested(running["run_id"])
    store.runs.finish(running["run_id"], "cancelled")
    assert store.runs.get(running["run_id"])["state"] == "cancelled"
    assert store.runs.cancel("nope") is None


def test_a_run_whose_worker_died_is_failed_by_the_next_worker(store: EventStore) -> None:
    run = store.runs.enqueue("recommendations")
    long_ago = utc_now() - timedelta(minutes=10)
    store.runs.claim("dead:1", now=long_ago)
    alive = store.runs.enqueue("customers")
    assert store.runs.fail_abandoned(timedelta(minutes=5)) == [run["run_id"]]
    failed = store.runs.get(run["run_id"])
    assert failed["state"] == "failed" and "no heartbeat for more than 300 s" in failed["error"]
    assert store.runs.claim("w")["run_id"] == alive["run_id"]
    assert store.runs.fail_abandoned(timedelta(minutes=5)) == []  # its heartbeat is fresh


def test_bad_values_are_named_with_the_valid_ones(store: EventStore) -> None:
    with pytest.raises(ConfigurationError, match="kind 'everything' is not valid; valid: recommendations"):
        store.runs.enqueue("everything")
    with pytest.raises(ConfigurationError, match="promote 'yes' is not valid; valid: auto, never"):
        store.runs.enqueue("all", "yes")
    run = store.runs.enqueue("all")
    with pytest.raises(ConfigurationError, match="state 'done' does not end a run"):
        store.runs.finish(run["run_id"], "done")
