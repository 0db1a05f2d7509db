"""The done-criteria on the real bundled file: Online Retail ingested twice, trained, served."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from reco.ingest import DEMO_DATA, DEMO_OFFERS, ingest
from reco.ingest.offers import ingest_offers
from reco.registry import ModelRegistry
from reco.store import EventStore
from serving.main import app
from training.score import score_customers
from training.train import train


@pytest.mark.slow
def test_demo_data_ingest_is_idempotent_and_serves_a_real_customer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reco.config import get_settings

    url = f"sqlite:///{tmp_path / 'reco.db'}"
    monkeypatch.setenv("RECO_DATABASE_URL", url)
    monkeypatch.setenv("RECO_MODEL_DIR", str(tmp_path / "models"))
    get_settings.cache_clear()
    store = EventStore(url)
    first = ingest(store, DEMO_DATA, preset="online-retail")
    assert first.rows_read == 541_909
    assert first.dropped["missing_customer_id"] == 134_050
    assert first.rows_read == first.inserted + first.duplicates + sum(first.dropped.values())
    second = ingest(store, DEMO_DATA, preset="online-retail")
    assert second.inserted == 0 and second.events_total == first.events_total
    assert ingest_offers(store, DEMO_OFFERS)["inserted"] == 3  # what make run loads for the Offers page
    train(store, ModelRegistry(tmp_path / "models"))
    score_customers(store, ModelRegistry(tmp_path / "models"))
    bought = set(store.customer_events("17850")["item_id"])
    with TestClient(app, headers={"X-API-Key": store.add_api_key("site", "demo")}) as client:
        body = client.get("/v1/customers/17850/recommendations").json()
        offers = client.get("/v1/customers/17850/offers").json()["offers"]
        signed_in = client.post("/dashboard/login", data={"api_key": store.add_api_key("marketer", "demo")})
        dashboard = {path: client.get(f"/dashboard{path}") for path in ("", "/models", "/training", "/customers",
                                                                       "/customers/17850", "/offers")}
    assert body["personalised"] and len(body["items"]) == 10
    assert not bought & {i["item_id"] for i in body["items"]}
    assert offers and {o["offer_id"] for o in offers} <= {"win-back-5", "loyal-10", "picks"}
    assert signed_in.status_code == 200 and all(page.status_code == 200 for page in dashboard.values())
    assert "5 off your next order" in dashboard["/offers"].text and "of 400" in dashboard["/offers"].text
    assert dashboard["/customers"].text.count("data:image/svg+xml") == 3  # segments, churn risk, value tiers
    assert 'data-status="active"' in dashboard["/customers/17850"].text
    store.dispose()
    get_settings.cache_clear()
