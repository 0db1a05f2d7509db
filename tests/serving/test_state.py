"""The serving state keeps the model it has when a newly promoted version fails to load."""

from __future__ import annotations

from pathlib import Path

import pytest

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


def test_a_loaded_version_warms_its_cache_and_erasures_elsewhere_are_swept(tmp_path: Path) -> None:
    """Two processes' states on one store: one warms its cache at load; the other erases a customer, and
    the first drops that customer's cached lists and profile at its next sweep."""
    from tests.factories import rhythm_log
    from training.score import score_customers

    store = EventStore(f"sqlite:///{tmp_path / 'reco.db'}")
    log = rhythm_log(n=40)
    log.assign(timestamp=log["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S")).to_csv(tmp_path / "log.csv", index=False)
    ingest(store, tmp_path / "log.csv")
    (tmp_path / "people.csv").write_text("customer_id,consent_personalisation\nC002,no\n")
    ingest(store, tmp_path / "people.csv", kind="customers")
    registry = ModelRegistry(tmp_path / "models")
    train(store, registry, params={"factors": 4, "iterations": 3, "cutoffs": 1})
    score_customers(store, registry, horizon_days=60)
    first = ServingState(store, registry, cache_size=1000, warm=True)
    first.load()
    assert first.warming is not None
    first.warming.join(timeout=60)
    service = first.service
    assert service is not None and service.cache is not None
    customers = {key[0] for key in service.cache._entries}
    assert customers == set(store.recent_customers(1000)) and "C002" not in customers and "C005" in customers
    history = store.customer_events("C005")
    assert service.recommend("C005", history, n=5).cached
    assert first.profiles is not None and "C005" in first.profiles.index

    other = ServingState(store, registry)
    other.load()
    assert first.sweep_erasures() == set()
    store.erase_customer("C005")  # what the other process's DELETE does to the store
    erased = first.sweep_erasures()
    assert erased == {store.hasher("C005")} and first.sweep_erasures() == set()
    first.forget_erased(erased)
    assert "C005" not in {key[0] for key in service.cache._entries} and "C005" not in first.profiles.index
    assert {key[0] for key in service.cache._entries} == customers - {"C005"}
    store.dispose()


def test_keys_are_checked_from_memory_new_ones_at_once_revoked_ones_after_a_sync(tmp_path: Path) -> None:
    store = EventStore(f"sqlite:///{tmp_path / 'reco.db'}")
    store.create_schema()
    state = ServingState(store, ModelRegistry(tmp_path / "models"))
    old = store.add_api_key("site", "shop")
    state.maybe_sync(5.0)
    new = store.add_api_key("marketer", "crm")  # added after the sync: read from the store once, then kept
    assert state.role_for_key(old) == "site" and state.role_for_key(new) == "marketer"
    assert state.role_for_key("reco_not-a-key") is None
    store.revoke_api_keys("shop")
    state.maybe_sync(5.0)  # not due yet
    assert state.role_for_key(old) == "site"
    state.maybe_sync(0.0)
    assert state.role_for_key(old) is None and state.role_for_key(new) == "marketer"
    store.dispose()


def test_answers_from_memory_until_another_process_changes_the_customer(tmp_path: Path, purchases_csv: Path,
                                                                       store_url: str,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A warmed process answers without reading the store; a purchase or an opt-out written through another
    engine (as by another worker) counts from its very next request, on SQLite and PostgreSQL alike."""
    from reco.ingest import record_events

    url = store_url
    store = EventStore(url)
    ingest(store, purchases_csv)
    registry = ModelRegistry(tmp_path / "models")
    train(store, registry, params={"factors": 4, "iterations": 3, "cutoffs": 1})
    state = ServingState(store, registry, cache_size=1000, warm=True)
    state.load()
    assert state.warming is not None
    state.warming.join(timeout=60)
    customer = "C001"
    first = state.cached_recommendations(customer, 5, "new", None)
    assert first is not None and first.personalised and first.cached

    def no_reads(*args: object) -> None:
        raise AssertionError("the store was read for an answer held in memory")

    with monkeypatch.context() as patched:
        patched.setattr(store, "personalisation_allowed", no_reads)
        patched.setattr(store, "customer_event_arrays", no_reads)
        assert state.cached_recommendations(customer, 5, "new", None) == first
        assert state.recommendations(customer, 5, "new", None) == first  # the worker-thread path, too
    assert state.answers_on_loop is (store.dialect == "sqlite")  # PostgreSQL's poll is a round trip

    other = EventStore(url)  # another worker's engine
    bought = first.items[0].item_id
    record_events(other, [{"customer_id": customer, "item_id": bought, "event_type": "purchase",
                           "timestamp": "2024-06-01T00:00:00"}])
    assert state.cached_recommendations(customer, 5, "new", None) is None  # changed: must be read again
    after = state.recommendations(customer, 5, "new", None)
    assert after.personalised and bought not in [i.item_id for i in after.items]
    again = state.cached_recommendations(customer, 5, "new", None)
    assert again is not None and [i.item_id for i in again.items] == [i.item_id for i in after.items]

    other.set_consent(customer, personalisation=False)
    assert state.cached_recommendations(customer, 5, "new", None) is None
    assert not state.recommendations(customer, 5, "new", None).personalised
    assert state.cached_recommendations(customer, 5, "new", None) is None  # opted out: never from the cache
    state.close()
    other.dispose()
    store.dispose()
