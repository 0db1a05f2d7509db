"""Requests with a body are authenticated before the body is read, and their size is capped.

FastAPI reads a request's whole body before it solves any dependency, the key check included: a 1 GB
body without a key was read in full before its 401 (server memory 556 -> 2,481 MB). This pure ASGI
middleware answers a body-carrying request without a valid key at once, with the key rule of the
routes (``serving.api.deps.authorise``: the role is still checked there), refuses a declared
Content-Length over ``RECO_MAX_BODY_BYTES`` with 413, and stops a body sent without a length (chunked)
as soon as it passes the limit.
"""

from __future__ import annotations

import json

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reco.config import get_settings
from reco.vocabulary import ROLES
from serving.api.deps import authorise

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


async def _refuse(send: Send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
           (b"connection", b"close"), *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items())]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class BodyLimits:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        state = getattr(scope["app"].state, "serving", None)
        headers = dict(scope["headers"])
        if state is not None and scope["path"].startswith("/v1/"):
            key = headers.get(b"x-api-key")
            try:
                authorise(state, key.decode("latin-1") if key else None, set(ROLES))
            except HTTPException as exc:
                await _refuse(send, exc.status_code, str(exc.detail), exc.headers)
                return
        limit = get_settings().max_body_bytes
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _refuse(send, 413, f"request body of {int(declared):,} bytes is over the limit of {limit:,} "
                                     "(RECO_MAX_BODY_BYTES); send fewer events a request")
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:  # FastAPI passes an HTTPException raised while reading the body through
                    raise HTTPException(status_code=413, detail=f"request body over the limit of {limit:,} bytes "
                                                                "(RECO_MAX_BODY_BYTES); send fewer events a request")
            return message

        await self.app(scope, counted, send)
