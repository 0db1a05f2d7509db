"""Top-n for every customer who allows personalisation, as CSV or Parquet, written to a temp file
and renamed into place so a CRM never reads a half-written export."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pandas as pd

from reco.exceptions import ConfigurationError
from reco.service import RecommendationService
from reco.store import EventStore

logger = logging.getLogger(__name__)

EXPORT_COLUMNS = ("customer_id", "rank", "item_id", "item_name", "score", "reason", "model_version")
_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_BATCH = 5_000


def export_recommendations(
    store: EventStore, service: RecommendationService, out: str | Path, n: int = 10, mode: str = "new"
) -> dict[str, object]:
    """Write ``out``; opted-out customers are left out. Returns counts for the job's report."""
    out = Path(out)
    fmt = _FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise ConfigurationError(f"export file {str(out)!r} must end in one of {', '.join(_FORMATS)}")
    if n < 1:
        raise ConfigurationError(f"n must be a positive integer, got {n!r}")
    started = time.perf_counter()
    customers = store.customers()
    allowed = customers.loc[customers["consent_personalisation"].astype(bool), "customer_id"].tolist()
    history = store.read_events(("purchase",), columns=("customer_id", "item_id", "timestamp"))
    frames = []
    personal = 0
    for start in range(0, len(allowed), _BATCH):
        batch = allowed[start:start + _BATCH]
        results = service.recommend_many(batch, history[history["customer_id"].isin(batch)], n=n, mode=mode)
        rows = [(r.customer_id, rank, it.item_id, it.name, it.score, it.reason, r.model_version)
                for r in results for rank, it in enumerate(r.items, start=1)]
        personal += sum(r.personalised for r in results)
        frames.append(pd.DataFrame(rows, columns=list(EXPORT_COLUMNS)))
        logger.info("export: %s of %s customers", f"{min(start + _BATCH, len(allowed)):,}", f"{len(allowed):,}")
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(EXPORT_COLUMNS))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        if fmt == "csv":
            table.to_csv(tmp, index=False)
        else:
            table.to_parquet(tmp, index=False)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return {
        "out": str(out), "format": fmt, "rows": len(table), "customers": len(allowed),
        "personalised": personal, "opted_out": len(customers) - len(allowed), "mode": mode,
        "model_version": service.version, "seconds": round(time.perf_counter() - started, 3),
    }
