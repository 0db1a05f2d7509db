"""Training runs (marketer and admin keys): ask for a retraining, follow it, cancel it. The API only
queues a run; ``reco worker``, a process of its own, trains it (training.worker), so serving never waits
on a model fit."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request

from reco.store.runs import FINISHED
from serving.api.deps import KEYED_RESPONSES, MARKETER, IdPath, StoreDep
from serving.schemas import ErrorOut, TrainingRunIn, TrainingRunOut, TrainingRunsOut
from serving.writes import run_write

router = APIRouter(prefix="/v1/training", tags=["training"], responses=KEYED_RESPONSES)


@router.post("/runs", response_model=TrainingRunOut, status_code=202, dependencies=[MARKETER],
             responses={503: {"model": ErrorOut}})
async def start_run(body: TrainingRunIn, store: StoreDep, request: Request) -> TrainingRunOut:
    """Queue a training run and answer at once (202) with its id; a worker takes runs one at a time,
    oldest first. Follow it with ``GET /v1/training/runs/{run_id}``."""
    run = await run_write(request, lambda: store.runs.enqueue(body.kind, body.promote, source="api"))
    return TrainingRunOut(**run)


@router.get("/runs", response_model=TrainingRunsOut, dependencies=[MARKETER])
def list_runs(store: StoreDep,
              limit: Annotated[int, Query(ge=1, le=500, description="runs at most, newest first")] = 50,
              ) -> TrainingRunsOut:
    """The latest runs, newest first: state, stage, progress, times, result or error (logs: one run's)."""
    return TrainingRunsOut(runs=[TrainingRunOut(**r) for r in store.runs.runs(limit)])


@router.get("/runs/{run_id}", response_model=TrainingRunOut, responses={404: {"model": ErrorOut}},
            dependencies=[MARKETER])
def get_run(run_id: IdPath, store: StoreDep) -> TrainingRunOut:
    """One run with its progress (done / total and percent), result or error, and its last log lines."""
    run = store.runs.get(run_id)
    if run is None:
        raise HTTPException(status_code=404, detail=f"no training run {run_id!r}")
    return TrainingRunOut(**run)


@router.delete("/runs/{run_id}", response_model=TrainingRunOut,
               responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut}}, dependencies=[MARKETER])
async def cancel_run(run_id: IdPath, store: StoreDep, request: Request) -> TrainingRunOut:
    """Cancel a run: a queued one at once (state cancelled), a running one when its worker reaches the next
    step (``cancel_requested`` true until then). A finished run cannot be cancelled (409)."""
    before = store.runs.get(run_id)
    if before is None:
        raise HTTPException(status_code=404, detail=f"no training run {run_id!r}")
    if before["state"] in FINISHED:
        raise HTTPException(status_code=409, detail=f"training run {run_id!r} already ended ({before['state']})")
    run = await run_write(request, lambda: store.runs.cancel(run_id))
    return TrainingRunOut(**run)
