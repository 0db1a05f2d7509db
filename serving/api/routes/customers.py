"""Customers: profile (churn risk, value, segment), consent, erasure and a copy of everything stored."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
from fastapi import APIRouter, HTTPException, Request, Response

from reco.customers.churn import optional_float
from reco.erasure import erase_customer as erase
from reco.exceptions import ErasedCustomerError
from serving.api.deps import ADMIN, EVENTS, KEYED_RESPONSES, MARKETER, IdPath, ServiceDep, StateDep, StoreDep
from serving.schemas import ConsentIn, ConsentOut, CustomerDataOut, ErasureOut, ErrorOut, ProfileOut
from serving.writes import run_write

router = APIRouter(prefix="/v1", tags=["customers"], responses=KEYED_RESPONSES)


@router.get(
    "/customers/{customer_id}/profile",
    response_model=ProfileOut,
    responses={404: {"model": ErrorOut}, 503: {"model": ErrorOut}},
    dependencies=[MARKETER],
)
def customer_profile(customer_id: IdPath, state: StateDep, service: ServiceDep, store: StoreDep) -> ProfileOut:
    """Churn probability and reasons, expected purchases, CLV, value tier and segment of one customer."""
    if store.is_erased(customer_id):
        raise HTTPException(status_code=404, detail=f"customer {customer_id!r} was erased; nothing is kept about them")
    if not store.personalisation_allowed(customer_id):
        raise HTTPException(status_code=403, detail=f"customer {customer_id!r} opted out of personalisation; "
                                                    "no profile is shown")
    profiles, scored = state.profiles, state.profiles_version  # scored: while a new version has none, the last
    if profiles is None:
        raise HTTPException(status_code=503, detail=f"model version {service.version} has no customer scores; "
                                                    "run 'reco score customers'")
    if customer_id not in profiles.index:
        raise HTTPException(status_code=404, detail=f"no profile for customer {customer_id!r} in model version "
                                                    f"{scored}")
    row = profiles.loc[customer_id]
    return ProfileOut(
        customer_id=customer_id, model_version=scored or service.version,
        churn_probability=float(row["churn_probability"]), churn_reasons=[str(r) for r in row["churn_reasons"]],
        expected_purchases_90d=float(row["expected_purchases_90d"]), p_alive=float(row["p_alive"]),
        clv_12m=optional_float(row["clv_12m"]), value_tier=row["value_tier"], segment=str(row["segment"]),
    )


@router.put("/customers/{customer_id}/consent", response_model=ConsentOut, dependencies=[EVENTS],
            responses={410: {"model": ErrorOut}})
async def set_consent(customer_id: IdPath, consent: ConsentIn, store: StoreDep, request: Request) -> ConsentOut:
    """Record consent to personalisation and to marketing (a field left out keeps its value); opting out of
    personalisation takes effect at once. Answers the consent now on record; 410 for an erased customer,
    whose id is never stored again."""
    try:
        values = await run_write(request, lambda: store.set_consent(customer_id, consent.personalisation,
                                                                    consent.marketing))
    except ErasedCustomerError as exc:
        raise HTTPException(status_code=410, detail=str(exc)) from exc
    return ConsentOut(customer_id=customer_id, personalisation=bool(values["consent_personalisation"]),
                      marketing=bool(values["consent_marketing"]))


@router.delete("/customers/{customer_id}", response_model=ErasureOut, dependencies=[ADMIN],
               responses={202: {"model": ErasureOut, "description": "erased from the store; some model files are "
                                "still to be scrubbed (retried until done)"}})
async def erase_customer(customer_id: IdPath, state: StateDep, store: StoreDep, request: Request,
                         response: Response) -> ErasureOut:
    """Erase a customer: events, marketing rows, customer row and scores in every model version, and
    the in-memory profile. Later ingests, events and consent for the id are dropped or refused; from
    now on they get non-personal results. 200 when complete; 202 when the store's part is done (final)
    and some model files could not be scrubbed yet: they are retried until done (``pending_versions``)."""
    report = await run_write(request, lambda: erase(store, state.registry, customer_id))
    await run_write(request, lambda: state.forget(customer_id))
    if not report.complete:
        response.status_code = 202
    return ErasureOut(customer_id=customer_id, events_deleted=report.events, marketing_deleted=report.marketing,
                      customer_deleted=report.customer, offer_outcomes_deleted=report.offer_outcomes,
                      offer_decisions_deleted=report.offer_decisions,
                      score_tables_changed=report.score_tables_changed,
                      complete=report.complete, pending_versions=sorted(report.pending_versions))


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(frame.to_json(orient="records", date_format="iso")) if len(frame) else []


@router.get("/customers/{customer_id}/data", response_model=CustomerDataOut, dependencies=[ADMIN])
def customer_data(customer_id: IdPath, state: StateDep, store: StoreDep) -> CustomerDataOut:
    """Everything stored about a customer (their right of access), whatever their consent."""
    data = store.customer_data(customer_id)
    profiles = state.profiles
    profile = None
    if profiles is not None and customer_id in profiles.index and not store.is_erased(customer_id):
        profile = json.loads(profiles.loc[[customer_id]].reset_index().to_json(orient="records"))[0]
    return CustomerDataOut(customer_id=customer_id, customer=data["customer"], events=_records(data["events"]),
                           marketing=_records(data["marketing"]), offer_outcomes=_records(data["offer_outcomes"]),
                           offer_decisions=_records(data["offer_decisions"]),
                           profile=profile)
