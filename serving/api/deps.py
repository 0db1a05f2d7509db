"""Annotated dependencies shared by the routes."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from types import UnionType
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from fastapi import Depends, HTTPException, Path, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ValidationError
from starlette.datastructures import QueryParams

from reco.config import Settings, get_settings
from reco.service import RecommendationService
from reco.store import EventStore
from serving.schemas import PATH_ID, ErrorOut
from serving.state import ServingState


# The dependencies that only read memory are ``async def``: FastAPI runs a plain ``def`` dependency in
# the thread pool, and a hop there costs more than the work. Anything that blocks stays ``def``.
async def get_state(request: Request) -> ServingState:
    return request.app.state.serving


async def get_service(state: Annotated[ServingState, Depends(get_state)]) -> RecommendationService:
    service = state.service
    if service is None:
        raise HTTPException(status_code=503, detail="no model is loaded yet; run 'reco train' and retry")
    return service


async def get_store(state: Annotated[ServingState, Depends(get_state)]) -> EventStore:
    return state.store


StateDep = Annotated[ServingState, Depends(get_state)]
ServiceDep = Annotated[RecommendationService, Depends(get_service)]
StoreDep = Annotated[EventStore, Depends(get_store)]

_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="a key from `reco keys add --role ROLE`")


def authorise(state: ServingState, key: str | None, allowed: set[str]) -> str:
    """The key's role if it is one of ``allowed``; else 401 (no or unknown key) or 403 (wrong role).

    The keys are in memory (ServingState.role_for_key), so this runs on the event loop; only a key
    unknown there reads the store."""
    if not key:
        raise HTTPException(status_code=401, detail="missing API key: send it in the X-API-Key header",
                            headers={"WWW-Authenticate": "APIKey"})
    role = state.role_for_key(key)
    if role is None:
        raise HTTPException(status_code=401, detail="unknown API key", headers={"WWW-Authenticate": "APIKey"})
    if role not in allowed:
        raise HTTPException(status_code=403, detail=f"a {role} key cannot do this; it needs one of: "
                                                    f"{', '.join(sorted(allowed))}")
    return role


def require(*roles: str) -> Any:
    """A dependency that lets a request through only with an API key of one of ``roles`` (admin always)."""
    allowed = {*roles, "admin"}

    async def check(state: StateDep, key: Annotated[str | None, Security(_api_key)]) -> str:
        return authorise(state, key, allowed)

    return Depends(check)


@dataclass(frozen=True)
class Reading:
    """What the recommendation routes use, resolved by one dependency: FastAPI's cost grows with every
    dependency it solves (the key check, service, store and settings as four took 0.3 ms a request);
    the store is ``state.store``."""

    service: RecommendationService
    settings: Settings
    state: ServingState


READERS = frozenset({"site", "marketer", "admin"})  # the roles that may read recommendations


async def _reading(request: Request, key: Annotated[str | None, Security(_api_key)]) -> Reading:
    """The key checked (site, marketer or admin), then the loaded service (503 when none is)."""
    state = await get_state(request)
    authorise(state, key, READERS)
    return Reading(await get_service(state), get_settings(), state)


ReadingDep = Annotated[Reading, Depends(_reading)]


EVENTS = require("site")  # send events, record consent
MARKETER = require("marketer")  # customer profiles
ADMIN = require()  # erasure, data access

IdPath = Annotated[str, Path(min_length=1, max_length=128, pattern=PATH_ID)]
# What every keyed /v1 route can answer besides its own: no or unknown key, wrong role, bad input.
KEYED_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 422: {"model": ErrorOut},
}


def query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """OpenAPI parameter objects for a query-parameter model read by ``parse_query`` (a route then
    declares them with ``openapi_extra={"parameters": ...}``; its signature no longer lists them)."""
    schema = model.model_json_schema()
    required = set(schema.get("required", ()))
    out = []
    for name, prop in schema["properties"].items():
        parameter = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if "description" in prop:
            parameter["description"] = prop["description"]
        out.append(parameter)
    return out


M = TypeVar("M", bound=BaseModel)


@functools.cache
def _list_fields(model: type[BaseModel]) -> frozenset[str]:
    """The fields of ``model`` that take a list (a query parameter given several times)."""
    out = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        options = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else (annotation,)
        if any(get_origin(option) in (list, tuple, set) for option in options):
            out.add(name)
    return frozenset(out)


def parse_query(model: type[M], params: QueryParams) -> M:
    """``model`` from the query string in one validation, answering a bad value as FastAPI does (a 422 via
    the app's RequestValidationError handler). FastAPI's own per-parameter parsing re-inspects each
    parameter's type on every request: 0.1 ms of a 0.45 ms answer for the recommendation route's six."""
    lists = _list_fields(model)
    values = {name: params.getlist(name) if name in lists else params[name]
              for name in model.model_fields if name in params}
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("query", *e["loc"])} for e in exc.errors()]) from exc
