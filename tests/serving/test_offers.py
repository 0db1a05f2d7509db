"""The offer catalogue over the API: marketer and admin keys only, 422s that name the field, atomic writes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from reco.store import EventStore
from serving.main import app

MEAT = {"name": "5 off meat", "kind": "amount_off", "scope": "category:MEAT", "value": 5, "channels": "email|app",
        "valid_from": "2017-01-01", "valid_until": "2030-01-01", "budget": 200, "max_per_customer": 1,
        "rules": [{"attribute": "bought_category", "op": "within_days", "value": "MEAT", "days": 90}]}


@pytest.fixture
def client(settings_env: dict[str, str], store: EventStore) -> Iterator[TestClient]:
    with TestClient(app, headers={"X-API-Key": store.add_api_key("marketer")}) as c:
        c.site_key = store.add_api_key("site")  # type: ignore[attr-defined]
        yield c


def test_put_get_list_delete(client: TestClient, store: EventStore) -> None:
    put = client.put("/v1/offers/o-meat", json=MEAT)
    assert put.status_code == 200 and put.json()["scope"] == "category:MEAT" and put.json()["budget_contacts"] == 200
    assert client.get("/v1/offers/o-meat").json() == put.json()
    assert [o["offer_id"] for o in client.get("/v1/offers").json()["offers"]] == ["o-meat"]
    assert client.put("/v1/offers/o-meat", json={**MEAT, "value": 6}).json()["value"] == 6.0  # replaced
    assert store.offers.get("o-meat").value == 6.0
    assert client.delete("/v1/offers/o-meat").json() == {"offer_id": "o-meat", "deleted": True}
    assert client.get("/v1/offers/o-meat").status_code == 404 and client.delete("/v1/offers/o-meat").status_code == 404


@pytest.mark.parametrize(("change", "says"), [
    ({"valid_until": "2016-01-01"}, "valid_until"), ({"budget": -5}, "budget_contacts"),
    ({"channels": "email|fax"}, "channels"), ({"rules": [{"attribute": "mood", "op": "in", "value": ["happy"]}]},
                                              "unknown attribute 'mood'"),
    ({"offer_id": "o-other"}, "is not the path's"), ({"colour": "red"}, "colour"),
])
def test_bad_definitions_are_422s_and_store_nothing(client: TestClient, store: EventStore, change: dict,
                                                    says: str) -> None:
    answer = client.put("/v1/offers/o-meat", json={**MEAT, **change})
    assert answer.status_code == 422 and says in answer.json()["detail"]
    assert store.offers.all() == []


def test_only_marketers_and_admins(client: TestClient) -> None:
    site = {"X-API-Key": client.site_key}  # type: ignore[attr-defined]
    assert client.get("/v1/offers", headers=site).status_code == 403
    assert client.put("/v1/offers/o-meat", json=MEAT, headers=site).status_code == 403
    assert client.get("/v1/offers", headers={"X-API-Key": ""}).status_code == 401


def test_outcomes_over_the_api(client: TestClient, store: EventStore) -> None:
    site = {"X-API-Key": client.site_key}  # type: ignore[attr-defined]
    batch = [{"customer_id": "c1", "offer_id": "o-meat", "outcome": "sent", "channel": "email",
              "timestamp": "2017-03-03T09:00:00", "decision_id": "d1"},
             {"customer_id": "c1", "offer_id": "o-meat", "outcome": "clicked", "channel": "app"}]
    first = client.post("/v1/offers/events", json=batch, headers=site)
    assert first.status_code == 200 and first.json() == {"received": 2, "stored": 2, "duplicates": 0, "dropped": {}}
    assert client.post("/v1/offers/events", json=batch[:1]).json()["duplicates"] == 1  # marketer too; idempotent
    for bad in ({"outcome": "liked"}, {"channel": "fax"}, {"timestamp": "2999-01-01T00:00:00"}, {"customer_id": ""}):
        assert client.post("/v1/offers/events", json={**batch[0], **bad}, headers=site).status_code == 422
    admin = {"X-API-Key": store.add_api_key("admin")}
    data = client.get("/v1/customers/c1/data", headers=admin).json()
    assert [o["outcome"] for o in data["offer_outcomes"]] == ["sent", "clicked"]
    erased = client.delete("/v1/customers/c1", headers=admin).json()
    assert erased["offer_outcomes_deleted"] == 2


NOW_OFFERS = (
    "- {offer_id: meat-now, name: meat now, kind: amount_off, value: 2, scope: 'category:meat', channels: 'app|email',"
    " valid_from: 2017-11-01, valid_until: 2099-01-01}\n"
    "- {offer_id: fish-now, name: fish now, kind: amount_off, value: 1, scope: 'category:fish', channels: 'app|email',"
    " valid_from: 2017-11-01, valid_until: 2099-01-01}\n"
    "- {offer_id: scarce, name: scarce, kind: amount_off, value: 9, scope: basket, channels: app, budget: 1,"
    " valid_from: 2017-11-01, valid_until: 2099-01-01}\n"
    "- {offer_id: tips-now, name: picked for you, kind: product_recommendation, channels: 'app|email',"
    " valid_from: 2017-11-01, valid_until: 2099-01-01}\n")


def test_customer_offers(programme: EventStore, tmp_path: Path, settings_env: dict[str, str]) -> None:
    from reco.erasure import erase_customer
    from reco.ingest import record_outcomes
    from reco.registry import ModelRegistry
    from training.cli import main

    store = programme
    (tmp_path / "now.yaml").write_text(NOW_OFFERS)
    assert main(["ingest", str(tmp_path / "now.yaml"), "--kind", "offers"]) == 0
    record_outcomes(store, [{"customer_id": "c3", "offer_id": "scarce", "outcome": "sent", "channel": "app",
                             "timestamp": "2020-01-01"}])  # the scarce offer's one contact is used
    erase_customer(store, ModelRegistry(settings_env["RECO_MODEL_DIR"]), "c14")
    with TestClient(app, headers={"X-API-Key": store.add_api_key("site")}) as client:
        meat = client.get("/v1/customers/c2/offers", params={"n": 2}).json()  # likes meat, consents to all
        assert meat["personalised"] and meat["model_version"]
        assert meat["offers"][0]["offer_id"] == "meat-now" and len(meat["offers"]) <= 2
        first = meat["offers"][0]
        assert first["channel"] in ("app", "email") and first["p_redeem"] > 0 and first["reasons"]
        assert "scarce" not in {o["offer_id"] for o in meat["offers"]}  # its budget is used
        fish = client.get("/v1/customers/c1/offers", params={"n": 1}).json()
        assert fish["offers"][0]["offer_id"] == "fish-now"  # odd customers like fish
        no_consent = client.get("/v1/customers/c250/offers", params={"channel": "email"}).json()
        assert no_consent["offers"] == []  # outbound needs marketing consent, the fallback too
        assert client.get("/v1/customers/c250/offers", params={"channel": "app"}).json()["offers"]
        opted_out = client.get("/v1/customers/c7/offers").json()
        assert not opted_out["personalised"] and all(not o["reasons"] for o in opted_out["offers"])
        erased = client.get("/v1/customers/c14/offers").json()
        assert not erased["personalised"] and [o["offer_id"] for o in erased["offers"]] == [
            o["offer_id"] for o in opted_out["offers"]]  # an erased id is told apart from no one
        assert client.get("/v1/customers/c2/offers", params={"n": 0}).status_code == 422
        assert client.get("/v1/customers/c2/offers", params={"channel": "fax"}).status_code == 422
        assert client.get("/v1/customers/c2/offers", headers={"X-API-Key": ""}).status_code == 401
        marketer = {"X-API-Key": store.add_api_key("marketer")}
        assert client.get("/v1/customers/c2/offers", headers=marketer).status_code == 200
        # the marketer's view: every offer, what it passed and why the others are not made
        assert client.get("/v1/customers/c2/offers/explain").status_code == 403  # not for the site
        explained = client.get("/v1/customers/c2/offers/explain", headers=marketer).json()
        verdicts = {o["offer_id"]: o for o in explained["offers"]}
        assert set(verdicts) == {o.offer_id for o in store.offers.all()}
        assert verdicts["meat-now"]["allowed"] and verdicts["meat-now"]["passed"]
        assert explained["offers"][0]["offer_id"] == "meat-now"  # best expected value first
        assert "its budget is used up" in verdicts["scarce"]["excluded"] and not verdicts["scarce"]["allowed"]
        assert any("not valid on" in why for why in verdicts["winter-meat"]["excluded"])
        email = client.get("/v1/customers/c250/offers/explain", params={"channel": "email"}, headers=marketer).json()
        reasons = {o["offer_id"]: o["excluded"] for o in email["offers"]}
        assert any("no marketing consent" in why for why in reasons["meat-now"])
        assert any("not offered on email" in why for why in reasons["scarce"])


def test_offer_answers_are_kept_until_something_they_depend_on_changes(programme: EventStore, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from reco.config import get_settings
    from reco.ingest import record_outcomes
    from training.cli import main

    store = programme
    (tmp_path / "now.yaml").write_text(NOW_OFFERS)
    assert main(["ingest", str(tmp_path / "now.yaml"), "--kind", "offers"]) == 0
    monkeypatch.setenv("RECO_OFFERS_WARM", "2:email")
    get_settings.cache_clear()
    with TestClient(app, headers={"X-API-Key": store.add_api_key("site")}) as client:
        offers = app.state.offers
        for _ in range(100):  # the start-up snapshot and warm-up run in the background
            if offers.warming is not None and not offers.warming.is_alive():
                break
            time.sleep(0.05)
        assert offers.warming is not None and not offers.warming.is_alive()
        warmed = offers.cached("c2", 2, "email")
        assert warmed is not None  # computed ahead for a recent customer
        first = client.get("/v1/customers/c2/offers", params={"n": 2, "channel": "email"})
        assert first.content == warmed  # the same decision ids: one decision, kept
        assert _without_ids(warmed) == _without_ids(_body_of(offers, "c2", 2, "email"))  # as one request alone
        assert first.json()["offers"][0]["channel"] == "email"
        record_outcomes(store, [{"customer_id": "c2", "offer_id": "meat-now", "outcome": "sent", "channel": "email",
                                 "timestamp": datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=1)}])
        after = client.get("/v1/customers/c2/offers", params={"n": 2, "channel": "email"}).json()
        assert after["offers"] == []  # the email cap (1 in 7 days) is used: the kept answer went with the outcome
        assert client.get("/v1/customers/c4/offers", params={"n": 2, "channel": "email"}).content == offers.cached(
            "c4", 2, "email")  # others kept
        # an offer whose budget is used up invalidates every kept answer at the next snapshot
        record_outcomes(store, [{"customer_id": "c3", "offer_id": "scarce", "outcome": "sent", "channel": "app",
                                 "timestamp": datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=1)}])
        offers._snapshot = offers._build()
        assert offers.cached("c4", 2, "email") is None


def _without_ids(body: bytes) -> dict:
    answer = json.loads(body)
    for offer in answer["offers"]:
        offer.pop("decision_id")
    return answer


def _body_of(offers: object, customer: str, n: int, channel: str) -> bytes:
    from serving.offers import _body

    return _body(customer, offers.decide(customer, n, channel))  # type: ignore[attr-defined]
