"""Writes during a bulk ingest: bounded waits answered 503 with Retry-After, reads never queue behind
writes, a second ingest fails in one line; and Idempotency-Key (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from reco.config import get_settings
from reco.exceptions import StoreBusyError
from reco.ingest import ingest
from reco.registry import ModelRegistry
from reco.store import EventStore
from serving.main import app
from training.cli import main
from training.train import train


@contextmanager
def _ingest_holding_the_lock(url: str) -> Iterator[None]:
    """What a running bulk ingest does to other writers: hold the store's write lock."""
    engine = create_engine(url)
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")
            conn.exec_driver_sql("LOCK TABLE events, customers, items IN EXCLUSIVE MODE")
        try:
            yield
        finally:
            conn.exec_driver_sql("ROLLBACK")
    engine.dispose()


@pytest.fixture
def client(settings_env: dict[str, str], store: EventStore, purchases_csv: Path,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("RECO_WRITE_WAIT_SECONDS", "1")
    get_settings.cache_clear()
    ingest(store, purchases_csv)
    train(store, ModelRegistry(settings_env["RECO_MODEL_DIR"]), params={"factors": 4, "iterations": 3, "cutoffs": 1})
    with TestClient(app, headers={"X-API-Key": store.add_api_key("admin")}) as c:
        yield c
    get_settings.cache_clear()


def test_writes_wait_a_bounded_time_and_reads_do_not_queue_behind_them(client: TestClient, store_url: str) -> None:
    event = {"customer_id": "C000", "item_id": "I001", "timestamp": "2024-03-01T10:00:00"}
    finished: list[tuple[str, int, float]] = []

    def write(n: int) -> None:
        answer = client.post("/v1/events", json={**event, "event_id": f"busy-{n}"})
        finished.append(("write", answer.status_code, time.monotonic()))
        if answer.status_code == 503:
            assert answer.headers["Retry-After"] == "1" and "busy" in answer.json()["detail"]

    # A steady-state read is measured: the model's first scoring and the cache warm-up happen before.
    warming = client.app.state.serving.warming  # type: ignore[attr-defined]
    if warming is not None:
        warming.join(60)
    assert client.get("/v1/customers/C001/recommendations").status_code == 200
    with _ingest_holding_the_lock(store_url):
        writers = [threading.Thread(target=write, args=(n,)) for n in range(3)]
        for w in writers:
            w.start()
        time.sleep(0.2)  # the writers now wait for the lock, holding both write threads
        read = client.get("/v1/customers/C001/recommendations")
        finished.append(("read", read.status_code, time.monotonic()))
        for w in writers:
            w.join(30)
    assert read.status_code == 200
    writes = [f for f in finished if f[0] == "write"]
    assert [f[1] for f in writes] == [503, 503, 503]  # refused, never a 500
    assert finished[0][0] == "read"  # answered while every write still waited
    assert client.post("/v1/events", json={**event, "event_id": "after"}).json()["stored"] == 1
    assert client.put("/v1/customers/C002/consent", json={"marketing": True}).status_code == 200


def test_a_second_ingest_fails_in_one_line(settings_env: dict[str, str], store: EventStore, store_url: str,
                                           purchases_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    busy = EventStore(store_url, lock_wait=0.5)
    with _ingest_holding_the_lock(store_url), pytest.raises(StoreBusyError, match="nothing was written"):
        ingest(busy, purchases_csv)
    busy.dispose()
    assert store.count_events() == 0
    import reco.store.db as store_db

    original, store_db.DEFAULT_LOCK_WAIT = store_db.DEFAULT_LOCK_WAIT, 0.5
    try:
        with _ingest_holding_the_lock(store_url):
            assert main(["ingest", str(purchases_csv)]) == 1
    finally:
        store_db.DEFAULT_LOCK_WAIT = original
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("reco ingest: error: the event store is busy")


def test_idempotency_key_answers_a_retry_as_the_first(client: TestClient, store: EventStore) -> None:
    batch = [{"customer_id": "web-9", "item_id": "I003"}, {"customer_id": "web-9", "item_id": "I004"}]  # no timestamps
    first = client.post("/v1/events", json=batch, headers={"Idempotency-Key": "order-77"})
    assert first.status_code == 200 and first.json()["stored"] == 2 and "Idempotent-Replayed" not in first.headers
    total = store.count_events()
    again = client.post("/v1/events", json=batch, headers={"Idempotency-Key": "order-77"})
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert store.count_events() == total
    other = client.post("/v1/events", json=batch[:1], headers={"Idempotency-Key": "order-77"})
    assert other.status_code == 422 and "different request body" in other.json()["detail"]
    another_client = client.post("/v1/events", json=batch, headers={"Idempotency-Key": "order-77",
                                                                    "X-API-Key": store.add_api_key("site")})
    assert another_client.json()["stored"] == 2  # keys are per API key
    unkeyed = client.post("/v1/events", json=batch)
    assert unkeyed.json()["stored"] == 2  # without a key or timestamps a retry is new events (the documented rule)
    with store.engine.connect() as conn:
        assert "order-77" not in str(conn.exec_driver_sql("SELECT * FROM idempotency_keys").fetchall())
