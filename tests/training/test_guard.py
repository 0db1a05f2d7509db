"""The guard of reco train: a baseline that beats the model on the shop's latest window serves that mode,
visibly (metadata, reco models, the API's model field); --no-guard serves the model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from reco.ingest import ingest
from reco.registry import ModelRegistry
from reco.store import EventStore
from serving.main import app
from training.cli import main


def _popular_world(tmp_path: Path) -> Path:
    """Customers buy at random for 90 days, a few items being popular; in the last 30 days everyone buys the
    popular items they did not have: all-time popularity is the answer for never-bought items."""
    rng = np.random.default_rng(0)
    start = pd.Timestamp("2024-01-01")
    rows = []
    for c in range(200):
        for k in range(8):
            item = int(rng.integers(0, 5)) if rng.random() < 0.3 else int(rng.integers(5, 300))
            rows.append((f"c{c}", f"i{item}", start + pd.Timedelta(days=float(rng.uniform(0, 90))), f"o{c}-{k}"))
        bought = {r[1] for r in rows if r[0] == f"c{c}"}
        for item in [f"i{i}" for i in range(5) if f"i{i}" not in bought][:2]:
            rows.append((f"c{c}", item, start + pd.Timedelta(days=float(rng.uniform(91, 120))), f"p{c}-{item}"))
    path = tmp_path / "log.csv"
    pd.DataFrame(rows, columns=["customer_id", "item_id", "timestamp", "order_id"]).assign(
        quantity=1, price=1.0).to_csv(path, index=False)
    return path


def test_a_baseline_that_wins_on_the_latest_window_serves_that_mode(
        settings_env: dict[str, str], store: EventStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """item-kNN, co-purchase on a log of random baskets, is the loser here: popularity is the answer."""
    ingest(store, _popular_world(tmp_path))
    assert main(["train", "--model", "item_knn"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    registry = ModelRegistry(settings_env["RECO_MODEL_DIR"])
    meta = registry.metadata(result["version"])
    guard = meta["guard"]
    new_scores = guard["scores"]["new"]
    best = max(new_scores, key=new_scores.get)
    assert best != "item_knn" and new_scores[best] > new_scores["item_knn"]
    assert result["serving"]["new"] == meta["serving"]["new"] == f"{best}@new"
    assert registry.load(result["version"]).serving_model("new") == f"{best}@new"
    with TestClient(app, headers={"X-API-Key": store.add_api_key("site")}) as client:
        new = client.get("/v1/customers/c1/recommendations", params={"mode": "new"}).json()
        assert new["personalised"] and new["model"] == f"{best}@new"
        assert new["items"] and all(i["reason"] != "bought before" for i in new["items"])
        everything = client.get("/v1/customers/c1/recommendations", params={"mode": "all"}).json()
        assert everything["model"] == meta["serving"]["all"]
    assert main(["models"]) == 0
    listed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["versions"][0]  # newest first
    assert listed["serving"] == meta["serving"] and listed["metrics"] == guard["scores"]

    assert main(["train", "--model", "item_knn", "--no-guard"]) == 0
    unguarded = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert unguarded["serving"] == {"new": "item_knn", "all": "item_knn"}
    assert registry.metadata(unguarded["version"])["guard"] == {"off": True}
