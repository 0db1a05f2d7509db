"""Signing in to the dashboard and guarding its actions.

A marketer or admin signs in with an API key (the same keys and roles as the API); the server answers
with a session token in an HttpOnly, SameSite=Strict cookie scoped to ``/dashboard`` (Secure over HTTPS),
so page scripts never see it and other sites' pages never send it. Sessions live in the store
(``reco.store.sessions``): every API process accepts them, they survive a restart, and revoking the key
ends them. Every form that changes something carries the session's CSRF token, and a POST whose Origin
names another site is refused. No key, token or customer id is logged.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request, Response
from starlette.concurrency import run_in_threadpool

from reco.store.sessions import Session
from serving.state import ServingState

COOKIE = "reco_session"
PATH = "/dashboard"
ROLES = frozenset({"marketer", "admin"})  # who may open the dashboard


@dataclass(frozen=True)
class SignedIn:
    """The request's session: the key's role and the CSRF token its forms carry."""

    role: str
    csrf: str

    @property
    def by(self) -> str:
        """How the registry's history names who acted."""
        return f"dashboard ({self.role} key)"


def refuse_role(role: str) -> HTTPException:
    return HTTPException(status_code=403, detail=f"a {role} key cannot open the dashboard; it needs one of: "
                                                 f"{', '.join(sorted(ROLES))}")


def same_origin(request: Request) -> None:
    """403 for a POST whose Origin header (browsers send it on every POST) names another host. The host
    alone is compared: behind a proxy that ends TLS the server may see http while the browser says https."""
    origin = request.headers.get("origin")
    if origin is None:
        return
    if urlsplit(origin).netloc.lower() != request.headers.get("host", "").lower():
        raise HTTPException(status_code=403, detail="this form was sent from another site; open the dashboard "
                                                    "and send it again")


def _session(request: Request) -> Session | None:
    token = request.cookies.get(COOKIE)
    if not token or len(token) > 128:
        return None
    state: ServingState = request.app.state.serving
    return state.store.sessions.get(token)


async def signed_in(request: Request) -> SignedIn:
    """The session of the request's cookie: 401 without a live one, 403 for a role that may not open the
    dashboard (a key whose role changed)."""
    session = await run_in_threadpool(_session, request)
    if session is None:
        raise HTTPException(status_code=401, detail="sign in with a marketer or admin API key")
    if session.role not in ROLES:
        raise refuse_role(session.role)
    return SignedIn(role=session.role, csrf=session.csrf)


SignedInDep = Annotated[SignedIn, Depends(signed_in)]


def check_csrf(request: Request, who: SignedIn, token: str | None) -> None:
    """403 unless ``token`` (the form's hidden field) is the session's and the POST comes from this site."""
    same_origin(request)
    if not token or not hmac.compare_digest(token.encode(), who.csrf.encode()):
        raise HTTPException(status_code=403, detail="the form's security token is missing or out of date; reload "
                                                    "the page and send it again")


def set_cookie(response: Response, request: Request, token: str, max_age: int) -> None:
    response.set_cookie(COOKIE, token, max_age=max_age, path=PATH, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")


def clear_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="strict", secure=request.url.scheme == "https")
