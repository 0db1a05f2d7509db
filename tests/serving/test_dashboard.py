"""The dashboard over HTTP (the browser tests drive it in Chromium): sign-in and its cookie, 401 / 403,
CSRF on every action, what each page shows, and customers who opted out or were erased shown as such."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from reco.erasure import erase_customer
from reco.ingest import ingest, record_outcomes
from reco.offers.report import offer_report
from reco.registry import ModelRegistry
from reco.store import EventStore
from serving.main import app
from training.cli import main
from training.train import train
from training.worker import run_worker

BASE = "http://testserver"


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def _sign_in(client: TestClient, key: str) -> None:
    answer = client.post("/dashboard/login", data={"api_key": key, "next": "/dashboard/models"},
                         follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/models"


@pytest.fixture
def client(settings_env: dict[str, str], store: EventStore, purchases_csv: Path) -> Iterator[TestClient]:
    ingest(store, purchases_csv)
    registry = ModelRegistry(Path(settings_env["RECO_MODEL_DIR"]))
    train(store, registry)
    with TestClient(app, base_url=BASE) as c:
        c.registry = registry  # type: ignore[attr-defined]
        c.marketer = store.add_api_key("marketer", label="dashboard test")  # type: ignore[attr-defined]
        yield c


def test_sign_in_cookie_and_who_may_open_it(client: TestClient, store: EventStore) -> None:
    page = client.get("/dashboard/models")
    assert page.status_code == 401 and "Sign in" in page.text and 'value="/dashboard/models"' in page.text
    assert client.get("/dashboard/training/runs/abc/progress").json() == {
        "detail": "sign in with a marketer or admin API key"}  # what the progress bar polls stays JSON

    unknown = client.post("/dashboard/login", data={"api_key": "reco_nope"})
    assert unknown.status_code == 401 and "unknown API key" in unknown.text and "reco_session" not in unknown.cookies
    site = client.post("/dashboard/login", data={"api_key": store.add_api_key("site")})
    assert site.status_code == 403 and "a site key cannot open the dashboard" in site.text
    assert "reco_session" not in site.cookies
    elsewhere = client.post("/dashboard/login", data={"api_key": client.marketer},  # type: ignore[attr-defined]
                            headers={"Origin": "https://evil.example"})
    assert elsewhere.status_code == 403

    answer = client.post("/dashboard/login", data={"api_key": client.marketer,  # type: ignore[attr-defined]
                                                   "next": "https://evil.example/x"}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard"  # never another site
    cookie = answer.headers["set-cookie"]
    assert "reco_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Path=/dashboard" in cookie and "Secure" not in cookie  # plain HTTP here; Secure over HTTPS
    token = answer.cookies["reco_session"]
    assert token not in str(store.api_keys().to_dict())  # only its hash is stored

    page = client.get("/dashboard")
    assert page.status_code == 200 and "Overview" in page.text
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
    assert "https://" not in page.text  # nothing from a CDN: works offline

    signed_out = client.post("/dashboard/logout", data={"csrf": _csrf(page.text)}, follow_redirects=False)
    assert signed_out.status_code == 303
    client.cookies.set("reco_session", token, path="/dashboard")  # the old cookie no longer opens anything
    assert client.get("/dashboard").status_code == 401

    client.cookies.clear()
    _sign_in(client, client.marketer)  # type: ignore[attr-defined]
    assert client.get("/dashboard").status_code == 200
    assert store.revoke_api_keys("dashboard test") == 1  # revoking the key ends its sessions
    assert client.get("/dashboard").status_code == 401

    with TestClient(app, base_url="https://reco.example") as tls:  # served over HTTPS: the cookie is Secure
        answer = tls.post("/dashboard/login", data={"api_key": store.add_api_key("admin")}, follow_redirects=False,
                          headers={"Origin": "https://reco.example"})
        assert answer.status_code == 303 and "Secure" in answer.headers["set-cookie"]
        assert tls.get("/dashboard").status_code == 200


def test_promote_and_roll_back_need_the_csrf_token(client: TestClient, store: EventStore) -> None:
    registry: ModelRegistry = client.registry  # type: ignore[attr-defined]
    first = registry.promoted()
    second = train(store, registry, promote=False)["version"]
    _sign_in(client, client.marketer)  # type: ignore[attr-defined]
    page = client.get("/dashboard/models")
    assert page.status_code == 200 and second in page.text and first in page.text
    assert "gate passed" in page.text and f'action="/dashboard/models/{second}/promote"' in page.text
    token = _csrf(page.text)

    assert client.post(f"/dashboard/models/{second}/promote", data={}).status_code == 403
    assert client.post(f"/dashboard/models/{second}/promote", data={"csrf": "forged"}).status_code == 403
    cross = client.post(f"/dashboard/models/{second}/promote", data={"csrf": token},
                        headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403 and registry.promoted() == first

    done = client.post(f"/dashboard/models/{second}/promote", data={"csrf": token, "reason": "spring range"},
                       headers={"Origin": "https://testserver"}, follow_redirects=False)  # TLS ended by a proxy
    assert done.status_code == 303 and registry.promoted() == second
    shown = client.get(done.headers["location"])
    assert f"Version {second} is promoted" in shown.text and "spring range" in shown.text
    entry = registry.history.entries()[-1]
    assert entry["by"] == "dashboard (marketer key)" and entry["reason"] == "spring range"

    back = client.post("/dashboard/models/rollback", data={"csrf": token}, follow_redirects=False)
    assert back.status_code == 303 and registry.promoted() == first
    assert registry.history.entries()[-1]["action"] == "rollback"
    nothing = client.post("/dashboard/models/rollback", data={"csrf": token})
    assert nothing.status_code == 409 and "nothing to roll back to" in nothing.text
    missing = client.post("/dashboard/models/20990101T000000Z-dead/promote", data={"csrf": token})
    assert missing.status_code == 404
    unchecked = train(store, registry, promote=False, use_gate=False)["version"]  # reco train --no-gate
    card = client.get("/dashboard/models").text.split(f'data-version="{unchecked}"', 1)[1].split("</article>", 1)[0]
    assert "gate skipped" in card and "gate refused" not in card


def test_start_and_follow_a_training_run(client: TestClient, store: EventStore, settings_env: dict[str, str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from reco.config import get_settings

    _sign_in(client, client.marketer)  # type: ignore[attr-defined]
    page = client.get("/dashboard/training")
    assert page.status_code == 200 and '<label for="kind">' in page.text and "No run yet." in page.text
    assert "No scheduled retraining" in page.text
    for schedule, shown in (("0 3 * * *", "03:00 UTC, skipped when no event arrived"),
                            ("nightly", "is not a cron expression")):
        monkeypatch.setenv("RECO_RETRAIN_SCHEDULE", schedule)
        get_settings.cache_clear()
        assert shown in html.unescape(client.get("/dashboard/training").text)
    monkeypatch.delenv("RECO_RETRAIN_SCHEDULE")
    get_settings.cache_clear()
    token = _csrf(page.text)
    assert client.post("/dashboard/training/runs", data={"kind": "all"}).status_code == 403  # no token
    bad = client.post("/dashboard/training/runs", data={"csrf": token, "kind": "everything"})
    assert bad.status_code == 422 and "kind 'everything' is not valid" in html.unescape(bad.text)
    started = client.post("/dashboard/training/runs", data={"csrf": token, "kind": "recommendations"},
                          follow_redirects=False)
    assert started.status_code == 303
    run_id = started.headers["location"].rsplit("/", 1)[1]
    queued_run = store.runs.get(run_id)
    assert queued_run["state"] == "queued" and queued_run["source"] == "dashboard"  # queued only; the worker trains
    queued = client.get(f"/dashboard/training/runs/{run_id}")
    assert queued.status_code == 200 and "data-run-progress" in queued.text and "Cancel this run" in queued.text
    assert client.get(f"/dashboard/training/runs/{run_id}/progress").json()["state"] == "queued"

    run_worker(store, ModelRegistry(Path(settings_env["RECO_MODEL_DIR"])), once=True)
    progress = client.get(f"/dashboard/training/runs/{run_id}/progress").json()
    assert progress["state"] == "succeeded" and progress["done"] == progress["total"] > 2
    assert progress["log"] and progress["percent"] == 100.0
    done = client.get(f"/dashboard/training/runs/{run_id}").text
    version = store.runs.get(run_id)["result"]["recommendations"]["version"]
    assert "data-run-progress" not in done and version in done and "gate passed" in done and "promoted" in done
    assert client.registry.history.entries()[-1]["by"] == f"run {run_id} (dashboard)"  # type: ignore[attr-defined]
    listed = client.get("/dashboard/training").text
    assert run_id[:8] in listed and "succeeded" in listed
    again = client.post(f"/dashboard/training/runs/{run_id}/cancel", data={"csrf": token})
    assert again.status_code == 409 and "already ended" in again.text
    assert client.get("/dashboard/training/runs/nope").status_code == 404


def test_overview_and_customers_pages(programme: EventStore, capsys: pytest.CaptureFixture[str]) -> None:
    store = programme
    assert main(["score", "customers"]) == 0
    capsys.readouterr()
    with TestClient(app, base_url=BASE) as client:
        _sign_in(client, store.add_api_key("marketer"))
        page = client.get("/dashboard").text
        listing = client.get("/dashboard/customers").text
        redirect = client.get("/dashboard/customers", params={"customer_id": " c4 "}, follow_redirects=False)
        at_risk = client.get("/dashboard/customers", params={"segment": "at risk", "order": "churn"}).text
        top = client.get("/dashboard/customers", params={"tier": "top"}).text
        bad_order = client.get("/dashboard/customers", params={"segment": "at risk", "order": "alphabet"})
    newest = store.event_time_range()[1]
    assert f"{newest:%Y-%m-%d %H:%M}" in page  # freshness: the newest event
    counts = store.activity.customer_counts()
    assert counts == {"with_events": 300, "on_record": 300, "opted_out": 43, "marketing_consent": 200, "erased": 0}
    assert f"<strong>{counts['with_events']:,}</strong>" in page and "43 opted out" in page
    assert page.count('src="data:image/svg+xml;base64,') == 2  # events per day, quality across versions
    days = store.activity.events_per_day(90)
    newest_day = pd.Timestamp(newest).normalize()
    assert days["day"].max() == newest_day and days["day"].min() > newest_day - pd.Timedelta(days=90)
    assert int(days["events"].sum()) == len(store.read_events(("purchase",))[lambda e: e["timestamp"] > newest
                                                                         - pd.Timedelta(days=90)])

    assert listing.count('src="data:image/svg+xml;base64,') == 3 and "Churn risk" in listing
    assert "257 customers scored" in listing and "43 who opted out of personalisation are left out" in listing
    assert redirect.status_code == 303 and redirect.headers["location"] == "/dashboard/customers/c4"

    # A segment's and a tier's customers, with links to their single view; opted-out customers are not listed.
    listed = re.findall(r'href="/dashboard/customers/([^"]+)">', at_risk)
    churn = [float(v) for v in re.findall(r'<td class="num">([\d.]+)%</td><td class="num">', at_risk)]
    assert listed and churn == sorted(churn, reverse=True)  # the highest churn risk first
    assert all(int(c[1:]) % 7 for c in listed)  # every 7th customer opted out: never listed
    in_segment = re.search(r'segment=at%20risk">at risk</a></td><td class="num">([\d,]+)</td>', at_risk).group(1)
    assert f"Segment at risk: {in_segment} customers" in at_risk
    values = [float(v.replace(",", "")) for v in re.findall(
        r'%</td><td class="num">([\d,.]+)</td><td class="num">', top)]
    assert values == sorted(values, reverse=True) and "value tier top:" in top
    assert bad_order.status_code == 422 and "order" in bad_order.text


def test_single_customer_view_and_who_is_shown_as_such(client: TestClient, store: EventStore,
                                                       settings_env: dict[str, str]) -> None:
    _sign_in(client, client.marketer)  # type: ignore[attr-defined]
    store.set_consent("C001", marketing=True)
    site = store.add_api_key("site")
    bought = store.customer_data("C001")["events"]
    item = str(bought["item_id"].iloc[0])
    sent = client.post("/v1/events", headers={"X-API-Key": site}, json=[
        {"customer_id": "C001", "item_id": item, "event_type": "purchase", "channel": "app", "quantity": 2,
         "price": 3.5, "order_id": "app-1", "timestamp": "2024-02-20T10:00:00"},
        {"customer_id": "C001", "item_id": item, "event_type": "return", "channel": "store", "quantity": 1,
         "price": 3.5, "timestamp": "2024-02-21T10:00:00"}])
    assert sent.json()["stored"] == 2
    page = client.get("/dashboard/customers/C001")
    assert page.status_code == 200 and 'data-status="active"' in page.text
    rows = {m[0]: m[1:] for m in re.findall(r"<tr><td>(\w+)</td><td class=\"num\">([\d,]+)</td><td class=\"num\">"
                                           r"([\d,]+)</td><td class=\"num\">([\d,.]+)</td><td class=\"num\">"
                                           r"([\d,]+)</td><td class=\"num\">([\d,.]+)</td>", page.text)}
    channel = str(bought["channel"].iloc[0])
    assert rows[channel][1] == f"{(bought['event_type'] == 'purchase').sum():,}"  # purchases on its first channel
    assert rows["app"] == ("1", "1", "7.00", "0", "0.00")  # one order of 2 x 3.50 in the app
    assert rows["store"] == ("0", "0", "0.00", "1", "3.50")  # a return in a store: one history across channels
    assert "data-recommendations" in page.text and "Marketing consent" in page.text
    for mode in ("new", "all"):  # the API's very answers
        recommended = client.get("/v1/customers/C001/recommendations", params={"mode": mode},
                                 headers={"X-API-Key": site}).json()["items"]
        shown = html.unescape(page.text).split(f'data-recommendations="{mode}">', 1)[1].split("</ol>", 1)[0]
        assert re.findall(r"<strong>(.*?)</strong>", shown) == [i["name"] or i["item_id"] for i in recommended]

    store.set_consent("C002", personalisation=False)
    opted_out = client.get("/dashboard/customers/C002").text
    assert 'data-status="opted_out"' in opted_out and "Nothing more is shown" in opted_out
    assert "Across channels" not in opted_out and "data-recommendations" not in opted_out

    erase_customer(store, ModelRegistry(Path(settings_env["RECO_MODEL_DIR"])), "C003")
    erased = client.get("/dashboard/customers/C003").text
    assert 'data-status="erased"' in erased and "Across channels" not in erased

    unknown = client.get("/dashboard/customers/nobody")
    assert unknown.status_code == 404 and "no customer 'nobody'" in html.unescape(unknown.text)
    assert client.get("/dashboard/customers/%20x").status_code == 422  # the API's id rule


def test_offers_page_shows_budgets_and_treated_against_control(programme: EventStore, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    store = programme
    assert main(["export", "offers", "--out", str(tmp_path / "nbo.csv"), "--as-of", "2017-12-01",
                 "--control-share", "0.4"]) == 0
    decided = store.decisions.decisions()
    outcomes = [{"customer_id": r.customer_id, "offer_id": r.offer_id, "outcome": "redeemed",
                 "timestamp": pd.Timestamp("2017-12-05")}
                for k, r in enumerate(decided.itertuples()) if (not r.control and k % 2 == 0) or k % 10 == 0]
    record_outcomes(store, outcomes)
    pd.DataFrame([{"customer_id": "c1", "item_id": "fish0", "timestamp": "2018-03-01 10:00:00",
                   "order_id": "late", "quantity": 1, "price": 1.0}]).to_csv(tmp_path / "later.csv", index=False)
    assert main(["ingest", str(tmp_path / "later.csv")]) == 0
    capsys.readouterr()
    report = offer_report(store.decisions.decisions(), store.offers.outcomes(),
                          store.read_events(("purchase",), columns=("customer_id", "timestamp", "price", "quantity")))
    with TestClient(app, base_url=BASE) as client:
        _sign_in(client, store.add_api_key("admin"))
        page = client.get("/dashboard/offers").text
    assert "winter meat" in page and "of 40" in page  # the contact budget of winter-meat
    total = report["total"]
    assert total["contacts"] > 0 and total["control"] > 0
    assert f"{100 * total['redemption_rate_treated']:.1f}%" in page
    assert f"{100 * total['redemption_rate_control']:.1f}%" in page
    assert page.count('src="data:image/svg+xml;base64,') == 1


def test_every_page_answers_on_an_empty_store(settings_env: dict[str, str], store: EventStore) -> None:
    """A fresh install: no events, no model, no scores, no offers, no runs; every page says so."""
    with TestClient(app, base_url=BASE) as client:
        _sign_in(client, store.add_api_key("marketer"))
        pages = {path: client.get(f"/dashboard{path}") for path in ("", "/models", "/training", "/customers",
                                                                   "/offers")}
        unknown = client.get("/dashboard/customers/C001")
    assert {path: page.status_code for path, page in pages.items()} == dict.fromkeys(pages, 200)
    assert "No events yet" in pages[""].text and "No model version yet" in pages[""].text
    assert "No model version yet." in pages["/models"].text and "Nothing to roll back to" in pages["/models"].text
    assert "No run yet." in pages["/training"].text
    assert "No customer scores yet" in pages["/customers"].text
    assert "No offer yet" in pages["/offers"].text and "No decision recorded yet" in pages["/offers"].text
    assert unknown.status_code == 404
