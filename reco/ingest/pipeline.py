"""Ingest orchestration: map columns, normalise, deduplicate and write, all in one transaction.

A run either stores everything it accepted or nothing: any error (an unusable file, a database
failure, too many bad timestamps) rolls the whole run back, so the store is never half-written.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import Connection

from reco.clock import utc_now
from reco.exceptions import ConfigurationError, InputError
from reco.ingest.normalise import (
    FIELDS,
    REQUIRED,
    EventBatch,
    FileContext,
    event_records,
    normalise_customers,
    normalise_event_records,
    normalise_events,
    normalise_items,
    normalise_marketing,
    normalise_outcomes,
)
from reco.ingest.presets import Preset, get_preset
from reco.ingest.sources import Chunk, read_file, read_sql, safe_url
from reco.store import EventStore

logger = logging.getLogger(__name__)

ROW_PATH_MAX = 100  # live batches up to this many events are written row by row (no pandas, no staging)

KINDS = tuple(FIELDS)
DEFAULT_CHUNK_ROWS = 200_000
DEFAULT_MAX_BAD_TIMESTAMP_SHARE = 0.01
DEMO_DATA = Path(__file__).resolve().parent.parent / "demo" / "online_retail.csv.gz"
DEMO_OFFERS = DEMO_DATA.parent / "offers.yaml"  # a made-up catalogue for the demo (the data set has none)


@dataclass
class IngestReport:
    """What one ingest run did; printed as the CLI's final JSON line."""

    sources: list[str] = field(default_factory=list)
    kind: str = "events"
    rows_read: int = 0
    inserted: int = 0
    duplicates: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    catalogue_rows_read: int = 0
    catalogue_upserted: int = 0
    marketing_rows_read: int = 0
    marketing_inserted: int = 0
    outcome_rows_read: int = 0
    offers_upserted: int = 0
    outcomes_inserted: int = 0
    customers_new: int = 0
    events_total: int = 0
    items_total: int = 0
    customers_total: int = 0
    marketing_total: int = 0
    offer_outcomes_total: int = 0
    date_format: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def parse_mappings(pairs: Iterable[str], kind: str = "events") -> dict[str, str]:
    """``["customer_id=CUSTOMER_ID", ...]`` -> ``{"customer_id": "CUSTOMER_ID"}``, validated."""
    if kind not in FIELDS:
        raise ConfigurationError(f"unknown kind {kind!r}; valid kinds: {', '.join(KINDS)}")
    mapping: dict[str, str] = {}
    for pair in pairs:
        canonical, sep, source = pair.partition("=")
        canonical, source = canonical.strip(), source.strip()
        if not sep or not canonical or not source:
            raise ConfigurationError(f"--map {pair!r} is not of the form canonical=source_column")
        if canonical not in FIELDS[kind]:
            raise ConfigurationError(
                f"--map {pair!r}: {canonical!r} is not a canonical {kind} field; "
                f"valid: {', '.join(FIELDS[kind])}"
            )
        mapping[canonical] = source
    return mapping


def _apply_mapping(chunk: pd.DataFrame, mapping: Mapping[str, str], kind: str, source: str) -> pd.DataFrame:
    """Copy mapped source columns to their canonical names; canonical-named columns map to themselves."""
    present = list(chunk.columns)
    for canonical, column in mapping.items():
        if column not in chunk.columns:
            raise InputError(
                f"mapped column {column!r} (for {canonical}) not found; columns present: {present}",
                source=source, column=column,
            )
    out = chunk.copy()
    for canonical, column in mapping.items():
        out[canonical] = chunk[column]
    for required in REQUIRED[kind]:
        if required not in out.columns:
            raise InputError(
                f"required column {required!r} not found; columns present: {present}; "
                f"name the source column with --map {required}=COLUMN",
                source=source, column=required,
            )
    return out


