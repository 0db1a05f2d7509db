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
    from training import score, train

    assert done["done"] == done["total"] == len(train.STAGES) + len(score.STAGES)  # the bar's steps: both jobs' stages


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

    run = shop.runs.enqueue("recommendations", "never", source="schedule")
    assert main(["worker", "--once"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["runs"] == [{"run_id": run["run_id"], "kind": "recommendations", "state": "succeeded",
                                "error": None}]
    assert main(["worker", "--once", "--poll-seconds", "0"]) == 2
    assert "poll_seconds must be > 0, got 0.0" in capsys.readouterr().err


def test_reco_train_is_recorded_as_a_run_that_waits_for_a_running_one_and_no_worker_takes(
        shop: EventStore, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    import training.worker as worker_module
    from training.cli import main

    assert main(["train", "--param", "factors=8", "--param", "iterations=3"]) == 0
    trained = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    run = shop.runs.get(trained["run_id"])
    assert run["source"] == "cli" and run["state"] == "succeeded" and run["kind"] == "recommendations"
    assert run["result"]["recommendations"]["version"] == trained["version"] and run["percent"] == 100.0
    assert any("train:" in line for line in run["log"])

    # While another run runs, the shell's run waits (queued, untouchable by workers), then trains.
    other = shop.runs.enqueue("customers", "auto")
    assert shop.runs.claim("elsewhere")["run_id"] == other["run_id"]
    waits: list[str] = []

    def sleep(seconds: float) -> None:
        queued = [r for r in shop.runs.runs() if r["source"] == "cli" and r["state"] == "queued"]
        waits.append(queued[0]["run_id"])
        assert shop.runs.claim("a worker") is None  # a worker never takes the shell's run
        shop.runs.finish(other["run_id"], "succeeded", result={})

    monkeypatch.setattr(worker_module, "_wait", sleep)
    assert main(["train", "--param", "factors=8", "--param", "iterations=3", "--no-promote"]) == 0
    second = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert waits == [second["run_id"]] and shop.runs.get(second["run_id"])["state"] == "succeeded"
    assert shop.runs.get(second["run_id"])["promote"] == "never"

    # A failure is recorded on the run and exits as the job would (2: bad input).
    assert main(["train", "--model", "nope"]) == 2
    failed = shop.runs.runs(1)[0]
    assert failed["source"] == "cli" and failed["state"] == "failed" and "unknown model 'nope'" in failed["error"]

    # Cancelled from the API or the dashboard while it fits: exits 1 saying so; no version is saved.
    from reco.registry import ModelRegistry
    from reco.store.runs import RunStore

    record = RunStore.progress

    def cancel_while_fitting(self: RunStore, run_id: str, stage: str, *args: object, **kwargs: object) -> None:
        record(self, run_id, stage, *args, **kwargs)
        if stage == "recommendations: fitting":
            self.cancel(run_id)

    monkeypatch.setattr(RunStore, "progress", cancel_while_fitting)
    from reco.config import get_settings

    versions = ModelRegistry(get_settings().model_dir).versions()
    capsys.readouterr()
    assert main(["train", "--param", "factors=8", "--param", "iterations=3"]) == 1
    err = capsys.readouterr().err
    assert "was cancelled" in err and "no version was saved" in err
    assert shop.runs.runs(1)[0]["state"] == "cancelled"
    assert ModelRegistry(get_settings().model_dir).versions() == versions


def test_the_schedule_queues_a_retraining_unless_one_is_busy_or_nothing_new_arrived(
        shop: EventStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from datetime import datetime

    import training.worker as worker_module
    from reco.exceptions import ConfigurationError
    from reco.ingest import record_events
    from training.schedule import check_schedule, next_due, queue_scheduled

    caplog.set_level("INFO", logger="training.schedule")
    assert next_due("0 3 * * *", datetime(2026, 12, 2, 3, 0)) == datetime(2026, 12, 3, 3, 0)
    assert next_due("30 2 * * 1", datetime(2026, 12, 2, 12, 0)) == datetime(2026, 12, 7, 2, 30)  # a Monday
    assert check_schedule("  ") == ""
    with pytest.raises(ConfigurationError, match="RECO_RETRAIN_SCHEDULE='nightly' is not a cron expression"):
        check_schedule("nightly")

    registry = ModelRegistry(tmp_path / "models")
    first = queue_scheduled(shop, registry)  # nothing trained yet: due
    assert first is not None and first["source"] == "schedule" and first["kind"] == "all"
    assert queue_scheduled(shop, registry) is None and "is queued already" in caplog.text
    shop.runs.cancel(first["run_id"])
    from training.train import train

    train(shop, registry, params=PARAMS)
    assert queue_scheduled(shop, registry) is None and "no new events since version" in caplog.text
    record_events(shop, [{"customer_id": "c1", "item_id": "i1", "timestamp": "2024-03-01T10:00:00"}])
    assert queue_scheduled(shop, registry) is not None

    # In the worker's loop: the schedule falls due, the run is queued and executed.
    for run in shop.runs.runs():
        if run["state"] == "queued":
            shop.runs.cancel(run["run_id"])
    record_events(shop, [{"customer_id": "c2", "item_id": "i2", "timestamp": "2024-03-01T11:00:00"}])
    clock = iter([datetime(2026, 12, 2, 2, 59), *[datetime(2026, 12, 2, 3, 1)] * 1000])
    monkeypatch.setattr(worker_module, "utc_now", lambda: next(clock))

    class StopError(Exception):
        pass

    def stop(seconds: float) -> None:
        raise StopError

    monkeypatch.setattr(worker_module, "_wait", stop)
    with pytest.raises(StopError):
        run_worker(shop, registry, schedule="0 3 * * *", poll_seconds=1)
    scheduled = [r for r in shop.runs.runs() if r["source"] == "schedule" and r["state"] != "cancelled"]
    assert len(scheduled) == 1 and scheduled[0]["state"] in ("succeeded", "failed")
    assert scheduled[0]["result"] is not None and "recommendations" in scheduled[0]["result"]
    with pytest.raises(ConfigurationError, match="'every night'"):
        run_worker(shop, registry, schedule="every night")


def test_progress_moves_through_trainings_stages_and_a_cancel_stops_it_before_anything_is_saved(
        shop: EventStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from training.train import STAGES

    registry = ModelRegistry(tmp_path / "models")
    seen: list[tuple[str, int, int]] = []
    record = shop.runs.progress

    def progress(run_id: str, stage: str, done: int, total: int, now=None) -> None:
        seen.append((stage, done, total))
        record(run_id, stage, done, total, now)

    monkeypatch.setattr(shop.runs, "progress", progress)
    shop.runs.enqueue("recommendations", "auto")
    [done] = run_worker(shop, registry, once=True)
    assert done["state"] == "succeeded"
    total = len(STAGES)
    assert seen == [("recommendations", 0, total)] + [(f"recommendations: {s}", k, total)
                                                     for k, s in enumerate(STAGES)] + [("done", total, total)]

    def cancel_while_fitting(run_id: str, stage: str, done: int, total: int, now=None) -> None:
        record(run_id, stage, done, total, now)
        if stage == "recommendations: fitting":
            shop.runs.cancel(run_id)  # a marketer presses Cancel while the model fits

    monkeypatch.setattr(shop.runs, "progress", cancel_while_fitting)
    versions = registry.versions()
    shop.runs.enqueue("recommendations", "auto")
    [cancelled] = run_worker(shop, registry, once=True)
    assert cancelled["state"] == "cancelled" and "during step recommendations" in cancelled["error"]
    assert registry.versions() == versions  # stopped before saving: no half-made version
