"""The registry's history: who promoted what, when and why; one-step rollbacks read off it; pruning that
never removes the promoted version or the one a rollback returns to; promotions from several processes
at once all recorded."""

from __future__ import annotations

import itertools
import multiprocessing
import shutil
from pathlib import Path

import pytest

from reco.exceptions import ConfigurationError, PromotionError
from reco.interactions import build_user_items
from reco.models import PopularityRecommender
from reco.registry import ModelRegistry, versions_overview
from tests.factories import make_purchases


def _versions(registry: ModelRegistry, n: int) -> list[str]:
    matrix, mapping = build_user_items(make_purchases(n_customers=6, per_customer=2))
    model = PopularityRecommender().fit(matrix)
    return [registry.save({"popularity": model}, mapping, {"default_model": "popularity"}) for _ in range(n)]


def test_promotions_and_rollbacks_are_recorded_and_rollback_walks_back_one_step(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "models")
    a, b, c = _versions(registry, 3)
    with pytest.raises(PromotionError, match="nothing to roll back to"):
        registry.rollback(by="tester")
    registry.promote(a, by="tester", reason="first")
    with pytest.raises(PromotionError, match=f"{a} is the only version"):
        registry.rollback(by="tester")
    registry.promote(b, by="api (marketer key)", reason="better")
    registry.promote(c, by="run 7 (schedule)")
    assert registry.rollback_target() == b
    entry = registry.rollback(by="tester", reason="c recommends odd things")
    assert entry["action"] == "rollback" and entry["version"] == b and entry["previous"] == c
    assert registry.promoted() == b and registry.rollback_target() == a
    registry.rollback(by="tester")
    assert registry.promoted() == a and registry.rollback_target() is None
    history = registry.history.entries()
    assert [(e["action"], e["version"]) for e in history] == [
        ("promote", a), ("promote", b), ("promote", c), ("rollback", b), ("rollback", a)]
    assert history[1]["by"] == "api (marketer key)" and history[1]["reason"] == "better"
    assert history[1]["previous"] == a and all(e["at"].endswith("+00:00") for e in history)
    overview = versions_overview(registry)
    assert overview["promoted"] == a and overview["rollback_to"] is None
    assert [v["version"] for v in overview["versions"]] == [c, b, a]  # newest first


def test_a_pointer_moved_by_an_older_reco_counts_as_a_promotion(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "models")
    a, b = _versions(registry, 2)
    (tmp_path / "models" / "PROMOTED").write_text(a + "\n")  # no history: an earlier reco promoted it
    registry.promote(b)
    assert registry.rollback(by="tester")["version"] == a


def test_pruning_keeps_the_newest_the_promoted_and_the_rollback_target(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "models")
    versions = _versions(registry, 6)
    registry.promote(versions[0])
    registry.promote(versions[1])
    assert registry.prune(3, by="tester") == versions[2:5]  # the oldest two are protected
    assert registry.versions() == [versions[0], versions[1], versions[5]]
    assert registry.rollback(by="tester")["version"] == versions[0]
    pruned = [e for e in registry.history.entries() if e["action"] == "prune"]
    assert [e["version"] for e in pruned] == versions[2:5] and "more than 3" in pruned[0]["reason"]
    assert registry.prune(3) == []
    for bad in (1, 0, "3", True):
        with pytest.raises(ConfigurationError, match="versions to keep"):
            registry.prune(bad)  # type: ignore[arg-type]


def test_a_rollback_to_a_deleted_version_says_so(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "models")
    a, b = _versions(registry, 2)
    registry.promote(a)
    registry.promote(b)
    registry.rollback()
    registry.promote(b)
    shutil.rmtree(tmp_path / "models" / a)
    with pytest.raises(PromotionError, match=f"cannot roll back to {a}.*no longer exists"):
        registry.rollback()
    assert registry.promoted() == b


def _promote_many(root: str, versions: list[str], worker: int) -> None:
    registry = ModelRegistry(root)
    for n, version in enumerate(versions):
        registry.promote(version, by=f"process {worker}", reason=f"#{n}")


def test_promotions_from_several_processes_at_once_are_all_recorded(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "models")
    versions = _versions(registry, 3)
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_promote_many, args=(str(tmp_path / "models"), versions * 5, w))
                 for w in range(4)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(60)
    assert all(p.exitcode == 0 for p in processes)
    history = registry.history.entries()
    assert len(history) == 4 * 15
    # each entry's "previous" is the version promoted just before it: the pointer and the history moved together
    assert all(e["previous"] == before["version"] for before, e in itertools.pairwise(history))
    assert registry.promoted() == history[-1]["version"]