class _Run:
    """State shared by the files of one ingest run (one transaction)."""

    def __init__(self, store: EventStore, conn: Connection, max_bad_share: float, decimal: str) -> None:
        self.store = store
        self.decimal = decimal
        self.conn = conn
        self.max_bad_share = max_bad_share
        self.report = IngestReport()
        self.dropped: Counter = Counter()
        self.seen: set[str] = set()
        # kind -> (normaliser, id column, insert) of the logs stored by content id
        self.logs: dict[str, tuple[Callable[..., pd.DataFrame], str, Callable[[Connection, pd.DataFrame], int]]] = {
            "marketing": (normalise_marketing, "marketing_id", store.insert_marketing),
            "offer-outcomes": (normalise_outcomes, "outcome_id", store.offers.insert_outcomes),
        }

    def ingest(
        self, chunks: Generator[Chunk, None, None], source: str, kind: str, mapping: Mapping[str, str],
        constants: Mapping[str, str], preset: Preset | None, date_format: str | None,
    ) -> None:
        """Read one source; its reader is closed as soon as this ends, also on an error (an open SQL query
        would otherwise hold its connection, and locks, until the error object is garbage collected)."""
        with closing(chunks):
            self._read(chunks, source, kind, mapping, constants, preset, date_format)

    def _read(
        self, chunks: Iterator[Chunk], source: str, kind: str, mapping: Mapping[str, str],
        constants: Mapping[str, str], preset: Preset | None, date_format: str | None,
    ) -> None:
        ctx = FileContext(source=source, kind=kind, date_format=date_format, decimal=self.decimal)
        rows = kept = new = repeats = 0
        started = time.perf_counter()
        for chunk in chunks:
            frame = _apply_mapping(chunk.frame, mapping, kind, source)
            if preset is not None and preset.transform is not None:
                frame = preset.transform(frame, ctx.dropped)
            rows += len(chunk.frame)
            if kind == "events":
                kept_now, new_now = self._events(frame, ctx, constants)
                kept, new = kept + kept_now, new + new_now
                self._check_timestamps(ctx, rows, final=False)
            elif kind in self.logs:  # rows with a content id, stored once: marketing rows, offer outcomes
                kept_now, new_now, repeats_now = self._store_log(kind, frame, ctx, constants, Path(source).name)
                kept, new, repeats = kept + kept_now, new + new_now, repeats + repeats_now
                self._check_timestamps(ctx, rows, final=False)
            elif kind == "items":
                items = normalise_items(frame, ctx)
                kept += len(items)
                new += self.store.upsert_items(self.conn, items)
            else:
                customers = self._not_erased(normalise_customers(frame, ctx), ctx)
                kept += len(customers)
                new += self.store.upsert_customers(self.conn, customers, overwrite=True)
            logger.info("%s: %s rows read, %s kept, %s new (%.1fs)", Path(source).name or source,
                        f"{rows:,}", f"{kept:,}", f"{new:,}", time.perf_counter() - started)
        if rows == 0:
            raise InputError("no data rows (only a header)", source=source)
        if kind in ("events", "marketing", "offer-outcomes"):
            self._check_timestamps(ctx, rows, final=True)
            if kept == 0:
                reasons = ", ".join(f"{k}={v}" for k, v in ctx.dropped.most_common())
                raise InputError(f"no usable rows out of {rows:,} (dropped: {reasons})", source=source)
        self.dropped.update(ctx.dropped)
        self.report.sources.append(source)
        if kind == "items" and self.report.kind == "events" and preset is not None:
            self.report.catalogue_rows_read += rows
            self.report.catalogue_upserted += new
        elif kind == "marketing" and self.report.kind == "events" and preset is not None:
            self.report.marketing_rows_read += rows
            self.report.marketing_inserted += new
        elif kind == "offer-outcomes" and self.report.kind == "events" and preset is not None:
            self.report.outcome_rows_read += rows
            self.report.outcomes_inserted += new
        else:
            self.report.kind = kind
            self.report.rows_read += rows
            self.report.inserted += new
            if kind in ("marketing", "offer-outcomes"):  # repeats in the file, and rows stored before
                self.report.duplicates += repeats + kept - new
        if kind == "events":
            self.report.date_format = ctx.date_format

    def _store_log(self, kind: str, frame: pd.DataFrame, ctx: FileContext, constants: Mapping[str, str],
                   label: str) -> tuple[int, int, int]:
        """Normalise and store rows of a log kept by content id (``self.logs``): erased customers' dropped,
        repeats within ``frame`` stored once; returns (kept, new, repeats)."""
        normalise, key, insert = self.logs[kind]
        rows = self._not_erased(normalise(frame, ctx, dict(constants)), ctx)
        repeated = rows[key].duplicated()
        rows = rows[~repeated].assign(source=label[:255])
        inserted = insert(self.conn, rows)
        if kind == "offer-outcomes" and inserted:  # caps and suppression read them: answers held in memory change
            self.store.record_changes(self.conn, rows["customer_id"].unique())
        return len(rows), inserted, int(repeated.sum())

    def _not_erased(self, rows: pd.DataFrame, ctx: FileContext) -> pd.DataFrame:
        """``rows`` without those of erased customers (counted as ``erased_customer``)."""
        if rows.empty:
            return rows
        erased = self.store.erased_among(self.conn, rows["customer_id"].unique())
        if not erased:
            return rows
        gone = rows["customer_id"].isin(erased)
        ctx.dropped["erased_customer"] += int(gone.sum())
        return rows[~gone]

    def _events(self, frame: pd.DataFrame, ctx: FileContext, constants: Mapping[str, str]) -> tuple[int, int]:
        return self._store_events(normalise_events(frame, ctx, dict(constants)), ctx)

    def _store_events(self, batch: EventBatch, ctx: FileContext) -> tuple[int, int]:
        """Store normalised events: erased customers' dropped, repeats counted, catalogue and customers added."""
        events = self._not_erased(batch.events, ctx)
        if len(events) < len(batch.events):
            batch.customers = batch.customers[batch.customers["customer_id"].isin(events["customer_id"])]
        repeated = events["event_id"].duplicated(keep="first") | events["event_id"].isin(self.seen)
        within = int(repeated.sum())
        events = events[~repeated].assign(source=Path(ctx.source).name[:255])
        self.seen.update(events["event_id"])
        self.store.upsert_items(self.conn, batch.items)
        self.report.customers_new += self.store.upsert_customers(self.conn, batch.customers, overwrite=False)
        inserted = self.store.insert_events(self.conn, events)
        self.report.duplicates += within + (len(events) - inserted)
        return len(events), inserted

    def _store_event_rows(self, events: list[dict[str, object]], items: list[dict[str, object]],
                          ctx: FileContext) -> tuple[int, int]:
        """``_store_events`` for rows from ``event_records``: the same drops, repeats and counts."""
        erased = self.store.erased_among(self.conn, {str(e["customer_id"]) for e in events}) if events else set()
        if erased:
            kept = [e for e in events if e["customer_id"] not in erased]
            ctx.dropped["erased_customer"] += len(events) - len(kept)
            events = kept
        customers = list(dict.fromkeys(str(e["customer_id"]) for e in events))
        fresh, ids = [], set()
        for e in events:
            if e["event_id"] not in ids and e["event_id"] not in self.seen:
                ids.add(str(e["event_id"]))
                fresh.append(e)
        within = len(events) - len(fresh)
        self.seen.update(ids)
        inserted, new_customers = self.store.write_event_rows(self.conn, fresh, items, customers,
                                                              Path(ctx.source).name[:255])
        self.report.customers_new += new_customers
        self.report.duplicates += within + (len(fresh) - inserted)
        return len(fresh), inserted

    def _check_timestamps(self, ctx: FileContext, rows: int, final: bool) -> None:
        share = ctx.bad_timestamps / rows if rows else 0.0
        too_many = share > self.max_bad_share if final else (rows >= 1000 and share > 0.5)
        if too_many and ctx.first_bad_timestamp is not None:
            row, value = ctx.first_bad_timestamp
            raise InputError(
                f"{ctx.bad_timestamps:,} of {rows:,} timestamps ({share:.1%}) cannot be parsed with format "
                f"{ctx.date_format!r}, more than the allowed {self.max_bad_share:.1%}; first bad one shown; "
                "give the format with --date-format",
                source=ctx.source, column="timestamp", row=row, value=value,
            )

    def finish(self, started: float, started_at: datetime) -> IngestReport:
        report = self.report
        report.dropped = dict(sorted(self.dropped.items()))
        report.seconds = round(time.perf_counter() - started, 3)
        self.store.record_ingest_run(
            self.conn, source=" + ".join(report.sources), kind=report.kind, started_at=started_at,
            finished_at=utc_now(), rows_read=report.rows_read,
            inserted=report.inserted, duplicates=report.duplicates, dropped=json.dumps(report.dropped),
        )
        return report


