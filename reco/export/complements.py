"""Complements for a site or CRM: for every item of the serving version, the items that go well with it
(reco.service.RecommendationService.complements: no near-duplicates, reason "often bought with X").

Item-level only: no customer is in it, so no consent rule applies. Written to a temp file and renamed
into place, with a manifest beside it.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pandas as pd

from reco.atomic import write_with
from reco.exceptions import ConfigurationError
from reco.export.csvsafe import csv_safe
from reco.export.manifest import ExportManifest, write_manifest
from reco.service import RecommendationService

logger = logging.getLogger(__name__)

COMPLEMENT_EXPORT_COLUMNS = ("item_id", "rank", "complement_id", "complement_name", "score", "reason", "model_version")


def export_complements(service: RecommendationService, out: str | Path, n: int = 10) -> dict[str, object]:
    """Write ``out`` (.csv or .parquet) with ``COMPLEMENT_EXPORT_COLUMNS`` for every item with complements."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise ConfigurationError(f"export file {str(out)!r} must end in .csv or .parquet")
    if not isinstance(n, int) or not 1 <= n <= 100:
        raise ConfigurationError(f"n must be an integer in 1..100, got {n!r}")
    started = time.perf_counter()
    rows = []
    items = [str(i) for i in service.mapping.item_ids]
    for k, item in enumerate(items, start=1):
        rows += [(item, rank, c.item_id, c.name, round(c.score, 6), c.reason, service.version)
                 for rank, c in enumerate(service.complements(item, n=n), start=1)]
        if k % 10_000 == 0:
            logger.info("export complements: %s of %s items, %s rows", f"{k:,}", f"{len(items):,}", f"{len(rows):,}")
    table = pd.DataFrame(rows, columns=list(COMPLEMENT_EXPORT_COLUMNS))
    if suffix == ".csv":
        write_with(out, lambda tmp: csv_safe(table).to_csv(tmp, index=False))
    else:
        write_with(out, lambda tmp: table.to_parquet(tmp, index=False))
    with_complements = int(table["item_id"].nunique())
    manifest = write_manifest(out, ExportManifest(
        kind="complements", file=out.name, format=suffix[1:], rows=len(table), customers=0,
        model_version=service.version, audience="none", audience_rule="item-level: holds no customer",
        excluded={"items_without_complements": len(items) - with_complements}, columns=list(COMPLEMENT_EXPORT_COLUMNS),
        parameters={"n": n}))
    return {"out": str(out), "rows": len(table), "items": with_complements, "model_version": service.version,
            "manifest": str(manifest), "seconds": round(time.perf_counter() - started, 1)}
