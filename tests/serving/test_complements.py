"""GET /v1/items/{id}/complements: what goes with an item, without its own variants; reco evaluate complements."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from reco.ingest import ingest
from reco.store import EventStore
from serving.main import app
from training.cli import main


def _shop(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rows = []
    for c in range(120):
        for d in range(3):
            day = pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(rng.integers(0, 90)), hours=10)
            kind = (c + d) % 3  # mugs with tea, mugs with biscuits (and the blue variant), or neither
            basket = [["mug-red", "tea"], ["mug-blue", "mug-red", "biscuits"], [f"y{int(rng.integers(40))}"]][kind]
            basket += [f"x{int(rng.integers(40))}"]
            rows += [(f"c{c}", item, day, f"o{c}-{d}") for item in basket]
    pd.DataFrame(rows, columns=["customer_id", "item_id", "timestamp", "order_id"]).assign(
        quantity=1, price=2.0).to_csv(tmp_path / "log.csv", index=False)
    names = {"mug-red": "RED SPOTTY MUG LARGE", "mug-blue": "BLUE SPOTTY MUG LARGE", "tea": "ENGLISH TEA",
             "biscuits": "BUTTER BISCUITS"}
    pd.DataFrame({"item_id": list(names), "name": list(names.values())}).to_csv(tmp_path / "items.csv", index=False)


def test_complements_route_and_harness(settings_env: dict[str, str], store: EventStore, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    _shop(tmp_path)
    ingest(store, tmp_path / "items.csv", kind="items")
    ingest(store, tmp_path / "log.csv")
    assert main(["train", "--model", "item_knn"]) == 0
    with TestClient(app, headers={"X-API-Key": store.add_api_key("site")}) as client:
        body = client.get("/v1/items/mug-red/complements", params={"n": 5}).json()
        found = [i["item_id"] for i in body["items"]]
        assert set(found) >= {"tea", "biscuits"} and "mug-blue" not in found  # a variant of the mug, not a complement
        assert "mug-red" not in found and all(i["reason"] == "often bought with RED SPOTTY MUG LARGE"
                                              for i in body["items"])
        assert client.get("/v1/items/nothing/complements").status_code == 404
        # completing a basket: complements of its items, led by the customer's own list when known
        stranger = client.get("/v1/customers/someone-new/recommendations",
                              params={"context": "basket", "items": "mug-red,nothing", "n": 3}).json()
        assert not stranger["personalised"] and stranger["model"] == "complements"
        assert stranger["items"][0]["reason"].startswith("often bought with") and "mug-red" not in {
            i["item_id"] for i in stranger["items"]}
        known = client.get("/v1/customers/c0/recommendations", params={"context": "basket", "items": "mug-red"}).json()
        assert known["personalised"] and known["model"].startswith("complements+") and len(known["items"]) == 10
        assert "mug-red" not in {i["item_id"] for i in known["items"]}
        for bad in ({"context": "basket"}, {"items": "tea"}):
            assert client.get("/v1/customers/c0/recommendations", params=bad).status_code == 422
        assert client.get("/v1/items/mug-red/complements", params={"n": 0}).status_code == 422
    capsys.readouterr()
    assert main(["export", "complements", "--out", str(tmp_path / "goes-with.csv"), "--n", "3"]) == 0
    exported = pd.read_csv(tmp_path / "goes-with.csv")
    mugs = exported[exported["item_id"] == "mug-red"]
    assert set(mugs["complement_id"]) == set(found[:3]) and mugs["rank"].tolist() == list(range(1, len(mugs) + 1))
    assert json.loads((tmp_path / "goes-with.csv.manifest.json").read_text())["kind"] == "complements"
    capsys.readouterr()
    assert main(["evaluate", "complements", "--holdout-days", "20"]) == 0
    out = capsys.readouterr().out
    result = json.loads(out.strip().splitlines()[-1])
    assert "cooccurrence_counts" in out and result["baskets"] > 0
    assert set(result["models"]) == {"complements", "cooccurrence_counts", "popularity"}
