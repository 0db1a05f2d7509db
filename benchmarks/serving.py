"""Serving under load: the real server (uvicorn on loopback) with a model trained on Online Retail.

Trains the default model on a copy of the Online Retail store (or, with --items N, on a synthetic log
with an N-item catalogue), starts `uvicorn serving.main:app`, and drives each scenario for a fixed
duration at a fixed concurrency: GET /health, GET recommendations, GET similar items, POST events.
Prints requests/s and p50/p95/p99 latency per scenario, the ratio of recommendation throughput to
/health throughput, and one final JSON line. Targets (issue 5, this 2-core machine): recommendation
p99 <= 25 ms at 32 connections and a ratio >= 0.6; with 100k items, p99 <= 50 ms.
Usage: python benchmarks/serving.py [--seconds 20] [--concurrency 32] [--workers 1] [--items 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.retail import load_store  # noqa: E402
from benchmarks.scale import synthetic_log  # noqa: E402
from reco.registry import ModelRegistry  # noqa: E402
from reco.store import EventStore  # noqa: E402
from training.train import train  # noqa: E402

TARGET = {"p99_ms": 25.0, "ratio": 0.6, "p99_ms_100k_items": 50.0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(tmp: Path, items: int | None) -> tuple[EventStore, list[str], list[str], dict[str, object]]:
    """A store and a promoted model in ``tmp``; returns the store, customer ids and item ids to query."""
    url = f"sqlite:///{tmp / 'reco.db'}"
    if items is None:
        source = load_store("online_retail", False)
        source.dispose()
        shutil.copy(ROOT / "var" / "bench" / "online_retail.db", tmp / "reco.db")
        store = EventStore(url)
    else:
        from reco.ingest import record_events

        store = EventStore(url)
        log = synthetic_log(purchases=items * 10, customers=items, items=items)
        for start in range(0, len(log), 200_000):
            record_events(store, log.iloc[start:start + 200_000], source="synthetic")
    started = time.perf_counter()
    trained = train(store, ModelRegistry(tmp / "models"))
    logging.info("trained %s in %.1fs", trained["version"], time.perf_counter() - started)
    events = store.read_events(("purchase",), columns=("customer_id", "item_id"))
    customers = events["customer_id"].drop_duplicates().sample(frac=1.0, random_state=0).tolist()
    item_ids = events["item_id"].drop_duplicates().sample(frac=1.0, random_state=0).tolist()
    return store, customers, item_ids, trained


async def drive(base: str, key: str, scenario: str, seconds: float, concurrency: int, customers: list[str],
                items: list[str]) -> dict[str, float]:
    """``concurrency`` clients sending requests back to back for ``seconds``; latency of each answer."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": key}, limits=limits, timeout=30) as client:

        async def one_client(worker: int) -> None:
            nonlocal errors
            rng = np.random.default_rng(worker)
            while time.perf_counter() < deadline:
                if scenario == "health":
                    request = client.get("/health")
                elif scenario == "recommendations":
                    customer = customers[int(rng.integers(len(customers)))]
                    request = client.get(f"/v1/customers/{customer}/recommendations", params={"n": 10})
                elif scenario == "similar":
                    request = client.get(f"/v1/items/{items[int(rng.integers(len(items)))]}/similar")
                else:
                    event = {"customer_id": customers[int(rng.integers(len(customers)))],
                             "item_id": items[int(rng.integers(len(items)))], "channel": "web"}
                    request = client.post("/v1/events", json=event)
                started = time.perf_counter()
                response = await request
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    errors += 1

        await asyncio.gather(*(one_client(w) for w in range(concurrency)))
    ms = np.array(latencies) * 1000
    return {"requests": len(ms), "errors": errors, "rps": round(len(ms) / seconds, 1),
            "p50_ms": round(float(np.percentile(ms, 50)), 2), "p95_ms": round(float(np.percentile(ms, 95)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0, help="duration of each scenario")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--items", type=int, help="serve a synthetic catalogue of this many items instead")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(dir=ROOT / "var") as name:
        tmp = Path(name)
        store, customers, items, trained = prepare(tmp, args.items)
        key = store.add_api_key("admin", "benchmark")
        store.dispose()
        port = free_port()
        env = {**os.environ, "RECO_DATABASE_URL": f"sqlite:///{tmp / 'reco.db'}", "RECO_MODEL_DIR": str(tmp / "models"),
               "RECO_LOG_LEVEL": "WARNING", "OPENBLAS_NUM_THREADS": "1"}
        server = subprocess.Popen([sys.executable, "-m", "uvicorn", "serving.main:app", "--host", "127.0.0.1",
                                   "--port", str(port), "--workers", str(args.workers), "--no-access-log",
                                   "--log-level", "warning"], cwd=ROOT, env=env)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                try:
                    if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            else:
                raise SystemExit("the server did not become ready in 120 s")
            results = {}
            for scenario in ("health", "recommendations", "similar", "events"):
                asyncio.run(drive(base, key, scenario, min(2.0, args.seconds), args.concurrency, customers, items))
                results[scenario] = asyncio.run(drive(base, key, scenario, args.seconds, args.concurrency,
                                                      customers, items))
                logging.info("%s: %s", scenario, results[scenario])
        finally:
            server.terminate()
            server.wait(timeout=30)
    ratio = results["recommendations"]["rps"] / max(results["health"]["rps"], 1e-9)
    catalogue = args.items or trained["items"]
    print(f"\nserving: {catalogue:,} items, {trained['customers']:,} customers, model {trained['model']}, "
          f"{args.concurrency} concurrent connections, {args.workers} worker(s), {args.seconds:g} s per scenario")
    print(f"{'scenario':<18}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for name, r in results.items():
        print(f"{name:<18}{r['rps']:>9}{r['p50_ms']:>9}{r['p95_ms']:>9}{r['p99_ms']:>9}{r['errors']:>8}")
    p99_target = TARGET["p99_ms_100k_items"] if args.items and args.items >= 100_000 else TARGET["p99_ms"]
    print(f"recommendations / health throughput: {ratio:.2f} (target >= {TARGET['ratio']}); "
          f"recommendation p99 target <= {p99_target} ms")
    print(json.dumps({"benchmark": "serving", "items": catalogue, "customers": trained["customers"],
                      "concurrency": args.concurrency, "workers": args.workers, "seconds": args.seconds,
                      "scenarios": results, "ratio_recommendations_to_health": round(ratio, 3),
                      "target": {"p99_ms": p99_target, "ratio": TARGET["ratio"]},
                      "meets_target": bool(results["recommendations"]["p99_ms"] <= p99_target
                                           and ratio >= TARGET["ratio"])}))


if __name__ == "__main__":
    main()
