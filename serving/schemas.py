"""Response models of the API (every route declares one)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class RecommendedItemOut(BaseModel):
    item_id: str
    name: str | None = None
    score: float
    reason: str = Field(description="why this item: 'bought before', 'because you bought X', 'popular', ...")


class RecommendationsOut(BaseModel):
    customer_id: str
    model_version: str
    personalised: bool = Field(description="false for unknown customers and those who opted out")
    items: list[RecommendedItemOut]


class SimilarItemsOut(BaseModel):
    item_id: str
    model_version: str
    items: list[RecommendedItemOut]


class HealthOut(BaseModel):
    status: str


class ReadyOut(BaseModel):
    status: str
    model_version: str | None


class ErrorOut(BaseModel):
    detail: str
