"""Training runs over the API: marketers queue, follow and cancel runs; the worker, not the API, trains."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from reco.ingest import ingest
from reco.registry import ModelRegistry
from reco.store import EventStore
from serving.main import app
from training.worker import run_worker


@pytest.fixture
def client(settings_env: dict[str, str], store: EventStore) -> Iterator[TestClient]:
    with TestClient(app, headers={"X-API-Key": store.add_api_key("marketer")}) as c:
        c.site_key = store.add_api_key("site")  # type: ignore[attr-defined]
        yield c


def test_queue_follow_and_finish_a_retraining(client: TestClient, store: EventStore, purchases_csv: Path,
                                              settings_env: dict[str, str]) -> None:
    ingest(store, purchases_csv)
    answer = client.post("/v1/training/runs", json={"kind": "recommendations"})
    assert answer.status_code == 202
    run = answer.json()
    assert run["state"] == "queued" and run["promote"] == "auto" and run["source"] == "api"
    assert run["created_at"].endswith("Z") or run["created_at"].endswith("+00:00")  # UTC, said so
    assert client.get(f"/v1/training/runs/{run['run_id']}").json()["state"] == "queued"  # the API trains nothing
    run_worker(store, ModelRegistry(Path(settings_env["RECO_MODEL_DIR"])), once=True)
    done = client.get(f"/v1/training/runs/{run['run_id']}").json()
    assert done["state"] == "succeeded" and done["percent"] == 100.0 and done["log"]
    assert done["result"]["recommendations"]["promoted"] is True
    listed = client.get("/v1/training/runs").json()["runs"]
    assert [r["run_id"] for r in listed] == [run["run_id"]] and listed[0]["log"] is None
    again = client.delete(f"/v1/training/runs/{run['run_id']}")
    assert again.status_code == 409 and "already ended (succeeded)" in again.json()["detail"]


def test_cancel_unknown_bad_input_and_roles(client: TestClient) -> None:
    run = client.post("/v1/training/runs", json={"kind": "all", "promote": "never"}).json()
    cancelled = client.delete(f"/v1/training/runs/{run['run_id']}")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert client.get("/v1/training/runs/nope").status_code == 404
    assert client.delete("/v1/training/runs/nope").status_code == 404
    bad = client.post("/v1/training/runs", json={"kind": "everything"})
    assert bad.status_code == 422 and "kind" in str(bad.json()["detail"])
    assert client.post("/v1/training/runs", json={"kind": "all", "colour": "red"}).status_code == 422
    site = {"X-API-Key": client.site_key}  # type: ignore[attr-defined]
    assert client.post("/v1/training/runs", json={"kind": "all"}, headers=site).status_code == 403
    assert client.get("/v1/training/runs", headers=site).status_code == 403
    assert client.get("/v1/training/runs", headers={"X-API-Key": ""}).status_code == 401
