"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from serving.api.deps import StateDep
from serving.schemas import HealthOut, ReadyOut

router = APIRouter(tags=["operations"])


@router.get("/health", response_model=HealthOut)
def health() -> HealthOut:
    """The process is up."""
    return HealthOut(status="ok")


@router.get("/ready", response_model=ReadyOut, responses={503: {"model": ReadyOut}})
def ready(state: StateDep) -> ReadyOut | JSONResponse:
    """A model is loaded and the store answers."""
    service = state.service
    if service is None or not state.store.ping():
        body = ReadyOut(status="not ready", model_version=service.version if service else None)
        return JSONResponse(status_code=503, content=body.model_dump())
    return ReadyOut(status="ready", model_version=service.version)