def ingest(
    store: EventStore,
    path: Path | None = None,
    *,
    sql: str | None = None,
    source_url: str | None = None,
    preset: str | None = None,
    mapping: Mapping[str, str] | None = None,
    kind: str = "events",
    constants: Mapping[str, str] | None = None,
    date_format: str | None = None,
    delimiter: str | None = None,
    encoding: str | None = None,
    decimal: str = ".",
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    max_bad_timestamp_share: float = DEFAULT_MAX_BAD_TIMESTAMP_SHARE,
) -> IngestReport:
    """Ingest a file (CSV, CSV.gz, Parquet), a preset's folder, or a SQL query, atomically."""
    if (path is None) == (sql is None):
        raise ConfigurationError("give exactly one of a file path or --sql")
    if sql is not None and not source_url:
        raise ConfigurationError("--sql needs --source-url (a SQLAlchemy database URL)")
    if kind not in FIELDS:
        raise ConfigurationError(f"unknown kind {kind!r}; valid kinds: {', '.join(KINDS)}")
    if decimal not in (".", ","):
        raise ConfigurationError(f"decimal separator {decimal!r} is not valid; valid: '.', ','")
    if not 0 <= max_bad_timestamp_share < 1:
        raise ConfigurationError(f"max bad timestamp share {max_bad_timestamp_share!r} must be in [0, 1)")
    chosen = get_preset(preset) if preset else None
    user_map = dict(mapping or {})
    user_constants = dict(constants or {})
    started, started_at = time.perf_counter(), utc_now()
    store.create_schema()
    with store.transaction() as conn:
        run = _Run(store, conn, max_bad_timestamp_share, decimal)
        if sql is not None:
            run.ingest(read_sql(sql, source_url or "", chunk_rows), f"query on {safe_url(source_url or '')}", kind,
                       _merged(chosen, user_map), _consts(chosen, user_constants), chosen,
                       date_format or (chosen.date_format if chosen else None))
        else:
            assert path is not None
            plan = chosen.resolve(path) if chosen else [(path, kind, None)]
            for file_path, file_kind, file_preset in plan:
                is_main = file_preset is chosen
                run.ingest(
                    read_file(file_path, chunk_rows, delimiter, encoding), str(file_path), file_kind,
                    _merged(file_preset, user_map if is_main else {}),
                    _consts(file_preset, user_constants if is_main else {}),
                    file_preset,
                    (date_format if is_main else None) or (file_preset.date_format if file_preset else None),
                )
            if chosen is not None and chosen.offers is not None and path.is_dir():
                offers = chosen.offers(path)
                run.report.offers_upserted = sum(store.offers.upsert(conn, offers))
        report = run.finish(started, started_at)
    report.events_total = store.count_rows("events")
    report.items_total = store.count_rows("items")
    report.customers_total = store.count_rows("customers")
    report.marketing_total = store.count_rows("marketing")
    report.offer_outcomes_total = store.count_rows("offer_outcomes")
    return report


