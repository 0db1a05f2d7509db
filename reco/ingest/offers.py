"""``reco ingest FILE --kind offers``: a CSV, JSON or YAML offer catalogue into the store, all or nothing.

The file is read as every other source is (``reco.ingest.sources``: strict text, a column named twice
refused) and each offer validated by ``reco.offers.validate_offers``.
"""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import yaml

from reco.exceptions import InputError
from reco.ingest.sources import check_columns, check_encoding, text_error
from reco.offers.catalogue import Offer, validate_offers
from reco.store import EventStore


def read_catalogue(path: Path, encoding: str | None = None) -> list[Offer]:
    """The offers of a CSV, JSON or YAML catalogue (a list of offers, or ``{"offers": [...]}``)."""
    name = path.name.lower()
    encoding = check_encoding(encoding)
    try:
        text = path.read_text(encoding=encoding)
    except FileNotFoundError as exc:
        raise InputError("file not found", source=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise text_error(path, encoding, exc) from exc
    except OSError as exc:
        raise InputError(f"cannot read file: {exc}", source=str(path)) from exc
    if name.endswith(".csv"):
        check_columns([c.strip() for c in next(csv.reader(io.StringIO(text)), [])], str(path))
        records: object = [{k.strip(): (v.strip() if isinstance(v, str) else v) for k, v in r.items() if k}
                           for r in csv.DictReader(io.StringIO(text))]
    elif name.endswith((".json", ".yaml", ".yml")):
        try:
            records = json.loads(text) if name.endswith(".json") else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError) as exc:
            raise InputError(f"not a readable {name.rsplit('.', 1)[1].upper()} file: {exc}", source=str(path)) from exc
        if isinstance(records, dict) and "offers" in records:
            records = records["offers"]
    else:
        raise InputError("unsupported offer catalogue; valid endings: .csv, .json, .yaml, .yml", source=str(path))
    if not isinstance(records, list) or not records:
        raise InputError("holds no offers (a list of offers, or {offers: [...]})", source=str(path))
    return validate_offers(records, str(path))


def ingest_offers(store: EventStore, path: Path, encoding: str | None = None) -> dict[str, object]:
    """Validate every offer of the file (an InputError names the first bad one, its field and value; nothing is
    stored then), then store them in one transaction, replacing offers of the same id."""
    started = time.perf_counter()
    offers = read_catalogue(Path(path), encoding)
    store.create_schema()
    with store.transaction() as conn:
        new, replaced = store.offers.upsert(conn, offers)
    return {"sources": [str(path)], "kind": "offers", "rows_read": len(offers), "inserted": new,
            "replaced": replaced, "offers_total": len(store.offers.all()),
            "seconds": round(time.perf_counter() - started, 3)}
