"""Live events from a site, an app or a store: one history across channels."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Body, Header, HTTPException, Request, Response
from pydantic import Field
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from reco.exceptions import InputError
from reco.ingest import IngestReport, record_events
from reco.store import EventStore
from reco.store.db import key_hash
from reco.store.idempotency import MAX_KEY_LENGTH, request_hash, scoped_key
from serving.api.deps import EVENTS, KEYED_RESPONSES, StoreDep
from serving.schemas import ErrorOut, EventIn, EventsOut
from serving.writes import run_write

router = APIRouter(prefix="/v1", tags=["events"], responses=KEYED_RESPONSES)

MAX_BATCH = 1000


@router.post("/events", response_model=EventsOut, dependencies=[EVENTS],
             responses={503: {"model": ErrorOut, "description": "another write (a bulk ingest) holds the store; "
                                                                "retry after Retry-After seconds"}})
async def post_events(
    events: Annotated[EventIn | Annotated[list[EventIn], Field(min_length=1, max_length=MAX_BATCH)], Body()],
    store: StoreDep,
    request: Request,
    response: Response,
    idempotency_key: Annotated[str | None, Header(
        min_length=1, max_length=MAX_KEY_LENGTH, description="send the same key with a retried request: it is "
        "answered as the first was and stores nothing twice (kept 24 h, per API key)")] = None,
) -> EventsOut:
    """Store one event or a batch (1 to 1000): a purchase counts for the customer's next recommendations at
    once. What is deduplicated: an event with an ``event_id`` already stored; without one, an event with
    the same content (customer, item, timestamp, type, quantity, price, order, channel). An event sent
    without a timestamp gets the time it arrives, so a retry of it is a new event unless the request
    carries an ``Idempotency-Key`` (or the event an ``event_id``)."""
    batch = events if isinstance(events, list) else [events]
    rows = [e.model_dump() for e in batch]
    scoped = fingerprint = None
    if idempotency_key is not None:
        scoped = scoped_key(key_hash(request.headers.get("x-api-key", "")), idempotency_key)
        fingerprint = request_hash(rows)
        key, body = scoped, fingerprint
        replay = await run_write(request, lambda: _replay(store, key, body))
        if replay is not None:
            response.headers["Idempotent-Replayed"] = "true"
            return replay
    now = datetime.now(UTC)
    for row in rows:
        row["timestamp"] = row["timestamp"] or now  # aware ones are turned into naive UTC by the checks

    def answer(report: IngestReport) -> EventsOut:
        return EventsOut(received=len(batch), stored=report.inserted, duplicates=report.duplicates,
                         dropped=report.dropped)

    def save(conn: Connection, report: IngestReport) -> None:  # in the events' transaction
        if scoped is not None and fingerprint is not None:
            store.idempotency.save(conn, scoped, fingerprint, answer(report).model_dump())

    def write() -> EventsOut:

        return answer(record_events(store, rows, source="POST /v1/events", also=save))

    try:
        return await run_write(request, write)
    except InputError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    except IntegrityError:  # a copy of this request saved its answer first: nothing of ours was stored
        if scoped is None or fingerprint is None:
            raise
        key, body = scoped, fingerprint
        replay = await run_write(request, lambda: _replay(store, key, body))
        if replay is None:
            raise
        response.headers["Idempotent-Replayed"] = "true"
        return replay


def _replay(store: EventStore, scoped: str, fingerprint: str) -> EventsOut | None:
    """The saved answer to this Idempotency-Key, None if there is none; 422 if the key came with another body."""
    saved = store.idempotency.lookup(scoped)
    if saved is None:
        return None
    if saved[0] != fingerprint:
        raise HTTPException(status_code=422, detail="Idempotency-Key was already used with a different request "
                                                    "body; use a new key for a new request")
    return EventsOut(**saved[1])
