"""The offer catalogue: list, read, create or replace, and delete offers (marketer and admin keys)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import pandas as pd
from fastapi import APIRouter, Body, HTTPException, Query, Request, Response
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from reco.ingest import record_outcomes
from reco.offers import Offer
from reco.offers.catalogue import OfferBody
from reco.vocabulary import OFFER_CHANNELS
from serving.api.deps import KEYED_RESPONSES, MARKETER, IdPath, StoreDep, require
from serving.schemas import (
    CustomerOffersOut,
    ErrorOut,
    EventsOut,
    OfferDeletedOut,
    OfferOutcomeIn,
    OffersExplainedOut,
    OffersOut,
    OfferVerdictOut,
)
from serving.writes import run_write

router = APIRouter(prefix="/v1", tags=["offers"], responses=KEYED_RESPONSES)
OUTCOME_WRITERS = require("site", "marketer")  # a site reports opens and clicks, a CRM sends and deliveries
OFFER_READERS = require("site", "marketer")
MAX_OFFERS = 20


@router.get("/customers/{customer_id}/offers", response_model=CustomerOffersOut, dependencies=[OFFER_READERS])
async def customer_offers(
    customer_id: IdPath, request: Request,
    n: Annotated[int, Query(ge=1, le=MAX_OFFERS, description="offers at most")] = 3,
    channel: Annotated[Literal[OFFER_CHANNELS] | None,  # type: ignore[valid-type]
                       Query(description="only offers on this channel (default: each offer on the customer's best "
                             "channel)")] = None,
) -> Response:
    """The best offers for a customer now, by the same decisions as ``reco export offers``: eligibility
    rules, the contact policy (outbound channels need marketing consent; caps; suppression), each offer's
    remaining budget, expected value, the control group and the fallback offer. A customer who opted out
    of personalisation (or an unknown one) gets non-personal offers. ``async``: an answer kept in memory
    and known to be current is sent from the event loop (serving.offers); anything else is decided in a
    worker thread."""
    offers = request.app.state.offers
    body = offers.cached(customer_id, n, channel) if offers.answers_on_loop else None
    if body is None:
        body = await run_in_threadpool(offers.answer, customer_id, n, channel)
    offers.maybe_warm()
    return Response(body, media_type="application/json")


@router.get("/customers/{customer_id}/offers/explain", response_model=OffersExplainedOut, dependencies=[MARKETER])
def explain_customer_offers(
    customer_id: IdPath, request: Request,
    channel: Annotated[Literal[OFFER_CHANNELS] | None, Query(description="as the offers route")] = None,  # type: ignore[valid-type]
) -> OffersExplainedOut:
    """For the marketer (never shown to the customer): every offer of the catalogue for this customer now,
    the checks it passed and why the others are excluded (not valid, budget used up, consent, a rule, a
    cap, suppression, or worth nothing), with P(redeem) and expected value, by the offers route's steps."""
    table, version = request.app.state.offers.explain(customer_id, channel)
    offers = [OfferVerdictOut(offer_id=r.offer_id, name=r.name, allowed=bool(r.allowed), channel=r.channel,
                              p_redeem=None if pd.isna(r.p_redeem) else float(r.p_redeem),
                              expected_value=None if pd.isna(r.expected_value) else float(r.expected_value),
                              passed=list(r.passed), excluded=list(r.excluded)) for r in table.itertuples(index=False)]
    return OffersExplainedOut(customer_id=customer_id, model_version=version, offers=offers)


@router.get("/offers", response_model=OffersOut, dependencies=[MARKETER])
def list_offers(store: StoreDep) -> OffersOut:
    """Every offer of the catalogue, by id."""
    return OffersOut(offers=[o.to_record() for o in store.offers.all()])


@router.get("/offers/{offer_id}", response_model=dict[str, Any], responses={404: {"model": ErrorOut}},
            dependencies=[MARKETER])
def get_offer(offer_id: IdPath, store: StoreDep) -> dict[str, Any]:
    """One offer, as the catalogue spells it (scope and channels as text, rules as a list)."""
    offer = store.offers.get(offer_id)
    if offer is None:
        raise HTTPException(status_code=404, detail=f"no offer {offer_id!r}")
    return offer.to_record()


EXAMPLE = {"name": "5 off meat", "kind": "amount_off", "scope": "category:MEAT", "value": 5, "channels": "email|app",
           "valid_from": "2017-01-01", "valid_until": "2030-01-01", "budget": 200, "max_per_customer": 1,
           "rules": [{"attribute": "bought_category", "op": "within_days", "value": "MEAT", "days": 90}]}


@router.put("/offers/{offer_id}", response_model=dict[str, Any], dependencies=[MARKETER])
async def put_offer(offer_id: IdPath, store: StoreDep, request: Request,
                    body: Annotated[OfferBody, Body(examples=[EXAMPLE])]) -> dict[str, Any]:
    """Create or replace an offer (the fields of a JSON catalogue; ``offer_id`` comes from the path). A bad
    definition (bad dates, a negative budget, an unknown channel, a rule on an unknown attribute, ...) is a
    422 naming the field and the value; nothing is stored."""
    if body.offer_id not in (None, offer_id):
        raise HTTPException(status_code=422, detail=f"body offer_id {body.offer_id!r} is not the path's {offer_id!r}")
    offer = Offer.model_validate({**body.model_dump(), "offer_id": offer_id})

    def write() -> Offer:
        with store.transaction() as conn:
            store.offers.upsert(conn, [offer])
        return offer

    return (await run_write(request, write)).to_record()


@router.delete("/offers/{offer_id}", response_model=OfferDeletedOut, responses={404: {"model": ErrorOut}},
               dependencies=[MARKETER])
async def delete_offer(offer_id: IdPath, store: StoreDep, request: Request) -> OfferDeletedOut:
    """Remove an offer from the catalogue."""

    def write() -> bool:
        with store.transaction() as conn:
            return store.offers.delete(conn, offer_id)

    if not await run_write(request, write):
        raise HTTPException(status_code=404, detail=f"no offer {offer_id!r}")
    return OfferDeletedOut(offer_id=offer_id, deleted=True)


@router.post("/offers/events", response_model=EventsOut, dependencies=[OUTCOME_WRITERS],
             responses={503: {"model": ErrorOut}})
async def post_offer_outcomes(
    outcomes: Annotated[OfferOutcomeIn | Annotated[list[OfferOutcomeIn], Field(min_length=1, max_length=1000)],
                        Body()],
    store: StoreDep, request: Request,
) -> EventsOut:
    """Record what came of offers (sent, delivered, opened, clicked, redeemed, declined), one or a batch of at
    most 1000, idempotently: an outcome with an ``outcome_id`` already stored, or the same content, is a
    duplicate. An erased customer's outcomes are dropped and counted."""
    batch = outcomes if isinstance(outcomes, list) else [outcomes]
    now = datetime.now(UTC)
    rows = [{**o.model_dump(), "timestamp": o.timestamp or now} for o in batch]
    report = await run_write(request, lambda: record_outcomes(store, rows, source="POST /v1/offers/events"))
    return EventsOut(received=len(batch), stored=report.inserted, duplicates=report.duplicates,
                     dropped=report.dropped)
