"""Response models of the API (every route declares one), and the recommendation route's query."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from reco.ingest.rules import MAX_AMOUNT, MAX_EVENT_ID_LENGTH, MAX_ID_LENGTH, MAX_QUANTITY, check_timestamp
from reco.service import Filters
from reco.vocabulary import ID_PATTERN, OFFER_CHANNELS, OUTCOMES, RUN_KINDS, RUN_PROMOTE, RUN_STATES

# Ids are text without NUL characters (PostgreSQL cannot store them; no real id has one).
NO_NUL = r"^[^\x00]+$"
# An id in a path is also refused with leading or trailing whitespace (reco.vocabulary.ID_PATTERN): an erasure
# of " 17850" would otherwise erase nobody without a word.
PATH_ID = ID_PATTERN


def json_response(body: BaseModel) -> Response:
    """``body`` as JSON, for the hot routes: the model was validated when it was built, and FastAPI would
    validate it again against the route's response_model (0.26 ms of a 1.0 ms similar-items request)."""
    return Response(body.model_dump_json(), media_type="application/json")


MAX_N = 100


class RecommendationQuery(BaseModel):
    """The query parameters of GET /v1/customers/{id}/recommendations (read by ``deps.parse_query``)."""

    n: int = Field(10, ge=1, le=MAX_N, description="how many items")
    mode: Literal["new", "all"] = Field("new", description="new: never-bought items only; all: buying again "
                                                           "allowed")
    category: str | None = Field(None, max_length=255, description="only items of this category")
    min_price: float | None = Field(None, ge=0, allow_inf_nan=False)
    max_price: float | None = Field(None, ge=0, allow_inf_nan=False)
    exclude: list[str] | None = Field(None, max_length=500, description="item ids never to show")
    context: Literal["history", "basket"] = Field("history", description="history: from the customer's purchases; "
                                                  "basket: items that complete the basket in `items`")
    items: list[str] | None = Field(None, min_length=1, max_length=100, description="context=basket: the item ids "
                                    "in the basket (comma-separated)")

    @field_validator("items", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        """``items=A,B`` as well as ``items=A&items=B``."""
        if isinstance(value, list):
            return [part.strip() for v in value for part in str(v).split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _basket(self) -> RecommendationQuery:
        if self.context == "basket" and not self.items:
            raise ValueError("context=basket needs items=A,B,... (the basket's item ids)")
        if self.context != "basket" and self.items:
            raise ValueError("items applies to context=basket only")
        return self

    def filters(self) -> Filters:
        """The item filters asked for (a ConfigurationError names a contradictory price range)."""
        return Filters(category=self.category, min_price=self.min_price, max_price=self.max_price,
                       exclude=tuple(self.exclude or ()))


class RecommendedItemOut(BaseModel):
    item_id: str
    name: str | None = None
    score: float
    reason: str = Field(description="why this item: 'bought before', 'because you bought X', 'popular', ...")


class RecommendationsOut(BaseModel):
    customer_id: str
    model_version: str
    personalised: bool = Field(description="false for unknown customers and those who opted out")
    model: str = Field(default="", description="the model that chose the list: the version's default, a baseline "
                       "its guard serves for this mode (it was better on the shop's validation window), or the "
                       "fallback of popular items")
    items: list[RecommendedItemOut]


class SimilarItemsOut(BaseModel):
    item_id: str
    model_version: str
    items: list[RecommendedItemOut]


class ProfileOut(BaseModel):
    customer_id: str
    model_version: str
    churn_probability: float = Field(description="probability of no purchase within the churn horizon (90 days)")
    churn_reasons: list[str] = Field(description="up to three plain-language reasons behind the churn risk")
    expected_purchases_90d: float
    p_alive: float = Field(description="BG/NBD probability that the customer is still active")
    clv_12m: float | None = Field(description="discounted value of the next 12 months (BG/NBD x Gamma-Gamma)")
    value_tier: str | None = Field(description="top (best 10% by CLV), high, medium or low")
    segment: str = Field(description="new, champions, loyal, promising, at risk, hibernating or lost")


class ConsentIn(BaseModel):
    personalisation: bool | None = Field(default=None, description="personal recommendations and profiling")
    marketing: bool | None = Field(default=None, description="marketing contact (CRM exports of offers)")


class ConsentOut(BaseModel):
    customer_id: str
    personalisation: bool
    marketing: bool


class ErasureOut(BaseModel):
    customer_id: str
    events_deleted: int
    marketing_deleted: int
    customer_deleted: bool
    offer_outcomes_deleted: int = 0
    offer_decisions_deleted: int = 0
    score_tables_changed: int = Field(description="model versions whose customer scores held this customer")
    complete: bool = Field(default=True, description="false: the store's part is done, some model files are "
                                                     "still to be scrubbed (retried until done)")
    pending_versions: list[str] = Field(default_factory=list, description="model versions still to be scrubbed")


class CustomerDataOut(BaseModel):
    customer_id: str
    customer: dict[str, Any] | None = Field(description="the customer row: consent and preferred channel")
    events: list[dict[str, Any]]
    marketing: list[dict[str, Any]]
    offer_outcomes: list[dict[str, Any]] = Field(default_factory=list, description="offers made and what came of them")
    offer_decisions: list[dict[str, Any]] = Field(default_factory=list, description="offers decided for them by "
                                                  "exports (treated or control)")
    profile: dict[str, Any] | None = Field(description="the serving version's scores of this customer")


class EventIn(BaseModel):
    """One event, checked by ingest's value rules (``reco.ingest.rules``): ids the store can hold, finite
    numbers of a sane size, a timestamp from 1970-01-02 to a day after now."""

    event_id: str | None = Field(default=None, min_length=1, max_length=MAX_EVENT_ID_LENGTH, pattern=NO_NUL,
                                 description="your id for the event; sending it again stores nothing new")
    customer_id: str = Field(min_length=1, max_length=MAX_ID_LENGTH, pattern=NO_NUL)
    item_id: str = Field(min_length=1, max_length=MAX_ID_LENGTH, pattern=NO_NUL)
    event_type: Literal["purchase", "return", "view", "add_to_cart"] = "purchase"
    timestamp: Annotated[datetime, AfterValidator(check_timestamp)] | None = Field(
        default=None, description="when it happened (default: now, UTC); from 1970-01-02 to a day after now")
    # strict: a JSON number, never true/false or text (true once read as a quantity of 1)
    quantity: float = Field(default=1.0, ge=-MAX_QUANTITY, le=MAX_QUANTITY, allow_inf_nan=False, strict=True,
                            description="negative for a purchase means a return")
    price: float | None = Field(default=None, ge=0, le=MAX_AMOUNT, allow_inf_nan=False, strict=True)
    order_id: str | None = Field(default=None, max_length=MAX_ID_LENGTH, pattern=r"^[^\x00]*$")
    channel: Literal["web", "app", "store", "email", "phone", "other"] = "web"


class EventsOut(BaseModel):
    received: int
    stored: int = Field(description="new events stored")
    duplicates: int = Field(description="events already stored (same event_id, or the same content)")
    dropped: dict[str, int] = Field(description="events not stored, by reason (e.g. erased_customer)")


class OfferOutcomeIn(BaseModel):
    """What came of an offer made to a customer (checked by ingest's rules, as events are)."""

    outcome_id: str | None = Field(default=None, min_length=1, max_length=MAX_EVENT_ID_LENGTH, pattern=NO_NUL,
                                   description="your id for it; sending it again stores nothing new")
    customer_id: str = Field(min_length=1, max_length=MAX_ID_LENGTH, pattern=NO_NUL)
    offer_id: str = Field(min_length=1, max_length=MAX_ID_LENGTH, pattern=NO_NUL)
    outcome: Literal[OUTCOMES]  # type: ignore[valid-type]
    channel: Literal[OFFER_CHANNELS] | None = None  # type: ignore[valid-type]
    timestamp: Annotated[datetime, AfterValidator(check_timestamp)] | None = Field(
        default=None, description="when it happened (default: now, UTC); from 1970-01-02 to a day after now")
    decision_id: str | None = Field(default=None, min_length=1, max_length=MAX_EVENT_ID_LENGTH, pattern=NO_NUL,
                                    description="the decision that made the offer")


class OffersOut(BaseModel):
    offers: list[dict[str, Any]] = Field(description="every offer, as the catalogue spells it")


class OfferDecisionOut(BaseModel):
    offer_id: str
    name: str
    kind: str
    value: float
    channel: str | None = Field(description="where to make it (the customer's preferred channel first)")
    rank: int
    p_redeem: float = Field(description="probability of redemption (the offer's observed rate when not personal)")
    expected_value: float
    reasons: list[str] = Field(description="why this offer, in plain words (empty when not personal)")
    valid_until: datetime
    decision_id: str = Field(description="send it back with the offer's outcomes (POST /v1/offers/events)")
    control: bool = Field(description="true: held out as control; decided, never to be shown or sent")
    fallback: bool = Field(description="true: nothing else qualified; the catalogue's fallback offer")


class CustomerOffersOut(BaseModel):
    customer_id: str
    model_version: str | None
    personalised: bool = Field(description="false: the customer opted out of personalisation (or is unknown to "
                               "the response model); offers are non-personal")
    offers: list[OfferDecisionOut]


class OfferVerdictOut(BaseModel):
    offer_id: str
    name: str
    allowed: bool
    channel: str | None
    p_redeem: float | None = Field(description="None: not scored (not valid now, budget used up, or not on the "
                                   "channel)")
    expected_value: float | None
    passed: list[str] = Field(description="the checks it passed")
    excluded: list[str] = Field(description="why it is not made now (empty: allowed)")


class OffersExplainedOut(BaseModel):
    customer_id: str
    model_version: str | None
    offers: list[OfferVerdictOut] = Field(description="every offer of the catalogue, best expected value first")


class TrainingRunIn(BaseModel):
    """What to train, and whether the result may be promoted."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal[RUN_KINDS] = Field(description="recommendations (a new model version), customers (scores), "  # type: ignore[valid-type]
                                     "offers (the offer-response model) or all three")
    promote: Literal[RUN_PROMOTE] = Field("auto", description="auto: promoted when it passes the checks; "  # type: ignore[valid-type]
                                          "never: kept as a candidate")


def _as_utc(value: datetime | None) -> datetime | None:
    """The store keeps naive UTC times; an answer says they are UTC (RFC 3339 wants the offset)."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


UtcTime = Annotated[datetime, AfterValidator(_as_utc)]


class TrainingRunOut(BaseModel):
    run_id: str
    kind: str
    promote: str
    source: str
    state: Literal[RUN_STATES]  # type: ignore[valid-type]
    stage: str | None
    done: int
    total: int
    percent: float | None
    created_at: UtcTime
    started_at: UtcTime | None
    finished_at: UtcTime | None
    worker: str | None
    cancel_requested: bool
    result: dict[str, Any] | None
    error: str | None
    log: list[str] | None = Field(None, description="the run's last log lines (one run's answer only)")


class TrainingRunsOut(BaseModel):
    runs: list[TrainingRunOut]


class ModelVersionOut(BaseModel):
    version: str
    created_at: str | None = None
    model: str | None = None
    promoted: bool = Field(description="the version serving and exports use")
    previous: bool = Field(description="the version a rollback would promote")
    serving: dict[str, str] = Field(description="the model serving each mode (all, new)")
    data: dict[str, Any] = Field(description="the history it was trained on: events, customers, items, range")
    metrics: dict[str, dict[str, float]] = Field(default_factory=dict, description="nDCG@10 per mode and model on "
                                                 "the version's own latest window (the guard's measurement)")
    window: dict[str, Any] = Field(default_factory=dict)
    gate: dict[str, Any] | None = Field(None, description="the quality gate's verdict against the version promoted "
                                        "when it was trained: passed, reasons, figures per mode")
    problem: str | None = None


class ModelsOut(BaseModel):
    promoted: str | None
    rollback_to: str | None = Field(description="what POST /v1/models/rollback would promote")
    versions: list[ModelVersionOut] = Field(description="newest first")


class PromotionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field("", max_length=500, description="why, kept in the registry's history")


class HistoryEntryOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    at: str
    action: str = Field(description="promote, rollback, refuse (the gate kept a candidate) or prune")
    version: str
    by: str
    reason: str
    previous: str | None = None


class ModelHistoryOut(BaseModel):
    entries: list[HistoryEntryOut] = Field(description="newest first")


class OfferDeletedOut(BaseModel):
    offer_id: str
    deleted: bool


class HealthOut(BaseModel):
    status: str


class ReadyOut(BaseModel):
    status: str
    model_version: str | None = Field(description="the version serving")
    promoted_version: str | None = Field(default=None, description="the version promoted (differs from "
                                                                   "model_version when it failed to load)")
    problem: str | None = Field(default=None, description="what is wrong, e.g. the promoted version failed to load")
    cache_warming: bool = Field(default=False, description="the loaded version is still filling its top-list "
                                                           "cache (it serves meanwhile, computing on request)")


class ErrorOut(BaseModel):
    detail: str
