"""The dashboard's pages and forms (``/dashboard``), for marketer and admin keys.

Pages are rendered on the server from Jinja2 templates; the one script (``static/dashboard.js``) only
moves a training run's progress bar, and every page works without it. Actions are plain forms that POST
with the session's CSRF token and answer with a redirect (so a reload never sends them twice); they call
what the API's routes call: the run queue, the registry's promote and rollback.
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from reco.config import get_settings
from reco.exceptions import ModelNotFoundError, PromotionError
from reco.registry.artifacts import VERSION_PATTERN
from reco.store.runs import FINISHED
from serving.api.deps import IdPath
from serving.dashboard import auth, views
from serving.dashboard.auth import SignedIn, SignedInDep
from serving.writes import run_write

HERE = Path(__file__).parent
router = APIRouter(prefix="/dashboard", include_in_schema=False)
static = StaticFiles(directory=HERE / "static")
templates = Jinja2Templates(directory=HERE / "templates")

# The page may load its own script, style and images (charts are data: images) and nothing else; no site
# may frame it (its buttons promote models); nothing is cached (it shows customers).
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
NAV = (("overview", "Overview", ""), ("models", "Models", "/models"), ("training", "Training", "/training"),
       ("customers", "Customers", "/customers"), ("offers", "Offers", "/offers"))


def _number(value: Any, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.{digits}f}"


def _percent(value: Any, digits: int = 1) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def _when(value: Any) -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    return f"{value:%Y-%m-%d %H:%M}"


templates.env.filters.update(number=_number, percent=_percent, when=_when, day=lambda value: _when(value)[:10],
                             pathpart=lambda value: quote(str(value), safe=""))  # an id as one path segment


def render(request: Request, template: str, context: dict[str, Any], who: SignedIn | None = None,
           status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    page = {"request": request, "who": who, "nav": NAV, "csrf": who.csrf if who else "", **context}
    return templates.TemplateResponse(request, template, page, status_code=status,
                                      headers={**HEADERS, **(headers or {})})


def is_page(request: Request) -> bool:
    """Whether an error on this request is answered as a dashboard page (not the JSON of the API)."""
    path = request.url.path
    return (path == "/dashboard" or path.startswith("/dashboard/")) and not path.endswith("/progress")


def error_page(request: Request, status: int, detail: Any, headers: dict[str, str] | None = None) -> Response:
    """401: the sign-in form (then back to the page asked for); anything else: the reason and a way back."""
    headers = {k: v for k, v in (headers or {}).items() if k.lower() != "www-authenticate"}
    if status == 401:
        back = request.url.path if request.method == "GET" else "/dashboard"
        return render(request, "login.html", {"message": str(detail), "next": back}, status=401, headers=headers)
    return render(request, "error.html", {"status": status, "detail": str(detail)}, status=status,
                  headers=headers)


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a dashboard page of this site only (never another host)."""
    if target and (target == "/dashboard" or target.startswith("/dashboard/")) and "//" not in target \
            and "\\" not in target:
        return target
    return "/dashboard"


# ---------------------------------------------------------------------------------------------- sign-in
@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> Response:
    return render(request, "login.html", {"message": None, "next": _safe_next(next)})


@router.post("/login")
async def login(request: Request, api_key: Annotated[str, Form(max_length=256)],
                next: Annotated[str, Form(max_length=512)] = "/dashboard") -> Response:
    """Open a session for a marketer or admin key: 401 for a key the store does not know, 403 for a site key."""
    auth.same_origin(request)
    hours = get_settings().dashboard_session_hours
    state = request.app.state.serving
    key = api_key.strip()
    role = await run_in_threadpool(state.role_for_key, key) if key else None  # the API's key lookup
    if role is not None and role not in auth.ROLES:
        raise auth.refuse_role(role)
    opened = await run_write(request, lambda: state.store.sessions.open(key, hours)) if role else None
    if opened is None:
        return render(request, "login.html", {"message": "unknown API key", "next": _safe_next(next)}, status=401)
    token, _ = opened
    response = _redirect(_safe_next(next))
    auth.set_cookie(response, request, token, max_age=int(hours * 3600))
    return response


@router.post("/logout")
async def logout(request: Request, who: SignedInDep, csrf: Annotated[str, Form()] = "") -> Response:
    auth.check_csrf(request, who, csrf)
    token = request.cookies.get(auth.COOKIE, "")
    await run_write(request, lambda: request.app.state.serving.store.sessions.close(token))
    response = _redirect("/dashboard/login")
    auth.clear_cookie(response, request)
    return response


# ---------------------------------------------------------------------------------------------- overview
@router.get("", response_class=HTMLResponse)
async def overview(request: Request, who: SignedInDep) -> Response:
    page = await run_in_threadpool(views.overview, request.app.state.serving)
    return render(request, "overview.html", {"active": "overview", **page}, who)


# ---------------------------------------------------------------------------------------------- models
MESSAGES = {"promote": "Version {version} is promoted: the API serves it within seconds.",
            "rollback": "Rolled back: version {version} is promoted again."}


def _message(done: str | None, version: str | None) -> str | None:
    if done not in MESSAGES or (version is not None and len(version) > 64):
        return None
    return MESSAGES[done].format(version=version or "")


