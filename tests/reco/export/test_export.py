"""Batch export: the consenting customers of an audience, nothing already bought, atomic file replace, a
manifest that names the consent rule."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from reco.exceptions import ConfigurationError
from reco.export import EXPORT_COLUMNS, export_recommendations
from reco.ingest import ingest
from reco.registry import ModelRegistry
from reco.service import RecommendationService
from reco.store import EventStore
from training.train import train


@pytest.fixture
def trained(store: EventStore, purchases_csv: Path, tmp_path: Path) -> RecommendationService:
    ingest(store, purchases_csv)
    people = tmp_path / "people.csv"
    # C001 opted out of personalisation; ten customers gave marketing consent, C001 among them
    people.write_text("customer_id,consent_personalisation,consent_marketing\nC001,no,yes\n"
                      + "".join(f"C{c:03d},yes,yes\n" for c in range(10, 19)))
    ingest(store, people, kind="customers")
    registry = ModelRegistry(tmp_path / "models")
    train(store, registry, params={"factors": 8, "iterations": 10})
    return RecommendationService(registry.load(), store.items())


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_export_only_customers_who_may_be_contacted(store: EventStore, trained: RecommendationService,
                                                    tmp_path: Path, suffix: str) -> None:
    out = tmp_path / "crm" / f"recs{suffix}"
    report = export_recommendations(store, trained, out, n=3)
    table = pd.read_csv(out, dtype={"customer_id": str, "item_id": str}) if suffix == ".csv" else pd.read_parquet(out)
    assert set(table["customer_id"]) == {f"C{c:03d}" for c in range(10, 19)}  # marketing consent, not C001
    assert report["audience"] == "marketing" and report["rows"] == len(table) == 9 * 3
    assert report["excluded"] == {"without_personalisation_consent": 1, "without_marketing_consent": 30}
    manifest = json.loads(Path(report["manifest"]).read_text())
    assert Path(report["manifest"]) == out.with_name(out.name + ".manifest.json")
    assert manifest["audience"] == "marketing" and "marketing consent" in manifest["audience_rule"]
    assert (manifest["kind"], manifest["rows"], manifest["customers"], manifest["file"]) == (
        "recommendations", 27, 9, out.name)
    assert manifest["model_version"] == trained.version and manifest["excluded"] == report["excluded"]
    with pytest.raises(ConfigurationError, match="valid: marketing, personalised"):
        export_recommendations(store, trained, out, audience="everyone")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_export_every_consenting_customer(store: EventStore, trained: RecommendationService, tmp_path: Path,
                                          purchases: pd.DataFrame, suffix: str) -> None:
    out = tmp_path / "crm" / f"recs{suffix}"
    report = export_recommendations(store, trained, out, n=3, audience="personalised")
    assert report["mode"] == "new"
    table = pd.read_csv(out, dtype={"customer_id": str, "item_id": str}) if suffix == ".csv" else pd.read_parquet(out)
    assert tuple(table.columns) == EXPORT_COLUMNS
    assert report["rows"] == len(table) == 39 * 3 and report["excluded"]["without_personalisation_consent"] == 1
    assert json.loads(Path(report["manifest"]).read_text())["audience"] == "personalised"
    assert "C001" not in set(table["customer_id"])
    bought = set(zip(purchases["customer_id"], purchases["item_id"], strict=True))
    assert not any((c, i) in bought for c, i in zip(table["customer_id"], table["item_id"], strict=True))
    assert table.groupby("customer_id")["rank"].apply(list).map(lambda r: r == [1, 2, 3]).all()
    assert not list(out.parent.glob(".*tmp*"))


def test_export_refuses_unknown_format_and_keeps_old_file(store: EventStore, trained: RecommendationService,
                                                          tmp_path: Path) -> None:
    out = tmp_path / "recs.csv"
    out.write_text("previous export\n")
    with pytest.raises(ConfigurationError, match=r"\.csv, \.parquet"):
        export_recommendations(store, trained, tmp_path / "recs.xlsx")
    with pytest.raises(ConfigurationError, match="positive"):
        export_recommendations(store, trained, out, n=0)
    assert out.read_text() == "previous export\n"


def test_export_mode_all_may_remind_of_past_purchases(store: EventStore, trained: RecommendationService,
                                                      tmp_path: Path, purchases: pd.DataFrame) -> None:
    out = tmp_path / "recs.csv"
    export_recommendations(store, trained, out, n=10, mode="all", audience="personalised")
    table = pd.read_csv(out, dtype={"customer_id": str, "item_id": str})
    bought = set(zip(purchases["customer_id"], purchases["item_id"], strict=True))
    again = table[[(c, i) in bought for c, i in zip(table["customer_id"], table["item_id"], strict=True)]]
    assert len(again) > 0 and set(again["reason"]) == {"bought before"}


def test_streams_in_batches_and_writes_an_empty_file_for_no_customers(
        store: EventStore, trained: RecommendationService, tmp_path: Path, purchases: pd.DataFrame) -> None:
    from reco.export import write_recommendations

    out = tmp_path / "recs.parquet"
    report = write_recommendations(trained, purchases["customer_id"].unique(), purchases, out, n=2, batch_size=7)
    table = pd.read_parquet(out)
    assert report["rows"] == len(table) == 80 and table["customer_id"].nunique() == 40
    empty = tmp_path / "none.csv"
    assert write_recommendations(trained, [], purchases, empty)["rows"] == 0
    assert pd.read_csv(empty).columns.tolist() == list(EXPORT_COLUMNS)


def test_csv_cells_that_would_run_as_formulas_are_quoted_parquet_keeps_them(
        store: EventStore, trained: RecommendationService, tmp_path: Path) -> None:
    catalogue = tmp_path / "catalogue.csv"
    evil = "=cmd|' /C calc'!A0"
    catalogue.write_text("item_id,name\n" + "".join(f"I{i:03d},\"{p}{evil[1:]}\"\n" for i, p in
                                                   zip(range(20), "=+-@" * 5, strict=True)))
    ingest(store, catalogue, kind="items")
    service = RecommendationService(ModelRegistry(tmp_path / "models").load(), store.items())
    csv, parquet = tmp_path / "recs.csv", tmp_path / "recs.parquet"
    export_recommendations(store, service, csv, n=3, audience="personalised")
    export_recommendations(store, service, parquet, n=3, audience="personalised")
    names = pd.read_csv(csv, dtype=str)["item_name"]
    assert len(names) == 117 and names.str.startswith("'").all()
    assert names.str[1:].str[0].isin(list("=+-@")).all()
    reasons = pd.read_csv(csv, dtype=str)["reason"]
    assert not reasons.str.match(r"^[=+\-@]").any()
    exact = pd.read_parquet(parquet)["item_name"]
    assert exact.str[0].isin(list("=+-@")).all()  # Parquet: the exact text
