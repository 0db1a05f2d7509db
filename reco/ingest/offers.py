"""``reco ingest FILE --kind offers``: a CSV, JSON or YAML offer catalogue into the store, all or nothing."""

from __future__ import annotations

import time
from pathlib import Path

from reco.offers.catalogue import read_catalogue
from reco.store import EventStore


def ingest_offers(store: EventStore, path: Path, encoding: str | None = None) -> dict[str, object]:
    """Validate every offer of the file (an InputError names the first bad one, its field and value; nothing is
    stored then), then store them in one transaction, replacing offers of the same id."""
    started = time.perf_counter()
    offers = read_catalogue(Path(path), encoding or "utf-8-sig")
    store.create_schema()
    with store.transaction() as conn:
        new, replaced = store.offers.upsert(conn, offers)
    return {"sources": [str(path)], "kind": "offers", "rows_read": len(offers), "inserted": new,
            "replaced": replaced, "offers_total": len(store.offers.all()),
            "seconds": round(time.perf_counter() - started, 3)}
