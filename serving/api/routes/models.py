"""Model versions (marketer and admin keys): the versions side by side with the quality gate's verdicts,
promotion, a one-step rollback and the registry's history. A promotion moves the registry's pointer;
every API process picks the new version up within RECO_RELOAD_SECONDS, and one that fails to load never
replaces the version serving (serving.state)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from reco.exceptions import ModelNotFoundError, PromotionError
from reco.registry import versions_overview
from reco.registry.artifacts import VERSION_PATTERN
from serving.api.deps import KEYED_RESPONSES, MARKETER, StateDep
from serving.schemas import ErrorOut, HistoryEntryOut, ModelHistoryOut, ModelsOut, PromotionIn

router = APIRouter(prefix="/v1/models", tags=["models"], responses=KEYED_RESPONSES)

VersionPath = Annotated[str, Path(pattern=VERSION_PATTERN,
                                  description="a model version, e.g. 20261122T183000Z-1a2b")]


def _by(role: str) -> str:
    return f"api ({role} key)"


@router.get("", response_model=ModelsOut)
def list_versions(state: StateDep, role: Annotated[str, MARKETER]) -> ModelsOut:
    """Every version, newest first: data range, what serves each mode, figures on its latest window, the
    gate's verdict; which one is promoted and which a rollback would return to."""
    return ModelsOut(**versions_overview(state.registry))


@router.get("/history", response_model=ModelHistoryOut)
def history(state: StateDep, role: Annotated[str, MARKETER],
            limit: Annotated[int, Query(ge=1, le=1000, description="entries at most, newest first")] = 100,
            ) -> ModelHistoryOut:
    """Who promoted, rolled back, refused (the gate) or pruned which version, when and why."""
    entries = state.registry.history.entries()[::-1][:limit]
    return ModelHistoryOut(entries=[HistoryEntryOut(**e) for e in entries])


@router.post("/{version}/promote", response_model=HistoryEntryOut, responses={404: {"model": ErrorOut}})
def promote(version: VersionPath, state: StateDep, role: Annotated[str, MARKETER],
            body: PromotionIn | None = None) -> HistoryEntryOut:
    """Make ``version`` the serving one (a candidate the gate refused too: the marketer decides)."""
    try:
        entry = state.registry.promote(version, by=_by(role), reason=(body.reason if body else "") or
                                       "promoted through the API")
    except ModelNotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    return HistoryEntryOut(**entry)


@router.post("/rollback", response_model=HistoryEntryOut, responses={409: {"model": ErrorOut}})
def rollback(state: StateDep, role: Annotated[str, MARKETER], body: PromotionIn | None = None) -> HistoryEntryOut:
    """Promote again the version promoted before the current one (409 when there is none)."""
    try:
        entry = state.registry.rollback(by=_by(role), reason=(body.reason if body else "") or
                                        "rolled back through the API")
    except PromotionError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    return HistoryEntryOut(**entry)
