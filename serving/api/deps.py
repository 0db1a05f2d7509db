"""Annotated dependencies shared by the routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from reco.config import Settings, get_settings
from reco.service import RecommendationService
from reco.store import EventStore
from serving.state import ServingState


def get_state(request: Request) -> ServingState:
    return request.app.state.serving


def get_service(state: Annotated[ServingState, Depends(get_state)]) -> RecommendationService:
    service = state.service
    if service is None:
        raise HTTPException(status_code=503, detail="no model is loaded yet; run 'reco train' and retry")
    return service


def get_store(state: Annotated[ServingState, Depends(get_state)]) -> EventStore:
    return state.store


SettingsDep = Annotated[Settings, Depends(get_settings)]
StateDep = Annotated[ServingState, Depends(get_state)]
ServiceDep = Annotated[RecommendationService, Depends(get_service)]
StoreDep = Annotated[EventStore, Depends(get_store)]
