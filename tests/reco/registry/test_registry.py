"""Versioned artifacts: save, list, promote, load; broken or missing versions give clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reco.exceptions import ArtifactError, ConfigurationError, ModelNotFoundError
from reco.interactions import build_user_items
from reco.models import ALSRecommender, PopularityRecommender
from reco.registry import ModelRegistry
from tests.factories import make_purchases


def _save(registry: ModelRegistry) -> str:
    matrix, mapping = build_user_items(make_purchases())
    models = {"als": ALSRecommender(factors=4, iterations=3).fit(matrix),
              "popularity": PopularityRecommender().fit(matrix)}
    return registry.save(models, mapping, {"data": {"events": 1}})


def test_save_promote_load(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "models")
    with pytest.raises(ModelNotFoundError, match="reco train"):
        registry.load()
    first = _save(registry)
    second = _save(registry)
    assert registry.versions() == sorted([first, second])
    registry.promote(first)
    bundle = registry.load()
    assert bundle.version == first and set(bundle.models) == {"als", "popularity"}
    assert bundle.metadata["data"] == {"events": 1} and bundle.metadata["version"] == first
    assert bundle.mapping.n_items == bundle.models["als"].n_items_
    assert not list((tmp_path / "models").glob(".tmp-*"))


def test_unknown_and_malformed_versions(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    _save(registry)
    with pytest.raises(ModelNotFoundError, match="available"):
        registry.promote("20200101T000000Z-abcd")
    with pytest.raises(ConfigurationError, match="not a model version"):
        registry.load("../../etc")


def test_corrupt_artifact_is_reported_not_half_loaded(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    version = _save(registry)
    np.savez(tmp_path / version / "als" / "model.npz", item_factors=np.zeros((2, 2)))
    with pytest.raises(ArtifactError, match=r"incomplete or corrupt.*user_factors"):
        registry.load(version)
    other = _save(registry)
    (tmp_path / other / "popularity" / "model.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="cannot read model"):
        registry.load(other)
