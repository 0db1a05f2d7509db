"""The training worker: queued runs executed one at a time, with progress, logs, results and failures
kept on the run."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from reco.clock import utc_now
from reco.exceptions import ModelNotFoundError
from reco.ingest import ingest
from reco.registry import ModelRegistry
from reco.store import EventStore
from tests.factories import rhythm_log
from training.worker import execute, run_worker

PARAMS = {"factors": 8, "iterations": 5}


@pytest.fixture
def shop(settings_env: dict[str, str], store: EventStore, purchases_csv: Path) -> EventStore:
    ingest(store, purchases_csv)
    return store


def test_a_queued_retraining_runs_promotes_and_keeps_its_progress_and_log(shop: EventStore, tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "models")
    run = shop.runs.enqueue("recommendations", "auto")
    [done] = run_worker(shop, registry, once=True)
    assert done["run_id"] == run["run_id"] and done["state"] == "succeeded", done["error"]
    assert done["percent"] == 100.0 and done["stage"] == "done"
    version = done["result"]["recommendations"]["version"]
    assert registry.promoted() == version and done["result"]["recommendations"]["promoted"]
    assert any("train:" in line for line in done["log"])  # the job's own log lines, kept with the run


def test_all_without_promotion_scores_with_the_new_candidate_and_skips_offers_without_outcomes(
        store: EventStore, settings_env: dict[str, str], tmp_path: Path) -> None:
    log = rhythm_log(n=60)  # over a year: long enough for the customer models' horizon
    log.assign(timestamp=log["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S")).to_csv(tmp_path / "log.csv", index=False)
    ingest(store, tmp_path / "log.csv")
    registry = ModelRegistry(tmp_path / "models")
    store.runs.enqueue("all", "never")
    [done] = run_worker(store, registry, once=True)
    assert done["state"] == "succeeded", done["error"]
    assert set(done["result"]) == {"recommendations", "customers", "seconds"}
    version = done["result"]["recommendations"]["version"]
    with pytest.raises(ModelNotFoundError):  # 'never': a candidate only, nothing promoted
        registry.promoted()
    assert done["result"]["customers"]["version"] == version


def test_a_failing_run_is_failed_with_its_error_and_the_worker_goes_on(store: EventStore, settings_env: dict[str, str],
                                                                       purchases_csv: Path, tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "models")
    first = store.runs.enqueue("recommendations")
    failed, = run_worker(store, registry, once=True)  # nothing ingested yet
    assert failed["run_id"] == first["run_id"] and failed["state"] == "failed"
    assert "InputError" in failed["error"] and "holds no purchases" in failed["error"]
    ingest(store, purchases_csv)
    store.runs.enqueue("recommendations")
    [ok] = run_worker(store, registry, once=True)
    assert ok["state"] == "succeeded"


def test_cancelled_runs_stop_between_steps_and_dead_workers_runs_fail(shop: EventStore, tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "models")
    run = shop.runs.enqueue("all")
    claimed = shop.runs.claim("w")
    shop.runs.cancel(run["run_id"])
    stopped = execute(claimed, shop, registry)
    assert stopped["state"] == "cancelled" and stopped["error"] == "cancelled before step recommendations"
    assert registry.versions() == []
    lost = shop.runs.enqueue("customers")
    shop.runs.claim("dead:1", now=utc_now() - timedelta(hours=1))
    assert run_worker(shop, registry, once=True, stale_after=timedelta(minutes=10)) == []
    assert shop.runs.get(lost["run_id"])["state"] == "failed"


def test_reco_worker_once_runs_the_queue_and_prints_what_it_ran(shop: EventStore,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from training.cli import main

    run = shop.runs.enqueue("recommendations", "never", source="cli")
    assert main(["worker", "--once"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["runs"] == [{"run_id": run["run_id"], "kind": "recommendations", "state": "succeeded",
                                "error": None}]
    assert main(["worker", "--once", "--poll-seconds", "0"]) == 2
    assert "poll_seconds must be > 0, got 0.0" in capsys.readouterr().err
