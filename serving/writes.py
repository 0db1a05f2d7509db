"""API writes (events, consent, erasure) run in threads of their own, apart from the reads.

A write may wait for another writer (SQLite holds one write lock for a whole bulk ingest) for up to
RECO_WRITE_WAIT_SECONDS; in the shared thread pool two such waits held both threads, and reads timed
out behind them. Writes now take a token of their own limiter (RECO_WRITE_THREADS, made at start-up),
so reads never queue behind writes; a write that waited too long answers 503 with Retry-After
(reco.exceptions.StoreBusyError).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio.to_thread
from fastapi import Request

T = TypeVar("T")


async def run_write(request: Request, write: Callable[[], T]) -> T:
    """``write()`` in a worker thread of the writes' limiter."""
    return await anyio.to_thread.run_sync(write, limiter=request.app.state.writes)
