"""Personal recommendations and similar items."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from reco.exceptions import ConfigurationError, ModelNotFoundError, UnknownItemError
from reco.service import Recommendations, RecommendationService, RecommendedItem
from serving import metrics
from serving.api.deps import KEYED_RESPONSES, IdPath, Reading, ReadingDep, parse_query, query_parameters
from serving.schemas import (
    MAX_N,
    ErrorOut,
    RecommendationQuery,
    RecommendationsOut,
    RecommendedItemOut,
    SimilarItemsOut,
    json_response,
)

router = APIRouter(prefix="/v1", tags=["recommendations"], responses=KEYED_RESPONSES)

def _out(items: list[RecommendedItem]) -> list[RecommendedItemOut]:
    return [RecommendedItemOut(item_id=i.item_id, name=i.name, score=i.score, reason=i.reason) for i in items]


def _check_n(n: int, max_n: int) -> None:
    if n > max_n:
        raise HTTPException(status_code=422, detail=f"n={n} is above the maximum of {max_n}")


@router.get(
    "/customers/{customer_id}/recommendations",
    response_model=RecommendationsOut,
    responses={503: {"model": ErrorOut}},
    openapi_extra={"parameters": query_parameters(RecommendationQuery)},
)
async def customer_recommendations(customer_id: IdPath, reading: ReadingDep, request: Request) -> Response:
    """Top-n items for a customer (in mode new never one they bought); popular items for unknown customers.

    ``async``: an answer this process holds and knows to be current is served on the event loop (no
    store read, no thread hop) where checking that costs no network round trip (SQLite); anything else
    runs in a worker thread, which answers from memory too when it can (PostgreSQL)."""
    query = parse_query(RecommendationQuery, request.query_params)
    n, mode = query.n, query.mode
    service, state = reading.service, reading.state
    _check_n(n, reading.settings.max_n)
    try:
        filters = query.filters()
    except ConfigurationError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    if query.context == "basket":
        try:
            result = await run_in_threadpool(state.basket_recommendations, customer_id, query.items or [], n, filters)
        except ModelNotFoundError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from exc
        return Response(recommendations_body(customer_id, result), media_type="application/json")
    result = state.cached_recommendations(customer_id, n, mode, filters) if state.answers_on_loop else None
    if result is None:
        result = await run_in_threadpool(state.recommendations, customer_id, n, mode, filters)
    if service.cache is not None and result.personalised:
        metrics.CACHE.labels(result="hit" if result.cached else "miss").inc()
    return Response(recommendations_body(customer_id, result), media_type="application/json")


def recommendations_body(customer_id: str, result: Recommendations) -> bytes:
    """The route's JSON answer (also written by ``serving.fastpath`` for answers from memory)."""
    return RecommendationsOut(customer_id=customer_id, model_version=result.model_version, model=result.model,
                              personalised=result.personalised, items=_out(result.items)).model_dump_json().encode()


@router.get(
    "/items/{item_id}/similar",
    response_model=SimilarItemsOut,
    responses={404: {"model": ErrorOut}, 503: {"model": ErrorOut}},
)
def similar_items(
    item_id: IdPath,
    reading: ReadingDep,
    n: Annotated[int, Query(ge=1, le=MAX_N)] = 10,
) -> Response:
    """Items most like this one."""
    return _item_answer(item_id, reading, n, RecommendationService.similar)


@router.get(
    "/items/{item_id}/complements",
    response_model=SimilarItemsOut,
    responses={404: {"model": ErrorOut}, 503: {"model": ErrorOut}},
)
def item_complements(
    item_id: IdPath,
    reading: ReadingDep,
    n: Annotated[int, Query(ge=1, le=MAX_N)] = 10,
) -> Response:
    """Items that go well with this one: bought in the same basket more often than chance (at least three
    baskets; lift above 1), best first, without near-duplicates of the item itself; reason "often bought
    with X". 404 for an item the serving version does not know or a version trained before complements."""
    return _item_answer(item_id, reading, n, RecommendationService.complements)


def _item_answer(item_id: str, reading: Reading, n: int,
                 lookup: Callable[[RecommendationService, str, int], list[RecommendedItem]]) -> Response:
    """An item's list (similar items, complements): 404 for an item (or a part) the version lacks."""
    service = reading.service
    _check_n(n, reading.settings.max_n)
    try:
        items = lookup(service, item_id, n)
    except (UnknownItemError, ModelNotFoundError) as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    return json_response(SimilarItemsOut(item_id=item_id, model_version=service.version, items=_out(items)))
