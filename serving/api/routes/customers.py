"""Customer profiles: churn risk with reasons, lifetime value and segment, from `reco score customers`."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path

from serving.api.deps import ServiceDep, StateDep, StoreDep
from serving.schemas import ErrorOut, ProfileOut

router = APIRouter(prefix="/v1", tags=["customers"])

IdPath = Annotated[str, Path(min_length=1, max_length=128)]


def _number(value: object) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


@router.get(
    "/customers/{customer_id}/profile",
    response_model=ProfileOut,
    responses={403: {"model": ErrorOut}, 404: {"model": ErrorOut}, 503: {"model": ErrorOut}},
)
def customer_profile(customer_id: IdPath, state: StateDep, service: ServiceDep, store: StoreDep) -> ProfileOut:
    """Churn probability and reasons, expected purchases, CLV, value tier and segment of one customer."""
    if not store.personalisation_allowed(customer_id):
        raise HTTPException(status_code=403, detail=f"customer {customer_id!r} opted out of personalisation; "
                                                    "no profile is shown")
    profiles = state.profiles
    if profiles is None:
        raise HTTPException(status_code=503, detail=f"model version {service.version} has no customer scores; "
                                                    "run 'reco score customers'")
    if customer_id not in profiles.index:
        raise HTTPException(status_code=404, detail=f"no profile for customer {customer_id!r} in model version "
                                                    f"{service.version}")
    row = profiles.loc[customer_id]
    return ProfileOut(
        customer_id=customer_id, model_version=service.version,
        churn_probability=float(row["churn_probability"]), churn_reasons=[str(r) for r in row["churn_reasons"]],
        expected_purchases_90d=float(row["expected_purchases_90d"]), p_alive=float(row["p_alive"]),
        clv_12m=_number(row["clv_12m"]), value_tier=row["value_tier"], segment=str(row["segment"]),
    )
