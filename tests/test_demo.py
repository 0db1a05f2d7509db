"""The done-criteria on the real bundled file: Online Retail ingested twice, trained, served."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from reco.ingest import DEMO_DATA, ingest
from reco.registry import ModelRegistry
from reco.store import EventStore
from serving.main import app
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
    train(store, ModelRegistry(tmp_path / "models"))
    bought = set(store.customer_events("17850")["item_id"])
    with TestClient(app, headers={"X-API-Key": store.add_api_key("site", "demo")}) as client:
        body = client.get("/v1/customers/17850/recommendations").json()
    assert body["personalised"] and len(body["items"]) == 10
    assert not bought & {i["item_id"] for i in body["items"]}
    store.dispose()
    get_settings.cache_clear()
