"""The quality gate of retraining: a new version is promoted only when, on the same data and window, it is
not worse than the promoted version beyond the tolerance and not below the best baseline, and its
history is not older or smaller; otherwise it stays a candidate with the reason in the registry's history."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from reco.exceptions import ConfigurationError
from reco.ingest import ingest
from reco.registry import ModelRegistry
from reco.store import EventStore
from training.cli import main
from training.gate import gate
from training.train import train

MEASURED = {"window_days": 30.0, "cut": "2024-04-01T00:00:00", "end": "2024-05-01T00:00:00", "metric": "ndcg@10",
            "scores": {"all": {"ranker": 0.30, "popularity": 0.10, "recent_popularity": 0.12, "buy_again": 0.25},
                       "new": {"ranker": 0.05, "popularity": 0.04, "recent_popularity": 0.03}}}
PROMOTED = {"version": "20240501T000000Z-abcd", "default_model": "ranker", "params": {"ranker": {"factors": 8}},
            "serving": {"all": "ranker", "new": "ranker"},
            "data": {"events": 1000, "last_event": "2024-05-01T00:00:00"}}
SAME = {"model": "ranker", "params": {"factors": 8}, "serving": {"all": "ranker", "new": "ranker"},
        "data": {"events": 1010, "last_event": "2024-05-02T00:00:00"}}


def _gate(measured: dict[str, Any] | None = MEASURED, promoted: dict[str, Any] | None = PROMOTED,
          tolerance: float = 0.02, **changes: Any) -> dict[str, Any]:
    given = {**SAME, **changes}
    return gate(pd.DataFrame(), measured, promoted=promoted, tolerance=tolerance, **given)


def test_the_same_recipe_on_more_data_passes_without_refitting_the_promoted_one() -> None:
    verdict = _gate()
    assert verdict["passed"] and verdict["promoted_compared"] == "same recipe"
    assert verdict["modes"]["all"] == {"served": "ranker", "score": 0.30, "promoted_served": "ranker",
                                       "promoted_score": 0.30, "best_baseline": "buy_again", "baseline_score": 0.25}
    assert "not worse than the promoted version" in verdict["reasons"][0]


def test_nothing_promoted_passes_and_an_unmeasured_version_does_not() -> None:
    assert _gate(promoted=None)["passed"]
    unmeasured = _gate(measured={"skipped": "a 30-day holdout leaves 0 test events"})
    assert not unmeasured["passed"] and "could not be measured" in unmeasured["reasons"][0]
    assert "0 test events" in unmeasured["reasons"][0]
    with pytest.raises(ConfigurationError, match="tolerance must be in"):
        _gate(tolerance=1.5)


def test_below_the_best_baseline_or_the_promoted_version_beyond_the_tolerance_is_refused() -> None:
    beaten = {**MEASURED, "scores": {**MEASURED["scores"], "all": {**MEASURED["scores"]["all"], "buy_again": 0.31}}}
    verdict = _gate(measured=beaten)
    assert not verdict["passed"]
    assert verdict["reasons"] == ["mode all: nDCG@10 0.3000 is below the best baseline, buy_again 0.3100"]
    # The candidate serves popularity for `new` (0.04); the promoted version's ranker had 0.05 there: 20% worse.
    worse = _gate(serving={"all": "ranker", "new": "popularity@new"})
    assert not worse["passed"] and "mode new: nDCG@10 0.0400 is 20.0% below the promoted version's 0.0500" in (
        worse["reasons"][0])
    assert _gate(serving={"all": "ranker", "new": "popularity@new"}, tolerance=0.25)["passed"]
    # The promoted version served a baseline for `new`: it is measured as that baseline, on this window.
    promoted = {**PROMOTED, "serving": {"all": "ranker", "new": "popularity@new"}}
    assert _gate(promoted=promoted)["modes"]["new"]["promoted_score"] == 0.04


def test_an_older_or_much_smaller_history_is_refused() -> None:
    older = _gate(data={"events": 1000, "last_event": "2024-04-01T00:00:00"})
    assert not older["passed"] and "ends 2024-04-01T00:00:00, before the promoted version's" in older["reasons"][0]
    tenth = _gate(data={"events": 100, "last_event": "2024-05-02T00:00:00"})
    assert not tenth["passed"] and tenth["reasons"] == [
        "its history holds 100 purchases, 90% fewer than the promoted version's 1,000"]
    assert _gate(data={"events": 950, "last_event": "2024-05-02T00:00:00"})["passed"]  # a few erasures


def _taste_log(n: int = 240, items: int = 40, seed: int = 0) -> pd.DataFrame:
    """Two taste groups of customers, each buying from its own half of the catalogue: 8 purchases over 90
    days, then 2 items of their half they never had in the last 30 days. What a customer buys next is
    predictable from their group (a learned model finds it), not from popularity or past purchases."""
    rng = np.random.default_rng(seed)
    start, rows = pd.Timestamp("2024-01-01"), []
    for c in range(n):
        half = [f"i{(c % 2) * items + i}" for i in range(items)]
        bought = rng.choice(items, size=10, replace=False)
        for k, i in enumerate(bought):
            day = rng.uniform(0, 90) if k < 8 else rng.uniform(91, 120)
            rows.append((f"c{c}", half[i], start + pd.Timedelta(days=float(day)), f"o{c}-{k}", 1, 1.0))
    return pd.DataFrame(rows, columns=["customer_id", "item_id", "timestamp", "order_id", "quantity", "price"])


@pytest.fixture
def shop(tmp_path: Path) -> tuple[EventStore, pd.DataFrame]:
    log = _taste_log()
    log.assign(timestamp=log["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S")).to_csv(tmp_path / "log.csv", index=False)
    store = EventStore(f"sqlite:///{tmp_path / 'shop.db'}")
    store.create_schema()
    ingest(store, tmp_path / "log.csv")
    yield store, log
    store.dispose()


SMALL = {"factors": 8, "iterations": 5, "cutoffs": 3}


def test_retraining_promotes_an_equal_version_and_keeps_worse_ones_as_candidates(
        shop: tuple[EventStore, pd.DataFrame], tmp_path: Path) -> None:
    store, log = shop
    registry = ModelRegistry(tmp_path / "models")
    # Without the guard the ranker serves both modes, so the gate has a model of the promoted version to refit.
    first = train(store, registry, params=SMALL, use_guard=False, by="tester")
    assert first["promoted"] and first["gate"]["passed"] and "nothing promoted" in first["gate"]["reasons"][0]
    second = train(store, registry, params=SMALL, use_guard=False, by="tester")
    assert second["promoted"] and second["gate"]["promoted_compared"] == "same recipe"
    assert registry.promoted() == second["version"]

    # A worse recipe: all-time popularity for both modes, measured against the promoted ranker refitted on
    # the same history and window.
    worse = train(store, registry, model="popularity", use_guard=False, by="tester")
    assert not worse["promoted"] and worse["gate"]["promoted_compared"] == "refit"
    assert any("below the promoted version's" in r for r in worse["gate"]["reasons"]), worse["gate"]
    assert registry.promoted() == second["version"]
    assert registry.metadata(worse["version"])["gate"] == worse["gate"]  # written down with the candidate

    # A version trained on a tenth of the data (an ingest that lost most of the log): refused.
    keep = log["customer_id"].drop_duplicates().iloc[::10]
    small_log = log[log["customer_id"].isin(keep)]
    small_log.assign(timestamp=small_log["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S")).to_csv(
        tmp_path / "tenth.csv", index=False)
    tenth_store = EventStore(f"sqlite:///{tmp_path / 'tenth.db'}")
    tenth_store.create_schema()
    ingest(tenth_store, tmp_path / "tenth.csv")
    try:
        tenth = train(tenth_store, registry, params=SMALL, by="tester")
    finally:
        tenth_store.dispose()
    assert not tenth["promoted"] and any("fewer than the promoted version's" in r for r in tenth["gate"]["reasons"])
    assert registry.promoted() == second["version"]
    refused = [e for e in registry.history.entries() if e["action"] == "refuse"]
    assert [e["version"] for e in refused] == [worse["version"], tenth["version"]]
    assert refused[1]["by"] == "tester" and "fewer" in refused[1]["reason"]

    # The marketer may still promote a candidate; --no-gate promotes whatever it trains.
    registry.promote(worse["version"], by="tester", reason="seasonal test")
    assert registry.rollback(by="tester")["version"] == second["version"]
    forced = train(store, registry, model="popularity", use_gate=False, keep_versions=3, by="tester")
    assert forced["promoted"] and forced["gate"] == {"skipped": "the quality gate was turned off (--no-gate)"}
    assert len(registry.versions()) == 3 and second["version"] in registry.versions()  # the rollback target
    assert forced["pruned"] == [first["version"], worse["version"]]


def test_the_shell_promotes_rolls_back_and_shows_the_history(
        settings_env: dict[str, str], store: EventStore, purchases_csv: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    ingest(store, purchases_csv)
    small = ["--param", "factors=8", "--param", "iterations=3", "--param", "cutoffs=2"]
    assert main(["train", *small]) == 0 and main(["train", *small, "--no-promote"]) == 0
    registry = ModelRegistry(settings_env["RECO_MODEL_DIR"])
    first, second = registry.versions()
    capsys.readouterr()
    assert main(["models", "--promote", second, "--reason", "try it"]) == 0
    listed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert listed["promoted"] == second and listed["rollback_to"] == first
    assert main(["models", "--rollback"]) == 0 and registry.promoted() == first
    assert main(["models", "--rollback"]) == 1
    assert "nothing to roll back to" in capsys.readouterr().err
    assert main(["models", "--history"]) == 0
    history = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["history"]
    assert [(e["action"], e["version"], e["by"]) for e in history] == [
        ("promote", first, "shell"), ("promote", second, "shell"), ("rollback", first, "shell")]
    assert history[1]["reason"] == "try it"
    assert main(["models", "--promote", second, "--rollback"]) == 2
    assert "not both" in capsys.readouterr().err
