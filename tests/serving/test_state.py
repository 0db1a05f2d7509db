"""The serving state keeps the model it has when a newly promoted version fails to load."""

from __future__ import annotations

from pathlib import Path

from reco.ingest import ingest
from reco.registry import ModelRegistry
from reco.store import EventStore
from serving.state import ServingState
from training.train import train


def test_broken_promoted_version_leaves_the_old_one_serving(tmp_path: Path, purchases_csv: Path) -> None:
    store = EventStore(f"sqlite:///{tmp_path / 'reco.db'}")
    ingest(store, purchases_csv)
    registry = ModelRegistry(tmp_path / "models")
    state = ServingState(store, registry)
    state.load()
    assert state.service is None, "nothing trained yet"
    good = train(store, registry, params={"factors": 4, "iterations": 2})["version"]
    state.load()
    assert state.service is not None and state.service.version == good
    bad = train(store, registry, params={"factors": 4, "iterations": 2})["version"]
    (tmp_path / "models" / bad / "id_mapping.json").write_text("{broken")
    state.load()
    assert state.service.version == good
    store.dispose()