def record_events(
    store: EventStore, events: pd.DataFrame | Sequence[Mapping[str, object]], source: str = "api",
    also: Callable[[Connection, IngestReport], None] | None = None,
) -> IngestReport:
    """Store live events (canonical columns) with ingest's checks, ids and erasure rule, in one transaction.

    ``events`` is a DataFrame (checked column-wise, for large batches) or a sequence of mappings (checked
    row by row: for a few events a request, where pandas' per-column cost was most of the time; both
    give the same rows). Up to ROW_PATH_MAX mappings are also written row by row
    (``EventStore.write_event_rows``): a single event took 7.7 ms through frames and staging tables.
    Unlike ``ingest`` nothing goes to the audit log (this runs per request). Row
    numbers in errors are positions in ``events`` counted from 1. The store's tables must exist
    (``EventStore.create_schema``, which the API runs once at start-up, not per request). ``also`` runs
    inside the same transaction with the report (e.g. to save an idempotent response with the events).
    """
    ctx = FileContext(source=source, kind="events")
    rows = len(events)
    with store.transaction() as conn:
        run = _Run(store, conn, 0.0, ".")
        if isinstance(events, pd.DataFrame):
            frame = events.reset_index(drop=True)
            frame.index = frame.index + 1
            _, inserted = run._store_events(normalise_events(frame, ctx, {}), ctx)
        elif rows <= ROW_PATH_MAX:
            _, inserted = run._store_event_rows(*event_records(events, ctx), ctx)
        else:
            _, inserted = run._store_events(normalise_event_records(events, ctx), ctx)
        report = run.report
        report.sources, report.rows_read, report.inserted = [source], rows, inserted
        report.dropped = dict(sorted(ctx.dropped.items()))
        if also is not None:
            also(conn, report)
    return report


def record_outcomes(store: EventStore, outcomes: Sequence[Mapping[str, object]], source: str = "api") -> IngestReport:
    """Store offer outcomes (``reco.ingest.normalise.OUTCOME_FIELDS``) with ingest's checks, ids and erasure rule,
    in one transaction; drops are counted by reason. Timestamps may be datetimes, aware (turned into naive
    UTC) or naive (UTC), or text. Row numbers in errors count from 1."""
    ctx = FileContext(source=source, kind="offer-outcomes")
    rows = [{**row, "timestamp": _naive_utc(row.get("timestamp"))} for row in outcomes]
    frame = pd.DataFrame(rows, columns=list(FIELDS["offer-outcomes"]))
    frame.index = frame.index + 1
    with store.transaction() as conn:
        run = _Run(store, conn, 0.0, ".")
        kept, inserted, repeats = run._store_log("offer-outcomes", frame, ctx, {}, source)
    report = run.report
    report.kind, report.sources, report.rows_read, report.inserted = "offer-outcomes", [source], len(frame), inserted
    report.duplicates = repeats + kept - inserted
    report.dropped = dict(sorted(ctx.dropped.items()))
    return report


def _naive_utc(value: object) -> object:
    """An aware datetime as naive UTC, as every timestamp is stored; anything else as it is (one column of a
    frame must not mix aware and naive times)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _merged(preset: Preset | None, user_map: Mapping[str, str]) -> dict[str, str]:
    merged = dict(preset.columns) if preset else {}
    merged.update(user_map)
    return merged


def _consts(preset: Preset | None, user_constants: Mapping[str, str]) -> dict[str, str]:
    merged = dict(preset.constants) if preset else {}
    merged.update(user_constants)
    return merged
