"""Answers from memory that skip FastAPI's routing are the route's answers, byte for byte."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from reco.ingest import ingest
from reco.registry import ModelRegistry
from reco.store import EventStore
from serving import fastpath
from serving.main import app
from training.train import train


@pytest.fixture
def client(settings_env: dict[str, str], store: EventStore, purchases_csv: Path, tmp_path: Path
           ) -> Iterator[TestClient]:
    ingest(store, purchases_csv)
    (tmp_path / "people.csv").write_text("customer_id,consent_personalisation\nC003,no\n")
    ingest(store, tmp_path / "people.csv", kind="customers")
    train(store, ModelRegistry(settings_env["RECO_MODEL_DIR"]), params={"factors": 4, "iterations": 5})
    with TestClient(app, headers={"X-API-Key": store.add_api_key("site", "tests")}) as c:
        warming = c.app.state.serving.warming  # type: ignore[attr-defined]
        if warming is not None:
            warming.join(60)
        yield c


def test_answers_from_memory_equal_the_routes(client: TestClient, purchases: pd.DataFrame,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    answered: list[bytes] = []
    original = fastpath.RecommendationFastPath._answer

    def counted(self: fastpath.RecommendationFastPath, scope: dict) -> bytes | None:
        body = original(self, scope)
        if body is not None:
            answered.append(body)
        return body

    monkeypatch.setattr(fastpath.RecommendationFastPath, "_answer", counted)
    customers = [*sorted(purchases["customer_id"].unique())[:12], "someone-new", "C003"]
    queries: list[object] = [{}, {"n": 3}, {"n": 30, "mode": "all"}, [("exclude", "I001"), ("n", "2")],
                             {"max_price": "3"}, {"n": "0"}, {"mode": "some"}, {"min_price": 9, "max_price": 3}]
    requests = [(f"/v1/customers/{c}/recommendations", q) for c in customers for q in queries]
    first = [client.get(url, params=q) for url, q in requests]  # fills what the fast path needs
    fast = [client.get(url, params=q) for url, q in requests]
    if client.app.state.serving.answers_on_loop:  # type: ignore[attr-defined]
        assert len(answered) > len(customers)  # SQLite: it answered (remembered customers, valid queries) ...
    else:
        assert not answered  # PostgreSQL: its change poll is a round trip, never run on the event loop
    monkeypatch.setattr(fastpath.RecommendationFastPath, "_answer", lambda self, scope: None)
    routed = [client.get(url, params=q) for url, q in requests]
    for (url, q), a, b, c in zip(requests, first, fast, routed, strict=True):
        assert a.status_code == b.status_code == c.status_code, (url, q)
        assert b.content == c.content, (url, q)  # ... exactly as the route does
    assert {r.status_code for r in fast} == {200, 422}
    assert all(r.json()["personalised"] is False for r, (url, _) in zip(fast, requests, strict=True)
               if "C003" in url and r.status_code == 200)  # opted out: never from memory
    assert client.get("/v1/customers/C000/recommendations", headers={"X-API-Key": "wrong"}).status_code == 401
    metrics = client.get("/metrics").text
    assert 'reco_http_requests_total{method="GET",route="/v1/customers/{customer_id}/recommendations",status="200"}' \
        in metrics


def test_a_purchase_counts_at_once_through_the_fast_path(client: TestClient) -> None:
    url = "/v1/customers/C001/recommendations"
    top = client.get(url, params={"n": 3}).json()["items"][0]["item_id"]
    assert client.get(url, params={"n": 3}).json()["items"][0]["item_id"] == top
    sent = client.post("/v1/events", json={"customer_id": "C001", "item_id": top, "event_type": "purchase"})
    assert sent.status_code == 200 and sent.json()["stored"] == 1
    assert top not in [i["item_id"] for i in client.get(url, params={"n": 3}).json()["items"]]
