"""Top-n for the customers of an audience (by default those who may be contacted with personal
content: see reco.customers.consent), as CSV or Parquet, streamed batch by batch to a temp file and
renamed into place, so a CRM never reads a half-written export; a manifest beside it names the rule."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from reco.customers.consent import DEFAULT_AUDIENCE
from reco.exceptions import ConfigurationError
from reco.export.csvsafe import csv_safe
from reco.export.manifest import ExportManifest, audience_excluded, choose_audience, write_manifest
from reco.service import RecommendationService
from reco.store import EventStore
from reco.store.returns import net_purchases

logger = logging.getLogger(__name__)

EXPORT_COLUMNS = ("customer_id", "rank", "item_id", "item_name", "score", "reason", "model_version")
_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_SCHEMA = pa.schema([("customer_id", pa.string()), ("rank", pa.int32()), ("item_id", pa.string()),
                     ("item_name", pa.string()), ("score", pa.float64()), ("reason", pa.string()),
                     ("model_version", pa.string())])


def export_recommendations(
    store: EventStore, service: RecommendationService, out: str | Path, n: int = 10, mode: str = "new",
    audience: str = DEFAULT_AUDIENCE,
) -> dict[str, object]:
    """Write ``out`` for the store's customers in ``audience``, and its manifest beside it."""
    chosen = choose_audience(store.customers(), audience)
    events = store.read_events(("purchase", "return"),
                               columns=("customer_id", "item_id", "timestamp", "event_type", "quantity"))
    history = net_purchases(events)[["customer_id", "item_id", "timestamp"]]  # a full return is no purchase
    report = write_recommendations(service, chosen.customers, history, out, n=n, mode=mode)
    excluded = audience_excluded(chosen)
    manifest = write_manifest(out, ExportManifest(
        kind="recommendations", file=Path(out).name, format=str(report["format"]), rows=int(report["rows"]),
        customers=int(report["customers"]), model_version=service.version, audience=chosen.name,
        audience_rule=chosen.rule, excluded=excluded, columns=list(EXPORT_COLUMNS),
        parameters={"n": n, "mode": mode}))
    return {**report, "audience": chosen.name, "excluded": excluded, "manifest": str(manifest)}


def _rows_by_customer(history: pd.DataFrame) -> Callable[[Sequence[str]], np.ndarray]:
    """A lookup from customer ids to their rows in ``history``: hashing, no sort of the ids as text."""
    codes, uniques = pd.factorize(history["customer_id"])
    order = np.argsort(codes, kind="stable")
    starts = np.concatenate([[0], np.cumsum(np.bincount(codes, minlength=len(uniques)))])
    index = pd.Index(uniques)

    def rows_of(customers: Sequence[str]) -> np.ndarray:
        pos = index.get_indexer(customers)
        pos = pos[pos >= 0]
        lengths = starts[pos + 1] - starts[pos]
        offsets = np.repeat(starts[pos] - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        return order[np.arange(lengths.sum()) + offsets]

    return rows_of


def write_recommendations(
    service: RecommendationService,
    customer_ids: Sequence[str],
    history: pd.DataFrame,
    out: str | Path,
    n: int = 10,
    mode: str = "new",
    batch_size: int = 5_000,
) -> dict[str, object]:
    """Top-n for ``customer_ids`` from their purchases in ``history``, streamed into ``out``."""
    out = Path(out)
    fmt = _FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise ConfigurationError(f"export file {str(out)!r} must end in one of {', '.join(_FORMATS)}")
    if not isinstance(n, int) or n < 1:
        raise ConfigurationError(f"n must be a positive integer, got {n!r}")
    started = time.perf_counter()
    ids = np.sort(np.asarray(list(customer_ids), dtype=object))
    rows_of = _rows_by_customer(history)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    rows = personal = 0
    writer: pq.ParquetWriter | None = None
    try:
        for start in range(0, len(ids), batch_size):
            batch = ids[start:start + batch_size].tolist()
            results = service.recommend_many(batch, history.iloc[rows_of(batch)], n=n, mode=mode)
            table = pd.DataFrame(
                [(r.customer_id, rank, it.item_id, it.name, it.score, it.reason, r.model_version)
                 for r in results for rank, it in enumerate(r.items, start=1)], columns=list(EXPORT_COLUMNS))
            personal += sum(r.personalised for r in results)
            rows += len(table)
            if fmt == "csv":
                csv_safe(table).to_csv(tmp, index=False, header=start == 0, mode="w" if start == 0 else "a")
            else:
                writer = writer or pq.ParquetWriter(tmp, _SCHEMA)
                writer.write_table(pa.Table.from_pandas(table.astype({"rank": "int32"}), schema=_SCHEMA,
                                                        preserve_index=False))
            logger.info("export: %s of %s customers, %s rows", f"{min(start + batch_size, len(ids)):,}",
                        f"{len(ids):,}", f"{rows:,}")
        if len(ids) == 0:
            if fmt == "csv":
                pd.DataFrame(columns=list(EXPORT_COLUMNS)).to_csv(tmp, index=False)
            else:
                pq.write_table(_SCHEMA.empty_table(), tmp)
        if writer is not None:
            writer.close()
            writer = None
        os.replace(tmp, out)
    except BaseException:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
        raise
    return {
        "out": str(out), "format": fmt, "rows": rows, "customers": len(ids), "personalised": personal,
        "mode": mode, "model_version": service.version, "seconds": round(time.perf_counter() - started, 3),
    }
