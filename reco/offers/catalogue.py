"""The offer catalogue: what may be offered, to whom, on which channels, when, and within which budget.

An offer is data, never code: its eligibility rules are conditions over customer attributes (see
``reco.offers.rules``), checked when the offer is stored. One pydantic model (``Offer``) validates an
offer wherever it comes from (a CSV, JSON or YAML catalogue read by ``reco.ingest.offers``, or
``PUT /v1/offers/{id}``), so a bad
definition is refused the same way everywhere: the offer, the field and the value are named.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from reco.exceptions import InputError
from reco.offers.rules import Condition
from reco.vocabulary import ID_PATTERN, OFFER_CHANNELS, OFFER_KINDS

OUTBOUND_CHANNELS: frozenset[str] = frozenset({"email", "sms", "phone"})  # these always need marketing consent
FALLBACK_KIND = "product_recommendation"  # costs nothing: what a customer gets when nothing else qualifies

OfferId = Annotated[str, Field(min_length=1, max_length=128, pattern=ID_PATTERN)]


class Scope(BaseModel):
    """What the offer applies to: listed items, one category, or the whole basket."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["items", "category", "basket"]
    items: tuple[str, ...] = ()
    category: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> Scope:
        if self.kind == "items" and not self.items:
            raise ValueError("scope 'items' lists no item (write items:A|B|C)")
        if self.kind == "category" and not self.category:
            raise ValueError("scope 'category' names no category (write category:NAME)")
        if self.kind == "basket" and (self.items or self.category):
            raise ValueError("scope 'basket' takes no items or category")
        return self

    @classmethod
    def parse(cls, text: str) -> Scope:
        """``items:A|B|C``, ``category:NAME`` or ``basket``."""
        kind, sep, rest = str(text).strip().partition(":")
        kind = kind.strip().lower()
        if kind == "items" and sep:
            return cls(kind="items", items=tuple(i.strip() for i in rest.split("|") if i.strip()))
        if kind == "category" and sep:
            return cls(kind="category", category=rest.strip())
        if kind == "basket" and not rest.strip():
            return cls(kind="basket")
        raise ValueError(f"scope {text!r} is not items:A|B|C, category:NAME or basket")

    def __str__(self) -> str:
        if self.kind == "items":
            return "items:" + "|".join(self.items)
        return f"category:{self.category}" if self.kind == "category" else "basket"


ALIASES = {"budget": "budget_contacts"}


class Offer(BaseModel):
    """One offer of the catalogue. ``value``: percent (0-100] for percent_off, money for amount_off, a factor
    for points_multiplier, 0 for free_shipping and product_recommendation. ``budget_contacts`` and
    ``budget_cost`` cap the offer's contacts and its expected cost; ``max_per_customer`` caps contacts of one
    customer within the offer's validity; ``weight`` is a business lever on its expected value."""

    model_config = ConfigDict(extra="forbid")

    offer_id: OfferId
    name: str = Field(min_length=1, max_length=255)
    kind: Literal[OFFER_KINDS]  # type: ignore[valid-type]
    scope: Scope = Field(default_factory=lambda: Scope(kind="basket"))
    value: float = Field(default=0.0, ge=0, le=1e9, allow_inf_nan=False)
    cost_per_redemption: float = Field(default=0.0, ge=0, le=1e9, allow_inf_nan=False)
    cost_per_contact: float = Field(default=0.0, ge=0, le=1e9, allow_inf_nan=False)
    channels: tuple[Literal[OFFER_CHANNELS], ...] = Field(min_length=1)  # type: ignore[valid-type]
    valid_from: datetime
    valid_until: datetime
    budget_contacts: int | None = Field(default=None, ge=0)
    budget_cost: float | None = Field(default=None, ge=0, le=1e12, allow_inf_nan=False)
    max_per_customer: int = Field(default=1, ge=1, le=1000)
    weight: float = Field(default=1.0, gt=0, le=1000, allow_inf_nan=False)
    rules: tuple[Condition, ...] = ()
    offer_type: str | None = Field(default=None, max_length=64, description="a free label grouping offers (e.g. "
                                   "a campaign type); the response model learns per type")

    @field_validator("scope", mode="before")
    @classmethod
    def _scope_text(cls, value: object) -> object:
        return Scope.parse(value) if isinstance(value, str) else value

    @field_validator("channels", mode="before")
    @classmethod
    def _channel_text(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(c.strip().lower() for c in value.split("|") if c.strip())
        return value

    @field_validator("valid_from", "valid_until")
    @classmethod
    def _naive_utc(cls, value: datetime) -> datetime:
        from datetime import UTC

        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo is not None else value

    @model_validator(mode="after")
    def _consistent(self) -> Offer:
        if self.valid_until <= self.valid_from:
            raise ValueError(f"valid_until {self.valid_until:%Y-%m-%d %H:%M} is not after valid_from "
                             f"{self.valid_from:%Y-%m-%d %H:%M}")
        if self.kind == "percent_off" and not 0 < self.value <= 100:
            raise ValueError(f"a percent_off offer needs a value in (0, 100]; got {self.value:g}")
        if self.kind in ("amount_off", "points_multiplier") and self.value <= 0:
            raise ValueError(f"a {self.kind} offer needs a value above 0; got {self.value:g}")
        if len(set(self.channels)) != len(self.channels):
            raise ValueError(f"channels repeat one: {'|'.join(self.channels)}")
        return self

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: object) -> object:
        """The catalogue's short names (a CSV's ``budget`` is its maximum contacts)."""
        if isinstance(data, dict) and "budget" in data:
            data = {ALIASES.get(k, k): v for k, v in data.items()}
        return data

    def active_at(self, when: datetime) -> bool:
        return self.valid_from <= when < self.valid_until

    def to_record(self) -> dict[str, object]:
        """JSON-ready, in the catalogue's own spelling (scope and channels as text)."""
        out = self.model_dump(mode="json")
        out["scope"] = str(self.scope)
        out["channels"] = "|".join(self.channels)
        return out



def validate_offers(records: list[dict[str, Any]], source: str) -> list[Offer]:
    """Offers from raw records (all or nothing): an InputError names the first bad offer, its field and value."""
    offers: list[Offer] = []
    seen: dict[str, int] = {}
    for row, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise InputError(f"an offer must be a mapping of fields; got {type(record).__name__}", source=source,
                             row=row, value=record)
        data = {k: v for k, v in record.items() if v is not None and v != ""}  # empty: the default
        name = str(data.get("offer_id", f"#{row}"))
        if isinstance(data.get("rules"), str):
            try:
                data["rules"] = json.loads(data["rules"])
            except ValueError as exc:
                raise InputError(f"offer {name!r}: rules are not JSON: {exc}", source=source, row=row,
                                 column="rules", value=data["rules"]) from exc
        try:
            offer = Offer.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first.get("loc", ())) or "offer"
            message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
            raise InputError(f"offer {name!r}: {field}: {message}", source=source, row=row,
                             column=field.split(".")[0], value=first.get("input")) from exc
        if offer.offer_id in seen:
            raise InputError(f"offer {offer.offer_id!r} is defined twice (rows {seen[offer.offer_id]} and {row})",
                             source=source, row=row, column="offer_id")
        seen[offer.offer_id] = row
        offers.append(offer)
    return offers


class OfferBody(Offer):
    """An offer as ``PUT /v1/offers/{offer_id}`` takes it: the id comes from the path."""

    offer_id: OfferId | None = None  # type: ignore[assignment]
