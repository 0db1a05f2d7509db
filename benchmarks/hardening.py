"""The hardening audit (issue 14) on the bundled Online Retail data, against the real server.

1. Ingest the demo file, post one live event dated now (as the API does by default) and train: the
   as-of time must stay at the end of the 2011 history, and the version must train and be promoted.
2. Start `reco serve` (uvicorn on loopback) and send bad input of every kind the audit found (and more):
   timestamps out of range, non-finite or huge numbers, over-long ids, broken JSON, oversized bodies,
   missing or wrong keys, reused idempotency keys, bad query values, an erased customer's consent.
   Target: no 5xx, and nothing of it stored.
3. Post events from 8 threads at once (with repeats): events stored must equal events acknowledged.
4. Swap the promoted version back and forth under load: no failed request.
5. Read the server's log: no customer id, no key, no query string.

Prints a table and one final JSON line. Usage: python benchmarks/hardening.py [--swap-seconds 10]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.serving import free_port, wait_ready  # noqa: E402
from reco.ingest import DEMO_DATA, ingest, record_events  # noqa: E402
from reco.registry import ModelRegistry  # noqa: E402
from reco.store import EventStore  # noqa: E402
from training.train import train  # noqa: E402

GOOD = {"customer_id": "17850", "item_id": "85123A", "timestamp": "2011-12-01T10:00:00"}


def bad_requests(base: str, key: str, site: str) -> list[tuple[str, str, str, dict]]:
    """(label, method, url, httpx keyword arguments) of requests that must all be refused with a 4xx."""
    h = {"X-API-Key": key}
    out: list[tuple[str, str, str, dict]] = []
    fields = {
        "timestamp": ["9999-12-31T23:59:59", "0001-01-01T00:00:00", "1970-01-01T00:00:00", "2999-01-01T00:00:00",
                      "2030-01-01T00:00:00Z", "not a date", "", 12345678901234567890, [], {}],
        "quantity": [1e7, -1e7, "abc", [], {}, "1e400", True],
        "price": [-1, 1e10, "free", []],
        "customer_id": ["", "c" * 129, "a\u0000b", None, 5, []],
        "item_id": ["", "i" * 129, "x\u0000", None, {}],
        "event_type": ["teleport", 5, ""],
        "channel": ["pigeon", 3],
        "event_id": ["", "e" * 65],
        "order_id": ["o" * 129],
    }
    for field, values in fields.items():
        for value in values:
            out.append((f"event {field}", "POST", f"{base}/v1/events", {"json": {**GOOD, field: value}, "headers": h}))
            out.append((f"batch {field}", "POST", f"{base}/v1/events",
                        {"json": [GOOD, {**GOOD, field: value}], "headers": h}))
    for raw in ('{"customer_id": "1", "item_id": "2", "quantity": Infinity}',
                '{"customer_id": "1", "item_id": "2", "quantity": NaN}',
                '{"customer_id": "1", "item_id": "2", "quantity": 1e400}',
                '{"customer_id": "1", "item_id": "2", "price": -Infinity}',
                "{", "[]", "null", '"text"', "[" + ",".join([json.dumps(GOOD)] * 1001) + "]"):
        out.append(("raw body", "POST", f"{base}/v1/events",
                    {"content": raw, "headers": {**h, "Content-Type": "application/json"}}))
    out.append(("latin-1 body", "POST", f"{base}/v1/events",
                {"content": '{"customer_id": "M\xfcller", "item_id": "1"}'.encode("latin-1"),
                 "headers": {**h, "Content-Type": "application/json"}}))
    out.append(("3 MB body", "POST", f"{base}/v1/events",
                {"content": b"[" + b" " * (3 << 20) + b"]", "headers": {**h, "Content-Type": "application/json"}}))
    out.append(("no key, 3 MB", "POST", f"{base}/v1/events", {"content": b"x" * (3 << 20)}))
    out.append(("wrong key", "POST", f"{base}/v1/events", {"json": GOOD, "headers": {"X-API-Key": "reco_nope"}}))
    out.append(("key in query", "GET", f"{base}/v1/customers/17850/recommendations?api_key={key}", {}))
    out.append(("site erases", "DELETE", f"{base}/v1/customers/17850", {"headers": {"X-API-Key": site}}))
    out.append(("long idempotency key", "POST", f"{base}/v1/events",
                {"json": GOOD, "headers": {**h, "Idempotency-Key": "k" * 300}}))
    rec = f"{base}/v1/customers/17850/recommendations"
    for query in ("n=0", "n=101", "n=x", "mode=some", "min_price=-1", "min_price=9&max_price=1", "max_price=inf",
                  "min_price=nan", "&".join(f"exclude={i}" for i in range(501)), "category=" + "c" * 300):
        out.append((f"recommendations {query[:20]}", "GET", f"{rec}?{query}", {"headers": h}))
    for path in ("/v1/customers/" + "c" * 129 + "/recommendations", "/v1/customers/%00/recommendations",
                 "/v1/items/NOPE/similar", "/v1/items/85123A/similar?n=0", "/v1/customers/gone-1/profile"):
        out.append((f"path {path[:30]}", "GET", base + path, {"headers": h}))
    for body in ({"personalisation": "maybe"}, {"marketing": 3}, []):
        out.append(("consent body", "PUT", f"{base}/v1/customers/12347/consent", {"json": body, "headers": h}))
    out.append(("erased consent", "PUT", f"{base}/v1/customers/gone-1/consent",
                {"json": {"personalisation": True}, "headers": h}))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--swap-seconds", type=float, default=10.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "RECO_DATABASE_URL": f"sqlite:///{tmp}/reco.db", "RECO_MODEL_DIR": f"{tmp}/models",
               "RECO_SECRET_FILE": f"{tmp}/reco.secret", "RECO_RELOAD_SECONDS": "0.2", "OMP_NUM_THREADS": "1"}
        os.environ.update({k: env[k] for k in ("RECO_SECRET_FILE",)})
        store = EventStore(env["RECO_DATABASE_URL"])
        started = time.perf_counter()
        report = ingest(store, DEMO_DATA, preset="online-retail")
        figures["ingest_seconds"] = round(time.perf_counter() - started, 1)
        figures["events"] = report.events_total
        live = record_events(store, [{"customer_id": "17850", "item_id": "85123A", "timestamp": datetime.now(UTC)}])
        assert live.inserted == 1
        registry = ModelRegistry(env["RECO_MODEL_DIR"])
        started = time.perf_counter()
        first = train(store, registry)
        figures["train_seconds"] = round(time.perf_counter() - started, 1)
        figures["as_of"] = first["as_of"]
        figures["events_after_as_of"] = first["events_after_as_of"]
        figures["promoted_with_classifier"] = (registry.promoted() == first["version"]
                                               and registry.metadata(first["version"])["unlearned"] == {})
        second = train(store, registry, params={"factors": 16, "iterations": 5}, promote=False)["version"]
        store.erase_customer("gone-1")
        key, site = store.add_api_key("admin", "audit"), store.add_api_key("site", "audit")
        store.dispose()

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log_path = Path(tmp) / "server.log"
        with open(log_path, "w") as log:
            server = subprocess.Popen([sys.executable, "-m", "training.cli", "serve", "--port", str(port)],
                                      cwd=tmp, env={**env, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL,
                                      stderr=log)
            try:
                wait_ready(base)
                figures.update(_audit(base, key, site, env, args.swap_seconds, first["version"], second))
            finally:
                server.terminate()
                server.wait(timeout=60)
        text = log_path.read_text()
        leaks = [line for line in text.splitlines()
                 if any(w in line for w in ("17850", "12347", "gone-1", key, site, "api_key"))]
        figures["log_lines"] = len(text.splitlines())
        figures["log_leaks"] = leaks[:5]

    rows = [(k, v) for k, v in figures.items() if k != "statuses"]
    width = max(len(k) for k, _ in rows)
    print(f"{'figure':<{width}}  value")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print("status classes of bad input:", figures.get("statuses"))
    ok = (figures["bad_input_5xx"] == 0 and figures["bad_input_stored"] == 0
          and figures["events_stored"] == figures["events_acknowledged"] and figures["swap_failed"] == 0
          and not figures["log_leaks"] and figures["promoted_with_classifier"] and figures["events_after_as_of"] == 1)
    print(json.dumps({"benchmark": "hardening", **figures, "meets_target": ok}, default=str))


def _audit(base: str, key: str, site: str, env: dict[str, str], swap_seconds: float, first: str,
           second: str) -> dict[str, object]:
    figures: dict[str, object] = {}
    store = EventStore(env["RECO_DATABASE_URL"])
    before = store.count_events()
    statuses: Counter[int] = Counter()
    client = httpx.Client(timeout=60)
    # A key reused with another body is refused, the first use answered again.
    client.post(f"{base}/v1/events", json=GOOD, headers={"X-API-Key": key, "Idempotency-Key": "audit-1"})
    before_bad = store.count_events()
    requests = bad_requests(base, key, site)
    reused = {"X-API-Key": key, "Idempotency-Key": "audit-1"}
    requests.append(("reused idempotency key", "POST", f"{base}/v1/events",
                     {"json": {**GOOD, "item_id": "22423"}, "headers": reused}))
    by_label: dict[str, Counter[int]] = {}
    for label, method, url, kwargs in requests:
        status = client.request(method, url, **kwargs).status_code
        statuses[status] += 1
        by_label.setdefault(label, Counter())[status] += 1
    figures["bad_requests"] = len(requests)
    figures["bad_input_5xx"] = sum(n for s, n in statuses.items() if s >= 500)
    figures["bad_input_2xx"] = [label for label, c in by_label.items() if any(200 <= s < 300 for s in c)]
    figures["bad_input_stored"] = store.count_events() - before_bad
    figures["statuses"] = dict(sorted(statuses.items()))

    # Events from 8 threads at once, each batch twice (a retry): stored must equal acknowledged.
    acknowledged: list[int] = []
    failed: list[int] = []

    def post(worker: int) -> None:
        with httpx.Client(timeout=60) as c:
            for n in range(60):
                batch = [{**GOOD, "event_id": f"w{worker}-{n}-{k}", "item_id": "22423"} for k in range(5)]
                for _ in range(2):
                    answer = c.post(f"{base}/v1/events", json=batch, headers={"X-API-Key": key})
                    if answer.status_code == 200:
                        acknowledged.append(answer.json()["stored"])
                    else:
                        failed.append(answer.status_code)

    start = store.count_events()
    threads = [threading.Thread(target=post, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    figures["events_acknowledged"] = sum(acknowledged)
    figures["events_stored"] = store.count_events() - start
    figures["event_requests_failed"] = len(failed)

    # Swap the promoted version back and forth while 4 threads read.
    registry = ModelRegistry(env["RECO_MODEL_DIR"])
    stop = time.monotonic() + swap_seconds
    results: Counter[int] = Counter()
    versions: Counter[str] = Counter()

    def read() -> None:
        with httpx.Client(timeout=60) as c:
            n = 0
            while time.monotonic() < stop:
                answer = c.get(f"{base}/v1/customers/{12347 + n % 50}/recommendations", headers={"X-API-Key": site})
                results[answer.status_code] += 1
                if answer.status_code == 200:
                    versions[answer.json()["model_version"]] += 1
                n += 1

    readers = [threading.Thread(target=read) for _ in range(4)]
    for t in readers:
        t.start()
    swaps = 0
    while time.monotonic() < stop:
        registry.promote(second if swaps % 2 == 0 else first)
        swaps += 1
        time.sleep(1.0)
    for t in readers:
        t.join()
    figures["swaps"] = swaps
    figures["swap_requests"] = sum(results.values())
    figures["swap_failed"] = sum(n for s, n in results.items() if s != 200)
    figures["swap_versions_served"] = len(versions)
    figures["events_total_after"] = store.count_events()
    figures["events_added"] = store.count_events() - before
    store.dispose()
    return figures


if __name__ == "__main__":
    main()
