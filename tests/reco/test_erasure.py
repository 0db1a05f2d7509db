"""Erasure is complete and final: keyed hashes only, nothing brought back, model files retried until done,
and ids erased while a job runs kept out of what it saves (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from reco.erasure import complete_pending, erase_customer
from reco.exceptions import ErasedCustomerError
from reco.ingest import ingest, record_events
from reco.registry import ModelRegistry
from reco.store import EventStore
from reco.store.hashing import load_hasher, rotate_secret
from training.score import score_customers
from training.train import train

SMALL = {"factors": 4, "iterations": 3}


def _stored_hashes(store: EventStore) -> list[str]:
    with store.engine.connect() as conn:
        return list(conn.execute(text("SELECT customer_hash FROM erasures")).scalars())


def test_the_stored_hash_cannot_be_reversed_without_the_secret(store: EventStore, tmp_path: Path) -> None:
    store.set_consent("17850", personalisation=True)
    erase_customer(store, ModelRegistry(tmp_path / "models"), "17850")
    [stored] = _stored_hashes(store)
    # the audit recovered every 5-digit id from unkeyed hashes in 0.5 s: the same search finds nothing now
    ids = range(10000, 20000)
    unkeyed = {hashlib.blake2b(f"reco-erasure\x1f{i}".encode(), digest_size=32).hexdigest() for i in ids}
    plain = {hashlib.sha256(str(i).encode()).hexdigest() for i in ids}
    assert stored not in unkeyed and stored not in plain
    other = EventStore(store.url, hasher=load_hasher(tmp_path / "another.secret"))
    try:
        assert not other.is_erased("17850")  # another secret: the hash means nothing
    finally:
        other.dispose()
    assert store.is_erased("17850")
    secret = Path(os.environ["RECO_SECRET_FILE"])
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600


def test_rotation_keeps_every_erasure(store_url: str, tmp_path: Path) -> None:
    secret = tmp_path / "rotating.secret"
    first = EventStore(store_url, hasher=load_hasher(secret))
    first.create_schema()
    registry = ModelRegistry(tmp_path / "models")
    erase_customer(first, registry, "ann")
    assert rotate_secret(secret) == 2
    second = EventStore(store_url, hasher=load_hasher(secret))
    try:
        erase_customer(second, registry, "bob")
        assert second.is_erased("ann") and second.is_erased("bob")
        report = record_events(second, [{"customer_id": c, "item_id": "i", "timestamp": "2024-01-01"}
                                        for c in ("ann", "bob", "cat")])
        assert report.inserted == 1 and report.dropped == {"erased_customer": 2}
        assert len(set(_stored_hashes(second))) == 2
    finally:
        first.dispose()
        second.dispose()


def test_an_erased_id_stays_erased(store: EventStore, tmp_path: Path) -> None:
    store.set_consent("c1", personalisation=True, marketing=True)
    erase_customer(store, ModelRegistry(tmp_path / "models"), "c1")
    with pytest.raises(ErasedCustomerError, match="'c1' was erased"):
        store.set_consent("c1", personalisation=True)
    assert store.customer_data("c1")["customer"] is None and not store.personalisation_allowed("c1")
    people = tmp_path / "people.csv"
    people.write_text("customer_id,consent_personalisation,consent_marketing\nc1,yes,yes\nc2,yes,no\n")
    report = ingest(store, people, kind="customers")
    assert report.dropped == {"erased_customer": 1} and set(store.customers()["customer_id"]) == {"c2"}


@pytest.fixture
def trained(store: EventStore, purchases_csv: Path, tmp_path: Path) -> ModelRegistry:
    ingest(store, purchases_csv)
    registry = ModelRegistry(tmp_path / "models")
    train(store, registry, params=SMALL)
    score_customers(store, registry, horizon_days=20)
    train(store, registry, params=SMALL)  # two versions, the newer promoted
    return registry


def _ids_in(registry: ModelRegistry, version: str) -> set[str]:
    return set(json.loads((registry.root / version / "id_mapping.json").read_text())["users"])


def test_a_damaged_version_leaves_the_erasure_pending_until_it_is_done(store: EventStore,
                                                                       trained: ModelRegistry) -> None:
    old, new = trained.versions()
    mapping = trained.root / old / "id_mapping.json"
    good = mapping.read_text()
    mapping.write_text(good[: len(good) // 2])  # truncated
    report = erase_customer(store, trained, "C007")
    assert not report.complete and list(report.pending_versions) == [old] and report.events == 6
    assert "C007" not in _ids_in(trained, new)  # the other version is scrubbed all the same
    assert store.is_erased("C007") and store.customer_data("C007")["events"].empty  # the store's part is final
    assert len(store.erasures.pending()) == 1
    assert list(complete_pending(store, trained).failed) == [old]  # still damaged: still pending
    mapping.write_text(good)  # repaired (or restored from a backup): the next retry finishes the job
    assert complete_pending(store, trained).failed == {}
    assert "C007" not in _ids_in(trained, old) and store.erasures.pending() == {}
    assert "C007" not in set(trained.customer_scores(old)["customer_id"])
    assert complete_pending(store, trained) is None


def test_ids_erased_while_a_job_runs_never_reach_its_files(store: EventStore, trained: ModelRegistry,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    save, save_customers = ModelRegistry.save, ModelRegistry.save_customers

    def save_after_an_erasure(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        erase_customer(store, self, "C011")  # an erasure lands after the job read its data
        return save(self, *args, **kwargs)

    monkeypatch.setattr(ModelRegistry, "save", save_after_an_erasure)
    version = train(store, trained, params=SMALL)["version"]
    assert "C011" not in _ids_in(trained, version) and trained.promoted() == version

    def score_after_an_erasure(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        erase_customer(store, self, "C013")
        return save_customers(self, *args, **kwargs)

    monkeypatch.setattr(ModelRegistry, "save_customers", score_after_an_erasure)
    score_customers(store, trained, horizon_days=20)
    scored = set(trained.customer_scores(version)["customer_id"])
    assert "C013" not in scored and "C012" in scored
    assert not pd.Series(list(_ids_in(trained, version))).isin(["C011", "C013"]).any()
