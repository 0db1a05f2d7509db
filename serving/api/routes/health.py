"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from reco.exceptions import RecoError
from serving import metrics
from serving.api.deps import StateDep
from serving.schemas import HealthOut, ReadyOut

router = APIRouter(tags=["operations"])


@router.get("/health", response_model=HealthOut)
async def health() -> HealthOut:
    """The process is up (answered on the event loop, so a busy thread pool cannot hide a live process)."""
    return HealthOut(status="ok")


@router.get("/ready", response_model=ReadyOut, responses={503: {"model": ReadyOut}})
def ready(state: StateDep) -> ReadyOut | JSONResponse:
    """A model is loaded and the store answers. ``problem`` says when the promoted version failed to load
    (an older one serves, or none): ready, but not as promoted."""
    service = state.service
    try:
        promoted: str | None = state.registry.promoted()
    except RecoError:
        promoted = None
    if service is None or not state.store.ping():
        body = ReadyOut(status="not ready", model_version=service.version if service else None,
                        promoted_version=promoted, problem=state.problem)
        return JSONResponse(status_code=503, content=body.model_dump())
    return ReadyOut(status="ready" if state.problem is None else "degraded", model_version=service.version,
                    promoted_version=promoted, problem=state.problem, cache_warming=state.cache_warming)


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}})
def prometheus_metrics() -> Response:
    """Latency histograms and counts per route and status, and the loaded model version (Prometheus)."""
    return metrics.render()
