"""Model versions over the API (marketer and admin keys): side by side with the gate's verdicts, promote,
roll back one step, the registry's history; the serving process picks a promotion up without a restart."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from reco.ingest import ingest
from reco.registry import ModelRegistry
from reco.store import EventStore
from serving.main import app
from training.train import train


@pytest.fixture
def client(settings_env: dict[str, str], store: EventStore, purchases_csv: Path,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("RECO_RELOAD_SECONDS", "0.05")
    from reco.config import get_settings

    get_settings.cache_clear()
    ingest(store, purchases_csv)
    registry = ModelRegistry(Path(settings_env["RECO_MODEL_DIR"]))
    train(store, registry)  # the defaults, as a run of the API trains
    with TestClient(app, headers={"X-API-Key": store.add_api_key("marketer")}) as c:
        c.site_key = store.add_api_key("site")  # type: ignore[attr-defined]
        c.registry = registry  # type: ignore[attr-defined]
        yield c


def _serving(client: TestClient, version: str) -> bool:
    """Whether the API serves ``version`` (it looks at the pointer every RECO_RELOAD_SECONDS)."""
    for _ in range(100):
        if client.get("/v1/customers/C001/recommendations").json().get("model_version") == version:
            return True
        time.sleep(0.05)
    return False


def test_versions_promote_rollback_and_history(client: TestClient, store: EventStore) -> None:
    registry: ModelRegistry = client.registry  # type: ignore[attr-defined]
    first = registry.promoted()
    nothing = client.post("/v1/models/rollback")
    assert nothing.status_code == 409 and "nothing to roll back to" in nothing.json()["detail"]
    second = train(store, registry, promote=False)["version"]
    listed = client.get("/v1/models").json()
    assert listed["promoted"] == first and listed["rollback_to"] is None
    assert [v["version"] for v in listed["versions"]] == [second, first]  # newest first
    candidate = listed["versions"][0]
    assert not candidate["promoted"] and candidate["gate"]["passed"] is True and candidate["data"]["events"] > 0
    assert set(candidate["metrics"]) == {"all", "new"} and candidate["window"]["window_days"] > 0

    promoted = client.post(f"/v1/models/{second}/promote", json={"reason": "spring campaign"})
    assert promoted.status_code == 200
    assert promoted.json() | {"at": None} == {"at": None, "action": "promote", "version": second, "previous": first,
                                              "by": "api (marketer key)", "reason": "spring campaign"}
    assert registry.promoted() == second and _serving(client, second)
    back = client.post("/v1/models/rollback", json={"reason": "odd lists"})
    assert back.status_code == 200 and back.json()["version"] == first and back.json()["previous"] == second
    assert registry.promoted() == first and _serving(client, first)
    history = client.get("/v1/models/history").json()["entries"]
    assert [(e["action"], e["version"]) for e in history[:2]] == [("rollback", first), ("promote", second)]
    assert history[0]["reason"] == "odd lists" and history[-1]["by"] == "shell"  # the first train, newest first


def test_bad_versions_bodies_and_roles(client: TestClient) -> None:
    unknown = client.post("/v1/models/20200101T000000Z-abcd/promote")
    assert unknown.status_code == 404 and "no model version '20200101T000000Z-abcd'" in unknown.json()["detail"]
    malformed = client.post("/v1/models/..%2F..%2Fetc/promote")
    assert malformed.status_code in (404, 422)
    bad = client.post("/v1/models/latest/promote")
    assert bad.status_code == 422 and "'latest'" in bad.json()["detail"]
    extra = client.post("/v1/models/rollback", json={"reason": "x", "force": True})
    assert extra.status_code == 422 and "force" in extra.json()["detail"]
    site = {"X-API-Key": client.site_key}  # type: ignore[attr-defined]
    assert client.get("/v1/models", headers=site).status_code == 403
    assert client.post("/v1/models/rollback", headers=site).status_code == 403
    assert client.get("/v1/models", headers={"X-API-Key": ""}).status_code == 401


def test_a_retraining_by_a_worker_process_under_load_fails_no_request(
        client: TestClient, store: EventStore, settings_env: dict[str, str]) -> None:
    """The API serves while ``reco worker``, a process of its own, trains and promotes a new version: every
    request answers 200, and the new version serves once promoted, without a restart."""
    import os
    import subprocess
    import sys

    registry: ModelRegistry = client.registry  # type: ignore[attr-defined]
    before = registry.promoted()
    run = client.post("/v1/training/runs", json={"kind": "recommendations"}).json()
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, **settings_env, "OPENBLAS_NUM_THREADS": "1"}
    worker = subprocess.Popen([sys.executable, "-m", "training.cli", "worker", "--once"], cwd=root, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    statuses: list[int] = []
    versions: set[str] = set()
    customers = [f"C{i:03d}" for i in range(40)]
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            for customer in customers[:8]:
                answer = client.get(f"/v1/customers/{customer}/recommendations", params={"n": 5})
                statuses.append(answer.status_code)
                versions.add(answer.json().get("model_version"))
            statuses.append(client.get("/v1/items/I001/similar").status_code)
            customers = customers[8:] + customers[:8]
            if worker.poll() is not None and len(versions) > 1:
                break
    finally:
        _, err = worker.communicate(timeout=120)
    assert worker.returncode == 0, err
    done = client.get(f"/v1/training/runs/{run['run_id']}").json()
    assert done["state"] == "succeeded" and done["result"]["recommendations"]["promoted"], done["result"]
    after = registry.promoted()
    assert after != before and versions == {before, after}
    assert len(statuses) > 50 and set(statuses) == {200}
