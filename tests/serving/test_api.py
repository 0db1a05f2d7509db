"""The HTTP API over a real store and a trained model (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from reco.ingest import ingest
from reco.registry import ModelRegistry
from reco.store import EventStore
from serving.main import app
from training.train import train


def _eventually(check: Callable[[], bool], seconds: float = 20) -> bool:
    """Whether ``check()`` comes true within ``seconds`` (asked every 0.05 s)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def client(
    settings_env: dict[str, str], store: EventStore, purchases_csv: Path, tmp_path: Path
) -> Iterator[TestClient]:
    ingest(store, purchases_csv)
    people = tmp_path / "people.csv"
    people.write_text("customer_id,consent_personalisation\nC003,no\n")
    ingest(store, people, kind="customers")
    # Strong regularisation: on this tiny log the collaborative part learns the taste groups cleanly.
    params = {"factors": 4, "iterations": 15, "regularization": 1.0, "alpha": 1.0}
    train(store, ModelRegistry(settings_env["RECO_MODEL_DIR"]), params=params)
    with TestClient(app, headers={"X-API-Key": store.add_api_key("admin", "tests")}) as c:
        yield c


def test_health_and_ready(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.json()["model_version"]
    warming = client.app.state.serving.warming  # type: ignore[attr-defined]
    assert warming is not None  # the default settings warm the cache
    warming.join(60)
    assert client.get("/ready").json()["cache_warming"] is False


def test_known_customer_never_sees_what_they_bought(client: TestClient, purchases: pd.DataFrame) -> None:
    # C000 bought 6 of the 10 items of its taste group: the other 4 should come first.
    body = client.get("/v1/customers/C000/recommendations", params={"n": 4}).json()
    assert body["personalised"] is True and len(body["items"]) == 4
    bought = set(purchases.loc[purchases["customer_id"] == "C000", "item_id"])
    for item in body["items"]:
        assert item["item_id"] not in bought
        assert set(item) == {"item_id", "name", "score", "reason"}
        assert item["name"].startswith("Item ") and item["reason"].startswith("because you bought Item ")
        assert int(item["item_id"][1:]) < 10  # C000 is in the first taste group


def test_mode_all_may_recommend_bought_items_and_says_so(client: TestClient, purchases: pd.DataFrame) -> None:
    # In this log nobody buys an item twice, so what leads is the learned model's call; what mode all
    # guarantees is that bought items may be recommended, and say so.
    body = client.get("/v1/customers/C000/recommendations", params={"n": 20, "mode": "all"}).json()
    bought = set(purchases.loc[purchases["customer_id"] == "C000", "item_id"])
    again = [item for item in body["items"] if item["item_id"] in bought]
    assert again and all(item["reason"] == "bought before" for item in again)
    assert all(item["reason"] != "bought before" for item in body["items"] if item["item_id"] not in bought)
    assert client.get("/v1/customers/C000/recommendations", params={"mode": "some"}).status_code == 422


def test_price_and_exclusion_filters(client: TestClient, purchases: pd.DataFrame) -> None:
    prices = purchases.drop_duplicates("item_id").set_index("item_id")["price"]
    body = client.get("/v1/customers/C000/recommendations",
                      params=[("max_price", "3"), ("exclude", "I005"), ("exclude", "I006"), ("n", "20")]).json()
    assert body["items"]
    assert all(prices[i["item_id"]] <= 3 for i in body["items"])
    assert not {"I005", "I006"} & {i["item_id"] for i in body["items"]}
    bad = client.get("/v1/customers/C000/recommendations", params={"min_price": 9, "max_price": 3})
    assert bad.status_code == 422 and "above max_price" in bad.json()["detail"]


def test_bad_query_values_are_422s_that_name_the_parameter_and_value(client: TestClient) -> None:
    url = "/v1/customers/C000/recommendations"
    for params, named in (({"n": "0"}, "query n: Input should be greater than or equal to 1 (got '0')"),
                          ({"n": "101"}, "query n: Input should be less than or equal to 100 (got '101')"),
                          ({"n": "ten"}, "query n: Input should be a valid integer"),
                          ({"mode": "some"}, "query mode: Input should be 'new' or 'all' (got 'some')"),
                          ({"min_price": "-1"}, "query min_price: Input should be greater than or equal to 0"),
                          ([("exclude", "x")] * 501, "query exclude: List should have at most 500 items")):
        response = client.get(url, params=params)
        assert response.status_code == 422 and named in response.json()["detail"], response.json()
    both = client.get(url, params={"n": "0", "mode": "some"}).json()["detail"]
    assert "query n:" in both and "query mode:" in both  # every problem at once
    body = client.get(url, params=[("exclude", "I005"), ("n", "3"), ("unknown", "ignored")]).json()
    assert len(body["items"]) == 3 and "I005" not in {i["item_id"] for i in body["items"]}


def test_unknown_customer_gets_popular_not_404(client: TestClient) -> None:
    response = client.get("/v1/customers/someone-new/recommendations")
    assert response.status_code == 200
    body = response.json()
    assert body["personalised"] is False and len(body["items"]) == 10
    assert {i["reason"] for i in body["items"]} == {"popular"}


def test_opted_out_customer_gets_non_personal_results(client: TestClient) -> None:
    body = client.get("/v1/customers/C003/recommendations").json()
    assert body["personalised"] is False and {i["reason"] for i in body["items"]} == {"popular"}


@pytest.mark.parametrize("n", ["0", "101", "ten"])
def test_out_of_range_n_is_422(client: TestClient, n: str) -> None:
    response = client.get("/v1/customers/C000/recommendations", params={"n": n})
    assert response.status_code == 422 and "detail" in response.json()


def test_similar_items_and_unknown_item(client: TestClient) -> None:
    body = client.get("/v1/items/I011/similar", params={"n": 3}).json()
    assert len(body["items"]) == 3 and "I011" not in {i["item_id"] for i in body["items"]}
    assert {i["reason"] for i in body["items"]} == {"similar to Item 11"}  # the name, not the id
    missing = client.get("/v1/items/NOPE/similar")
    assert missing.status_code == 404 and "NOPE" in missing.json()["detail"]


def test_no_model_yet_is_503_with_json(settings_env: dict[str, str], store: EventStore) -> None:
    with TestClient(app, headers={"X-API-Key": store.add_api_key("site")}) as c:
        assert c.get("/health").status_code == 200
        assert c.get("/ready").status_code == 503
        response = c.get("/v1/customers/C000/recommendations")
        assert response.status_code == 503 and "reco train" in response.json()["detail"]


def test_docs_load_nothing_from_outside(client: TestClient) -> None:
    """/docs was blank offline: it loaded Swagger UI from a CDN."""
    import re

    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        sources = re.findall(r'(?:src|href)="([^"]+)"', html) + re.findall(r"url: '([^']+)'", html)
        assert sources and not [s for s in sources if s.startswith(("http:", "https:", "//"))], sources
        for source in sources:
            if source.endswith((".js", ".css")):
                asset = client.get(source)
                assert asset.status_code == 200 and len(asset.content) > 10_000, source


def test_openapi_lists_response_models(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/v1/customers/{customer_id}/recommendations" in spec["paths"]
    assert "RecommendationsOut" in spec["components"]["schemas"]


@pytest.fixture
def scored_client(settings_env: dict[str, str], store: EventStore, tmp_path: Path) -> Iterator[TestClient]:
    from tests.factories import rhythm_log
    from training.score import score_customers

    log = rhythm_log(n=80)
    log.assign(timestamp=log["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S")).to_csv(tmp_path / "log.csv", index=False)
    ingest(store, tmp_path / "log.csv")
    (tmp_path / "people.csv").write_text("customer_id,consent_personalisation\nC002,no\n")
    ingest(store, tmp_path / "people.csv", kind="customers")
    registry = ModelRegistry(settings_env["RECO_MODEL_DIR"])
    train(store, registry, params={"factors": 4, "iterations": 3, "cutoffs": 1})
    headers = {"X-API-Key": store.add_api_key("admin", "tests")}
    with TestClient(app, headers=headers) as c:
        assert c.get("/v1/customers/C001/profile").status_code == 503  # trained, not scored yet
    score_customers(store, registry, horizon_days=60)
    with TestClient(app, headers=headers) as c:
        yield c


def test_profile_shows_churn_risk_reasons_value_and_segment(scored_client: TestClient) -> None:
    body = scored_client.get("/v1/customers/C001/profile").json()
    assert set(body) == {"customer_id", "model_version", "churn_probability", "churn_reasons",
                         "expected_purchases_90d", "p_alive", "clv_12m", "value_tier", "segment"}
    assert 0 <= body["churn_probability"] <= 1 and isinstance(body["churn_reasons"], list)
    assert body["segment"] in ("new", "champions", "loyal", "promising", "at risk", "hibernating", "lost")
    profiles = [scored_client.get(f"/v1/customers/C{i:03d}/profile").json() for i in range(3, 80, 2)]
    risky = max(profiles, key=lambda p: p["churn_probability"])
    assert risky["churn_reasons"] and risky["churn_probability"] > 0.5


def test_profile_errors_are_json(scored_client: TestClient) -> None:
    missing = scored_client.get("/v1/customers/nobody/profile")
    assert missing.status_code == 404 and "no profile for customer 'nobody'" in missing.json()["detail"]
    opted_out = scored_client.get("/v1/customers/C002/profile")
    assert opted_out.status_code == 403 and "opted out" in opted_out.json()["detail"]


def test_consent_opt_out_and_back_in_takes_effect_at_once(scored_client: TestClient) -> None:
    assert scored_client.get("/v1/customers/C005/recommendations").json()["personalised"] is True
    put = scored_client.put("/v1/customers/C005/consent", json={"personalisation": False})
    assert put.status_code == 200 and put.json() == {"customer_id": "C005", "personalisation": False,
                                                     "marketing": False}
    assert scored_client.get("/v1/customers/C005/recommendations").json()["personalised"] is False
    assert scored_client.get("/v1/customers/C005/profile").status_code == 403
    back = scored_client.put("/v1/customers/C005/consent", json={"personalisation": True, "marketing": True})
    assert back.json()["marketing"] is True
    assert scored_client.get("/v1/customers/C005/recommendations").json()["personalised"] is True
    unchanged = scored_client.put("/v1/customers/C005/consent", json={})  # nothing given: nothing changes
    assert unchanged.status_code == 200 and unchanged.json()["marketing"] is True
    assert scored_client.put("/v1/customers/C005/consent", json={"personalisation": "maybe"}).status_code == 422


def test_erasure_removes_events_scores_and_personal_results_and_keeps_them_out(
        scored_client: TestClient, store: EventStore, settings_env: dict[str, str], tmp_path: Path) -> None:
    data = scored_client.get("/v1/customers/C007/data").json()
    assert data["events"] and data["profile"]["customer_id"] == "C007" and data["customer"] is not None
    erased = scored_client.delete("/v1/customers/C007").json()
    assert erased["events_deleted"] == len(data["events"]) and erased["customer_deleted"] is True
    assert erased["score_tables_changed"] == 1
    after = scored_client.get("/v1/customers/C007/data").json()
    assert after == {"customer_id": "C007", "customer": None, "events": [], "marketing": [], "offer_outcomes": [],
                     "offer_decisions": [],
                     "profile": None}
    assert scored_client.get("/v1/customers/C007/recommendations").json()["personalised"] is False
    erased_profile = scored_client.get("/v1/customers/C007/profile")
    assert erased_profile.status_code == 404 and "was erased" in erased_profile.json()["detail"]
    assert scored_client.put("/v1/customers/C007/consent", json={"personalisation": True}).status_code == 410
    assert scored_client.get("/v1/customers/C007/data").json()["customer"] is None  # nothing brought back
    registry = ModelRegistry(settings_env["RECO_MODEL_DIR"])
    assert "C007" not in set(registry.customer_scores()["customer_id"])
    version = registry.promoted()
    assert '"C007"' not in (Path(settings_env["RECO_MODEL_DIR"]) / version / "id_mapping.json").read_text()
    assert registry.load(version).mapping.user_index("C007") is None  # the model can no longer find them
    # the same source file again: the erased customer's rows are dropped and counted, the rest is duplicate
    report = ingest(store, tmp_path / "log.csv")
    assert report.inserted == 0 and report.dropped == {"erased_customer": len(data["events"])}
    assert store.customer_data("C007")["events"].empty and store.is_erased("C007")
    assert scored_client.delete("/v1/customers/C007").json()["events_deleted"] == 0  # idempotent


def test_an_erasure_a_damaged_model_file_holds_up_is_202_and_finished_by_the_next_sync(
        scored_client: TestClient, store: EventStore, settings_env: dict[str, str]) -> None:
    registry = ModelRegistry(settings_env["RECO_MODEL_DIR"])
    version = registry.promoted()
    mapping = Path(settings_env["RECO_MODEL_DIR"]) / version / "id_mapping.json"
    good = mapping.read_text()
    mapping.write_text("{")  # unreadable
    answer = scored_client.delete("/v1/customers/C009")
    body = answer.json()
    assert answer.status_code == 202 and body["complete"] is False and body["pending_versions"] == [version]
    assert body["events_deleted"] > 0 and store.is_erased("C009")  # the store's part is done, and final
    assert scored_client.get("/v1/customers/C009/data").json()["events"] == []
    mapping.write_text(good)
    state = scored_client.app.state.serving  # type: ignore[attr-defined]
    state.maybe_sync(0.0)  # the periodic sync retries pending erasures in the background
    for _ in range(100):
        if not store.erasures.pending():
            break
        time.sleep(0.05)
    assert store.erasures.pending() == {} and '"C009"' not in mapping.read_text()
    assert "C009" not in set(registry.customer_scores(version)["customer_id"])
    again = scored_client.delete("/v1/customers/C009")
    assert again.status_code == 200 and again.json()["complete"] is True


def test_posted_purchase_leaves_new_recommendations_on_the_next_call(client: TestClient) -> None:
    first = client.get("/v1/customers/C000/recommendations", params={"n": 3}).json()["items"][0]["item_id"]
    event = {"event_id": "web-1", "customer_id": "C000", "item_id": first, "channel": "app", "price": 2.5}
    posted = client.post("/v1/events", json=event)
    assert posted.status_code == 200 and posted.json() == {"received": 1, "stored": 1, "duplicates": 0,
                                                           "dropped": {}}
    assert client.post("/v1/events", json=[event]).json()["duplicates"] == 1  # idempotent by event_id
    after = client.get("/v1/customers/C000/recommendations", params={"n": 10}).json()["items"]
    assert first not in {i["item_id"] for i in after}
    again = client.get("/v1/customers/C000/recommendations", params={"n": 20, "mode": "all"}).json()["items"]
    assert {"item_id": first, "reason": "bought before"}.items() <= next(  # in mode all it is bought before
        i for i in again if i["item_id"] == first).items()


def test_a_purchase_returned_in_full_explains_nothing(client: TestClient) -> None:
    batch = [{"customer_id": "web-7", "item_id": f"I{i:03d}", "timestamp": f"2024-02-2{i - 10}T10:00:00"}
             for i in (11, 12, 13)]
    assert client.post("/v1/events", json=batch).json()["stored"] == 3
    reasons = {i["reason"] for i in client.get("/v1/customers/web-7/recommendations").json()["items"]}
    assert any("Item 13" in r for r in reasons)
    sent_back = {"customer_id": "web-7", "item_id": "I013", "event_type": "return", "quantity": 1,
                 "timestamp": "2024-02-24T10:00:00"}
    assert client.post("/v1/events", json=sent_back).json()["stored"] == 1
    body = client.get("/v1/customers/web-7/recommendations", params={"n": 10, "mode": "all"}).json()
    assert body["personalised"] and not any("Item 13" in i["reason"] for i in body["items"])
    assert "I013" not in {i["item_id"] for i in body["items"] if i["reason"] == "bought before"}


def test_a_new_customer_gets_personal_results_after_their_first_events(client: TestClient) -> None:
    assert client.get("/v1/customers/web-42/recommendations").json()["personalised"] is False
    batch = [{"customer_id": "web-42", "item_id": f"I{i:03d}", "channel": "web"} for i in (11, 12, 13, 14)]
    batch.append({"customer_id": "web-42", "item_id": "I015", "event_type": "view"})
    assert client.post("/v1/events", json=batch).json()["stored"] == 5
    body = client.get("/v1/customers/web-42/recommendations", params={"n": 4}).json()
    assert body["personalised"] is True
    assert all(int(i["item_id"][1:]) >= 10 for i in body["items"])  # the taste group of what they bought


def test_bad_event_batches_are_422(client: TestClient) -> None:
    assert client.post("/v1/events", json=[]).status_code == 422
    too_many = [{"customer_id": "a", "item_id": "I001"}] * 1001
    assert "at most 1000" in client.post("/v1/events", json=too_many).json()["detail"]
    wrong = client.post("/v1/events", json={"customer_id": "a", "item_id": "I001", "event_type": "like"})
    assert wrong.status_code == 422
    zero = client.post("/v1/events", json={"customer_id": "a", "item_id": "I001", "quantity": 0}).json()
    assert zero["stored"] == 0 and zero["dropped"] == {"zero_quantity": 1}
    client.delete("/v1/customers/C001")
    erased = client.post("/v1/events", json={"customer_id": "C001", "item_id": "I001"}).json()
    assert erased["stored"] == 0 and erased["dropped"] == {"erased_customer": 1}


def test_events_that_would_break_training_are_422s_naming_the_field(client: TestClient, store: EventStore) -> None:
    """Ingest's value rules (reco.ingest.rules) on the API path: nothing of these is stored."""
    before = store.count_events()
    cases = [({"timestamp": "9999-12-31T23:59:59"}, "timestamp", "in the future"),
             ({"timestamp": "0001-01-01T00:00:00"}, "timestamp", "before 1970-01-02"),
             ({"timestamp": "1970-01-01T00:00:00Z"}, "timestamp", "before 1970-01-02"),
             ({"timestamp": "2999-01-01T00:00:00+14:00"}, "timestamp", "in the future"),
             ({"quantity": 1e7}, "quantity", "less than or equal to 1000000"),
             ({"price": 1e10}, "price", "less than or equal to 1000000000"),
             ({"customer_id": "c" * 129}, "customer_id", "at most 128 characters"),
             ({"quantity": True}, "quantity", "valid number"), ({"price": "2.5"}, "price", "valid number")]
    for change, field, says in cases:
        answer = client.post("/v1/events", json=[{"customer_id": "a", "item_id": "I001"}, {
            "customer_id": "a", "item_id": "I002", **change}])
        assert answer.status_code == 422, change
        assert f"body list[EventIn] 1 {field}" in answer.json()["detail"] and says in answer.json()["detail"], change
    for raw in ('{"customer_id": "a", "item_id": "I001", "quantity": Infinity}',
                '{"customer_id": "a", "item_id": "I001", "quantity": NaN}',
                '{"customer_id": "a", "item_id": "I001", "quantity": 1e400}',
                '{"customer_id": "a", "item_id": "I001", "price": -Infinity}'):
        answer = client.post("/v1/events", content=raw, headers={"Content-Type": "application/json"})
        assert answer.status_code == 422 and "finite number" in answer.json()["detail"], raw
    assert store.count_events() == before
    for padded in ("%20C000", "C000%20", "%09C000"):  # ingest strips ids: a padded one would name nobody
        answer = client.delete(f"/v1/customers/{padded}")
        assert answer.status_code == 422 and "customer_id" in answer.json()["detail"]
    for bad in ("inf", "nan"):
        answer = client.get("/v1/customers/C000/recommendations", params={"max_price": bad})
        assert answer.status_code == 422 and "finite number" in answer.json()["detail"]
    ok = client.post("/v1/events", json={"customer_id": "a", "item_id": "I001", "quantity": -1e6, "price": 1e9})
    assert ok.json()["stored"] == 1


def test_a_known_customers_profile_follows_their_new_purchases_without_retraining(client: TestClient) -> None:
    def groups(body: dict) -> list[int]:
        return [int(i["item_id"][1:]) >= 10 for i in body["items"]]

    before = client.get("/v1/customers/C000/recommendations", params={"n": 2}).json()
    assert groups(before) == [False, False]  # trained on taste group one
    switch = [{"customer_id": "C000", "item_id": f"I{i:03d}", "event_id": f"s{i}"} for i in range(10, 18)]
    assert client.post("/v1/events", json=switch).json()["stored"] == 8
    after = client.get("/v1/customers/C000/recommendations", params={"n": 2}).json()
    assert groups(after) == [True, True], after  # now mostly group two: its last two items lead


def test_roles_401_without_a_key_403_for_the_wrong_one_and_keys_never_logged(
        client: TestClient, store: EventStore, caplog: pytest.LogCaptureFixture) -> None:
    site, marketer = store.add_api_key("site", "shop"), store.add_api_key("marketer", "crm team")
    recs = "/v1/customers/C000/recommendations"
    caplog.set_level("DEBUG")
    missing = client.get(recs, headers={"X-API-Key": ""})
    assert missing.status_code == 401 and "X-API-Key" in missing.json()["detail"]
    assert client.get(recs, headers={"X-API-Key": "reco_guess"}).status_code == 401
    as_site = {"X-API-Key": site}
    assert client.get(recs, headers=as_site).status_code == 200
    assert client.get("/v1/items/I011/similar", headers=as_site).status_code == 200
    event = {"customer_id": "C000", "item_id": "I001"}
    assert client.post("/v1/events", json=event, headers=as_site).status_code == 200
    assert client.put("/v1/customers/C000/consent", json={"marketing": True}, headers=as_site).status_code == 200
    denied = client.get("/v1/customers/C000/profile", headers=as_site)
    assert denied.status_code == 403 and "a site key cannot do this" in denied.json()["detail"]
    assert client.delete("/v1/customers/C000", headers=as_site).status_code == 403
    assert client.get("/v1/customers/C000/data", headers=as_site).status_code == 403
    as_marketer = {"X-API-Key": marketer}
    assert client.get(recs, headers=as_marketer).status_code == 200
    assert client.post("/v1/events", json=event, headers=as_marketer).status_code == 403
    assert client.get("/v1/customers/C000/profile", headers=as_marketer).status_code == 503  # allowed; not scored
    assert client.get("/health", headers={"X-API-Key": ""}).status_code == 200  # operations stay open
    logged = caplog.text
    assert site not in logged and marketer not in logged
    keys = store.api_keys()
    assert set(keys["role"]) == {"admin", "site", "marketer"} and not keys["key_hash"].str.len().gt(8).any()
    assert store.revoke_api_keys("shop") == 1  # as `reco keys revoke` does, from another process
    client.app.state.serving.maybe_sync(0.0)  # type: ignore[attr-defined]  # the next sync (RECO_SYNC_SECONDS)
    assert client.get(recs, headers=as_site).status_code == 401
    assert client.get(recs, headers=as_marketer).status_code == 200


def test_metrics_count_requests_per_route_and_show_the_model_version(client: TestClient) -> None:
    for _ in range(3):
        client.get("/v1/customers/C000/recommendations")
    client.get("/v1/items/NOPE/similar")
    text = client.get("/metrics").text
    route = 'route="/v1/customers/{customer_id}/recommendations"'
    assert any(line.startswith("reco_http_requests_total{") and route in line and 'status="200"' in line
               for line in text.splitlines())
    assert 'reco_http_request_duration_seconds_bucket{le="0.025",method="GET",' in text
    assert any('status="404"' in line and "similar" in line for line in text.splitlines())
    version = client.get("/ready").json()["model_version"]
    assert f'reco_model_version_info{{version="{version}"}} 1.0' in text
    hits = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line.startswith('reco_recommendation_cache_total{result="hit"}')]
    assert hits and hits[0] >= 2  # the same customer and history twice more: answered from the cache


def test_a_newly_promoted_version_is_served_without_restart_and_a_broken_one_is_not(
        settings_env: dict[str, str], store: EventStore, purchases_csv: Path, monkeypatch: pytest.MonkeyPatch) -> None:

    from reco.config import get_settings

    monkeypatch.setenv("RECO_RELOAD_SECONDS", "0.05")
    get_settings.cache_clear()
    ingest(store, purchases_csv)
    registry = ModelRegistry(settings_env["RECO_MODEL_DIR"])
    params = {"factors": 4, "iterations": 3, "cutoffs": 1}
    first = train(store, registry, params=params)["version"]

    def served_after(version: str, client: TestClient, seconds: float = 20) -> bool:
        def served() -> bool:
            response = client.get("/v1/customers/C000/recommendations")
            assert response.status_code == 200  # no failed request during the swap
            return response.json()["model_version"] == version

        return _eventually(served, seconds)

    with TestClient(app, headers={"X-API-Key": store.add_api_key("site")}) as client:
        assert client.get("/ready").json()["model_version"] == first
        second = train(store, registry, params=params)["version"]
        assert served_after(second, client)
        broken = train(store, registry, params=params, promote=False)["version"]
        (Path(settings_env["RECO_MODEL_DIR"]) / broken / "ranker" / "model.npz").write_bytes(b"not a model")
        registry.promote(broken)
        assert not served_after(broken, client, seconds=3)  # the broken version never serves ...
        assert client.get("/ready").json()["model_version"] == second  # ... the last good one does
    get_settings.cache_clear()


@pytest.mark.parametrize("damage", ["truncated npz", "empty npz", "truncated classifier"])
def test_a_damaged_promoted_version_never_takes_serving_down(
        settings_env: dict[str, str], store: EventStore, purchases_csv: Path, damage: str) -> None:
    """A truncated model.npz, an empty one or a truncated classifier.joblib was retried every 5 s forever, and a
    restart refused to start (exit 3): every load failure is now one error, and start-up serves the newest
    version that loads and says so."""
    from reco.exceptions import ArtifactError

    ingest(store, purchases_csv)
    registry = ModelRegistry(settings_env["RECO_MODEL_DIR"])
    params = {"factors": 4, "iterations": 3, "cutoffs": 1}
    good = train(store, registry, params=params)["version"]
    bad = train(store, registry, params=params)["version"]
    folder = Path(settings_env["RECO_MODEL_DIR"]) / bad / "ranker"
    target = folder / ("classifier.joblib" if "classifier" in damage else "model.npz")
    data = target.read_bytes()
    target.write_bytes(b"" if damage == "empty npz" else data[: len(data) // 2])
    with pytest.raises(ArtifactError):
        registry.load(bad)
    with TestClient(app, headers={"X-API-Key": store.add_api_key("site")}) as client:  # a restart
        ready = client.get("/ready")
        body = ready.json()
        assert ready.status_code == 200 and body["status"] == "degraded"
        assert (body["model_version"], body["promoted_version"]) == (good, bad)
        assert f"promoted model version {bad} failed to load" in body["problem"] and good in body["problem"]
        answer = client.get("/v1/customers/C000/recommendations")
        assert answer.status_code == 200 and answer.json()["model_version"] == good


def test_scores_written_for_the_serving_version_are_picked_up_without_a_restart(
        settings_env: dict[str, str], store: EventStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`reco score customers` for the serving version left /profile at 503 until a restart; and every retrain
    turned profiles off until scored: now the previous version's scores serve until the new ones exist."""
    from reco.config import get_settings
    from tests.factories import rhythm_log
    from training.score import score_customers

    monkeypatch.setenv("RECO_RELOAD_SECONDS", "0.05")
    get_settings.cache_clear()
    log = rhythm_log(n=80)
    log.assign(timestamp=log["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S")).to_csv(tmp_path / "log.csv", index=False)
    ingest(store, tmp_path / "log.csv")
    registry = ModelRegistry(settings_env["RECO_MODEL_DIR"])
    params = {"factors": 4, "iterations": 3, "cutoffs": 1}
    first = train(store, registry, params=params)["version"]

    def profile_after(client: TestClient, version: str) -> bool:
        def shown() -> bool:
            answer = client.get("/v1/customers/C001/profile")
            return answer.status_code == 200 and answer.json()["model_version"] == version

        return _eventually(shown)

    with TestClient(app, headers={"X-API-Key": store.add_api_key("marketer")}) as client:
        assert client.get("/v1/customers/C001/profile").status_code == 503
        score_customers(store, registry, horizon_days=60)
        assert profile_after(client, first)  # picked up, no restart
        second = train(store, registry, params=params)["version"]
        deadline = time.monotonic() + 20
        while client.get("/ready").json()["model_version"] != second and time.monotonic() < deadline:
            time.sleep(0.05)
        kept = client.get("/v1/customers/C001/profile")
        assert kept.status_code == 200 and kept.json()["model_version"] == first  # the last scores, meanwhile
        score_customers(store, registry, horizon_days=60)
        assert profile_after(client, second)
    get_settings.cache_clear()


def test_reco_serve_with_two_workers_serves_and_adds_up_metrics(purchases_csv: Path, tmp_path: Path) -> None:
    """The process model, once (SQLite): `reco serve --workers 2` as a real server."""
    import os
    import socket
    import subprocess
    import sys
    import time

    import httpx

    settings_env = {"RECO_DATABASE_URL": f"sqlite:///{tmp_path / 'reco.db'}",
                    "RECO_MODEL_DIR": str(tmp_path / "models")}
    store = EventStore(settings_env["RECO_DATABASE_URL"])
    ingest(store, purchases_csv)
    train(store, ModelRegistry(settings_env["RECO_MODEL_DIR"]), params={"factors": 4, "iterations": 3, "cutoffs": 1})
    key = store.add_api_key("site")
    store.dispose()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, **settings_env}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115  (closed after the server stops)
    server = subprocess.Popen([sys.executable, "-m", "training.cli", "serve", "--port", str(port), "--workers", "2"],
                              cwd=tmp_path, env={**env, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
                              stdout=subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        for _ in range(20):
            response = httpx.get(f"{base}/v1/customers/C000/recommendations", headers={"X-API-Key": key}, timeout=10)
            assert response.status_code == 200 and response.json()["personalised"] is True
        leaked = httpx.get(f"{base}/v1/customers/C000/recommendations", params={"api_key": "reco_leaked"})
        assert leaked.status_code == 401  # a key is read from the header only
        deadline = time.monotonic() + 60  # /ready answered from one worker; the other may still be starting
        while True:
            metrics = httpx.get(f"{base}/metrics", timeout=10).text
            pids = {line.split('pid="')[1].split('"')[0] for line in metrics.splitlines()
                    if line.startswith("reco_model_version_info{")}
            if len(pids) == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert len(pids) == 2  # both workers loaded the model, and /metrics reports both
        counted = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                      if line.startswith("reco_http_requests_total{") and "recommendations" in line)
        assert counted == 21  # every worker's requests (20 answered, 1 refused), added up
        assert (tmp_path / "var" / "prometheus").is_dir()
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    # The logs: one JSON line per request with the route template; no customer id, no key, no query string.
    written = (tmp_path / "server.log").read_text()
    lines = [json.loads(line) for line in written.splitlines() if line.startswith("{")]
    routes = [line["route"] for line in lines if line.get("event") == "request"]
    assert routes.count("/v1/customers/{customer_id}/recommendations") == 21
    assert "C000" not in written and "reco_leaked" not in written and key not in written and "api_key" not in written


def test_the_path_id_pattern_refuses_exactly_what_ingest_would_strip() -> None:
    """OpenAPI clients (ECMA regexes) and the server (Python's) must read the pattern alike."""
    import re

    from serving.schemas import PATH_ID

    pattern = re.compile(PATH_ID)
    for code in range(1, 0x10000):
        c = chr(code)
        if 0xD800 <= code <= 0xDFFF:
            continue
        for candidate in (c + "a", "a" + c):
            assert (pattern.fullmatch(candidate) is not None) == (candidate.strip() == candidate), hex(code)
