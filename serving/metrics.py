"""Prometheus metrics and one structured (JSON) log line per request.

Latency histograms and counts per route template, method and status; the loaded model version as a
labelled gauge. With several workers each process counts its own requests unless
PROMETHEUS_MULTIPROC_DIR is set (prometheus_client's multiprocess mode), in which case /metrics
aggregates them all.
"""

from __future__ import annotations

import json
import logging
import os
import time

from fastapi import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("reco.access")

REQUESTS = Counter("reco_http_requests_total", "HTTP requests answered", ["route", "method", "status"])
LATENCY = Histogram("reco_http_request_duration_seconds", "Time to answer an HTTP request", ["route", "method"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0))
CACHE = Counter("reco_recommendation_cache_total", "Personal recommendation requests by top-list cache result",
                ["result"])
MODEL_VERSION = Gauge("reco_model_version_info", "1 for the model version this process serves", ["version"],
                      multiprocess_mode="liveall")


def set_model_version(version: str, previous: str | None) -> None:
    if previous is not None:
        MODEL_VERSION.remove(previous)
    MODEL_VERSION.labels(version=version).set(1)


def render() -> Response:
    """The metrics in Prometheus text format (all workers' in multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


class ObserveMiddleware:
    """Pure ASGI middleware: time each HTTP request, count it under its route template, log one JSON line.

    Pure ASGI rather than ``@app.middleware("http")``: Starlette's BaseHTTPMiddleware runs the app in a
    separate task with memory streams, which costs more than /health itself. Headers are never logged.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            seconds = time.perf_counter() - started
            template = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope["method"]
            REQUESTS.labels(route=template, method=method, status=str(status)).inc()
            LATENCY.labels(route=template, method=method).observe(seconds)
            if logger.isEnabledFor(logging.INFO):
                # the route template, never the raw path or query: those hold customer ids and keys
                logger.info(json.dumps({"event": "request", "method": method, "route": template, "status": status,
                                        "ms": round(1000 * seconds, 2)}))
