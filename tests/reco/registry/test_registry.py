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
    assert registry.versions() == [first, second]  # the order they were made in, even within one second
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


def test_customer_scores_are_replaced_whole_or_not_at_all(tmp_path: Path) -> None:
    import pandas as pd

    registry = ModelRegistry(tmp_path / "models")
    version = _save(registry)
    with pytest.raises(ModelNotFoundError, match="reco score customers"):
        registry.customer_scores(version)
    first = pd.DataFrame({"customer_id": ["a", "b"], "churn_probability": [0.1, 0.9]})
    registry.save_customers(version, lambda d: first.to_parquet(d / "scores.parquet"))
    pd.testing.assert_frame_equal(registry.customer_scores(version), first)

    def broken(directory: Path) -> None:
        first.assign(churn_probability=0.5).to_parquet(directory / "scores.parquet")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        registry.save_customers(version, broken)
    pd.testing.assert_frame_equal(registry.customer_scores(version), first)  # the old table stands
    assert not [p for p in (tmp_path / "models" / version).iterdir() if p.name.startswith(".")]
    second = first.assign(churn_probability=[0.2, 0.3])
    registry.save_customers(version, lambda d: second.to_parquet(d / "scores.parquet"))
    pd.testing.assert_frame_equal(registry.customer_scores(version), second)
    assert registry.load(version).version == version  # a scored version still loads