@router.get("/models", response_class=HTMLResponse)
async def models(request: Request, who: SignedInDep, done: str | None = None,
                 version: Annotated[str | None, Query(pattern=VERSION_PATTERN)] = None) -> Response:
    page = await run_in_threadpool(views.models, request.app.state.serving)
    return render(request, "models.html", {"active": "models", "message": _message(done, version), **page}, who)


@router.post("/models/rollback")
async def rollback(request: Request, who: SignedInDep, csrf: Annotated[str, Form()] = "",
                   reason: Annotated[str, Form(max_length=500)] = "") -> Response:
    auth.check_csrf(request, who, csrf)
    registry = request.app.state.serving.registry
    try:
        entry = await run_in_threadpool(registry.rollback, by=who.by,
                                        reason=reason.strip() or "rolled back from the dashboard")
    except PromotionError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    return _redirect(f"/dashboard/models?done=rollback&version={quote(entry['version'])}")


@router.post("/models/{version}/promote")
async def promote(request: Request, who: SignedInDep, version: str, csrf: Annotated[str, Form()] = "",
                  reason: Annotated[str, Form(max_length=500)] = "") -> Response:
    auth.check_csrf(request, who, csrf)
    registry = request.app.state.serving.registry
    try:
        entry = await run_in_threadpool(registry.promote, version, by=who.by,
                                        reason=reason.strip() or "promoted from the dashboard")
    except ModelNotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    return _redirect(f"/dashboard/models?done=promote&version={quote(entry['version'])}")


# ---------------------------------------------------------------------------------------------- training
@router.get("/training", response_class=HTMLResponse)
async def training(request: Request, who: SignedInDep) -> Response:
    page = await run_in_threadpool(views.training, request.app.state.serving, get_settings().retrain_schedule)
    return render(request, "training.html", {"active": "training", **page}, who)


@router.post("/training/runs")
async def start_run(request: Request, who: SignedInDep, csrf: Annotated[str, Form()] = "",
                    kind: Annotated[str, Form()] = "all", promote: Annotated[str, Form()] = "auto") -> Response:
    auth.check_csrf(request, who, csrf)
    store = request.app.state.serving.store  # enqueue checks kind and promote: a bad one is a 422 page
    run = await run_write(request, lambda: store.runs.enqueue(kind, promote, source="dashboard"))
    return _redirect(f"/dashboard/training/runs/{run['run_id']}")


def _run(request: Request, run_id: str) -> dict[str, Any]:
    run = request.app.state.serving.store.runs.get(run_id)
    if run is None:
        raise HTTPException(status_code=404, detail=f"no training run {run_id!r}")
    return run


@router.get("/training/runs/{run_id}", response_class=HTMLResponse)
async def run_page(request: Request, who: SignedInDep, run_id: IdPath) -> Response:
    run = await run_in_threadpool(_run, request, run_id)
    return render(request, "run.html", {"active": "training", "run": run, "finished": run["state"] in FINISHED,
                                        "live": views.run_json(run)}, who)


@router.get("/training/runs/{run_id}/progress")
async def run_progress(request: Request, who: SignedInDep, run_id: IdPath) -> JSONResponse:
    """What the progress bar polls (JSON; 401 without a session like any page)."""
    run = await run_in_threadpool(_run, request, run_id)
    return JSONResponse(views.run_json(run), headers={"Cache-Control": "no-store"})


@router.post("/training/runs/{run_id}/cancel")
async def cancel_run(request: Request, who: SignedInDep, run_id: IdPath,
                     csrf: Annotated[str, Form()] = "") -> Response:
    auth.check_csrf(request, who, csrf)
    run = await run_in_threadpool(_run, request, run_id)
    if run["state"] in FINISHED:
        raise HTTPException(status_code=409, detail=f"training run {run_id!r} already ended ({run['state']})")
    store = request.app.state.serving.store
    await run_write(request, lambda: store.runs.cancel(run_id))
    return _redirect(f"/dashboard/training/runs/{run_id}")


# ---------------------------------------------------------------------------------------------- customers
@router.get("/customers", response_class=HTMLResponse)
async def customers(request: Request, who: SignedInDep,
                    customer_id: Annotated[str | None, Query(max_length=128)] = None,
                    segment: Annotated[str | None, Query(max_length=64)] = None,
                    tier: Annotated[str | None, Query(max_length=64)] = None,
                    order: Annotated[Literal["value", "churn"], Query()] = "value") -> Response:
    if customer_id is not None and customer_id.strip():
        return _redirect(f"/dashboard/customers/{quote(customer_id.strip(), safe='')}")
    page = await run_in_threadpool(views.customers, request.app.state.serving, segment, tier, order)
    return render(request, "customers.html", {"active": "customers", **page}, who)


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
async def customer(request: Request, who: SignedInDep, customer_id: IdPath) -> Response:
    page = await run_in_threadpool(views.customer, request.app.state.serving, request.app.state.offers, customer_id)
    if page is None:
        raise HTTPException(status_code=404, detail=f"no customer {customer_id!r}: no events and no record")
    return render(request, "customer.html", {"active": "customers", **page}, who)


# ---------------------------------------------------------------------------------------------- offers
@router.get("/offers", response_class=HTMLResponse)
async def offers(request: Request, who: SignedInDep) -> Response:
    page = await run_in_threadpool(views.offers_page, request.app.state.serving, request.app.state.offers)
    return render(request, "offers.html", {"active": "offers", **page}, who)
