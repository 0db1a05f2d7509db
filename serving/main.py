"""The FastAPI app: settings, store and promoted model are set up in the lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

import reco
from reco.config import get_settings
from reco.exceptions import ConfigurationError, InputError, RecoError, StoreBusyError
from reco.offers.engine import DecisionSettings
from reco.offers.policy import ContactPolicy
from reco.registry import ModelRegistry
from reco.store import EventStore
from serving import logs
from serving.api.main import api_router
from serving.dashboard import routes as dashboard
from serving.fastpath import RecommendationFastPath
from serving.limits import BodyLimits
from serving.metrics import ObserveMiddleware
from serving.offers import OfferServing, parse_warm
from serving.state import ServingState

logger = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()
    logs.configure(settings.log_level)
    anyio.to_thread.current_default_thread_limiter().total_tokens = settings.threads
    store = EventStore(settings.database_url, lock_wait=settings.write_wait_seconds)
    store.create_schema()
    app.state.writes = anyio.CapacityLimiter(settings.write_threads)  # writes apart from reads (serving.writes)
    state = ServingState(store, ModelRegistry(settings.model_dir), cache_size=settings.cache_size,
                         cache_seconds=settings.cache_seconds, warm=settings.cache_warm)
    state.load()
    app.state.serving = state
    offers = OfferServing(state, ContactPolicy.from_settings(settings),
                          DecisionSettings(control_share=settings.offer_control_share,
                                           margin_rate=settings.offer_margin_rate),
                          refresh_seconds=settings.offers_refresh_seconds, cache_size=settings.offers_cache_size,
                          cache_seconds=settings.offers_cache_seconds, warm=parse_warm(settings.offers_warm))
    offers.start()
    app.state.offers = offers
    try:
        yield
    finally:
        offers.close()
        state.close()
        store.dispose()


app = FastAPIOffline(  # /docs and /redoc load their scripts from this server, never a CDN
    title="reco",
    version=reco.__version__,
    description="Personal recommendations and similar items from purchase history.",
    lifespan=lifespan,
)


class RefreshMiddleware:
    """Pure ASGI middleware: pick up a newly promoted model version without a restart, and what other
    processes changed (API keys, erasures).

    The promoted pointer is looked at no more than every RECO_RELOAD_SECONDS; a new version loads in a
    background thread while the current one keeps serving (see ServingState.maybe_reload). Keys and
    erasures are read again every RECO_SYNC_SECONDS (ServingState.maybe_sync).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            state = getattr(scope["app"].state, "serving", None)
            if state is not None:
                settings = get_settings()
                state.maybe_sync(settings.sync_seconds)
                state.maybe_reload(settings.reload_seconds)
        await self.app(scope, receive, send)


app.include_router(api_router)
app.include_router(dashboard.router)
app.mount("/dashboard/static", dashboard.static, name="dashboard-static")
app.add_middleware(RecommendationFastPath)  # innermost: keys and versions are refreshed before it runs
app.add_middleware(BodyLimits)  # a body is read only with a valid key, and only up to RECO_MAX_BODY_BYTES
app.add_middleware(RefreshMiddleware)
app.add_middleware(ObserveMiddleware)  # added last, so outermost: it times and counts everything


@app.exception_handler(StarletteHTTPException)
async def http_error_handler(request: Request, exc: StarletteHTTPException) -> Response:
    """The API's errors as JSON; the dashboard's as a page (a 401 as its sign-in form)."""
    if dashboard.is_page(request):
        return dashboard.error_page(request, exc.status_code, exc.detail, exc.headers)
    return await http_exception_handler(request, exc)


@app.exception_handler(RequestValidationError)
def validation_error_handler(request: Request, exc: RequestValidationError) -> Response:
    """Every 4xx answers ``{"detail": "..."}``: a bad parameter too, named with the value it got."""
    problems = []
    for error in exc.errors():
        where = " ".join(str(p) for p in error.get("loc", ()))
        value = error.get("input")
        shown = "" if isinstance(value, dict | list) or value is None else f" (got {str(value)[:100]!r})"
        problems.append(f"{where}: {error.get('msg', 'invalid')}{shown}")
    detail = "; ".join(problems) or "invalid request"
    if dashboard.is_page(request):
        return dashboard.error_page(request, 422, detail)
    return JSONResponse(status_code=422, content={"detail": detail})


@app.exception_handler(RecoError)
def reco_error_handler(request: Request, exc: RecoError) -> Response:
    headers = None
    if isinstance(exc, StoreBusyError):  # another writer (a bulk ingest) holds the store: come back later
        status, headers = 503, {"Retry-After": str(max(1, round(exc.retry_after)))}
    else:
        status = 422 if isinstance(exc, InputError | ConfigurationError) else 500
    if status == 500:
        route = getattr(request.scope.get("route"), "path", "unmatched")  # the template: a raw path holds ids
        logger.exception("request %s %s failed", request.method, route, exc_info=exc)
    if dashboard.is_page(request):
        return dashboard.error_page(request, status, exc, headers)
    return JSONResponse(status_code=status, content={"detail": str(exc)}, headers=headers)
