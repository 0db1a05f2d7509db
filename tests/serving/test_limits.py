"""A body is read only with a valid key, and only up to RECO_MAX_BODY_BYTES."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from reco.config import get_settings
from reco.registry import ModelRegistry
from reco.store import EventStore
from serving.limits import BodyLimits
from serving.main import app
from serving.state import ServingState


def _call(guard: BodyLimits, state: ServingState, method: str, headers: dict[str, str], chunks: int,
          chunk: bytes = b"x" * 65536) -> tuple[int, int, bool]:
    """(status, body chunks the app pulled, whether the inner app ran) for a request streamed in chunks."""
    pulled = 0
    reached = False
    sent: list[dict] = []

    async def receive() -> dict:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": chunk, "more_body": pulled < chunks}

    async def send(message: dict) -> None:
        sent.append(message)

    async def inner(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        nonlocal reached
        reached = True
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    scope = {"type": "http", "method": method, "path": "/v1/events", "headers": raw,
             "app": SimpleNamespace(state=SimpleNamespace(serving=state))}
    guard.app = inner
    try:
        asyncio.run(guard(scope, receive, send))
    except Exception as exc:  # the HTTPException FastAPI turns into a 413
        return getattr(exc, "status_code", 500), pulled, reached
    return sent[0]["status"], pulled, reached


@pytest.fixture
def state(tmp_path: Path) -> Iterator[ServingState]:
    store = EventStore(f"sqlite:///{tmp_path / 'reco.db'}")
    store.create_schema()
    serving = ServingState(store, ModelRegistry(tmp_path / "models"))
    serving.key = store.add_api_key("site")  # type: ignore[attr-defined]
    yield serving
    store.dispose()


def test_no_key_no_body_read(state: ServingState) -> None:
    guard = BodyLimits(lambda *a: None)  # type: ignore[arg-type]
    one_gb = str(1 << 30)
    assert _call(guard, state, "POST", {"content-length": one_gb}, chunks=16384) == (401, 0, False)
    assert _call(guard, state, "POST", {"x-api-key": "reco_wrong", "content-length": one_gb}, 16384) == (401, 0, False)
    key = state.key  # type: ignore[attr-defined]
    assert _call(guard, state, "POST", {"x-api-key": key, "content-length": one_gb}, 16384) == (413, 0, False)
    # no declared length (chunked): stopped as soon as it passes the limit, not at the end
    limit_chunks = get_settings().max_body_bytes // 65536
    status, pulled, reached = _call(guard, state, "PUT", {"x-api-key": key}, chunks=16384)
    assert status == 413 and reached and pulled == limit_chunks + 1
    assert _call(guard, state, "POST", {"x-api-key": key}, chunks=2) == (200, 2, True)


def test_through_the_app(settings_env: dict[str, str], store: EventStore) -> None:
    key = store.add_api_key("site")
    with TestClient(app) as client:
        big = json.dumps([{"customer_id": "a", "item_id": "b" * 100}] * 20_000)
        assert len(big) > get_settings().max_body_bytes
        answer = client.post("/v1/events", content=big, headers={"Content-Type": "application/json"})
        assert answer.status_code == 401 and "missing API key" in answer.json()["detail"]
        answer = client.post("/v1/events", content=big, headers={"Content-Type": "application/json", "X-API-Key": key})
        assert answer.status_code == 413 and "RECO_MAX_BODY_BYTES" in answer.json()["detail"]
        ok = client.post("/v1/events", json={"customer_id": "a", "item_id": "b"}, headers={"X-API-Key": key})
        assert ok.status_code == 200
