"""Live events from a site, an app or a store: one history across channels."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Body, HTTPException
from pydantic import Field

from reco.exceptions import InputError
from reco.ingest import record_events
from serving.api.deps import EVENTS, KEYED_RESPONSES, StoreDep
from serving.schemas import EventIn, EventsOut

router = APIRouter(prefix="/v1", tags=["events"], responses=KEYED_RESPONSES)

MAX_BATCH = 1000


@router.post("/events", response_model=EventsOut, dependencies=[EVENTS])
def post_events(
    events: Annotated[EventIn | Annotated[list[EventIn], Field(min_length=1, max_length=MAX_BATCH)], Body()],
    store: StoreDep,
) -> EventsOut:
    """Store one event or a batch (1 to 1000), idempotently: a purchase counts for the customer's next
    recommendations at once (their history is read fresh, their profile solved again from it)."""
    batch = events if isinstance(events, list) else [events]
    now = datetime.now(UTC)
    rows = [e.model_dump() for e in batch]
    for row in rows:
        row["timestamp"] = row["timestamp"] or now  # aware ones are turned into naive UTC by the checks
    try:
        report = record_events(store, rows, source="POST /v1/events")
    except InputError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    return EventsOut(received=len(batch), stored=report.inserted, duplicates=report.duplicates,
                     dropped=report.dropped)
