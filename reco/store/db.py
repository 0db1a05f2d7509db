"""Engine creation and the EventStore: bulk, idempotent, transactional writes and the reads models need.

Bulk writes go through a temporary staging table and one ``INSERT ... SELECT ... ON CONFLICT`` per
chunk, so SQLite and PostgreSQL share the same SQL and the exact number of new rows is known. On
PostgreSQL the staging table is filled with ``COPY``, which is what keeps a full-file ingest fast.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    Connection,
    Engine,
    String,
    bindparam,
    create_engine,
    delete,
    event,
    exists,
    func,
    insert,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from reco.clock import utc_now
from reco.config import get_settings
from reco.customers.consent import may_personalise
from reco.exceptions import ConfigurationError, ErasedCustomerError, StoreBusyError, StoreError
from reco.store.activity import Activity
from reco.store.bulk import rows_in, stage_insert
from reco.store.changes import CHANNEL_PREFIX, NOTIFY_CHUNK, ChangeWatcher, PostgresChangeWatcher, SQLiteChangeWatcher
from reco.store.decisions import DecisionStore
from reco.store.erasures import ErasureLog
from reco.store.hashing import CustomerHasher, load_hasher
from reco.store.idempotency import IdempotencyKeys
from reco.store.offers import OfferStore
from reco.store.returns import returned_in_full
from reco.store.runs import RunStore
from reco.store.sessions import SessionStore
from reco.store.tables import (
    CHANGES_KEPT,
    CUSTOMER_COLUMNS,
    EVENT_COLUMNS,
    EVERYONE,
    ITEM_COLUMNS,
    MARKETING_COLUMNS,
    ROLES,
    api_keys,
    customers,
    dashboard_sessions,
    erasures,
    events,
    ingest_runs,
    items,
    marketing,
    metadata,
    offer_decisions,
    offer_outcomes,
)

logger = logging.getLogger(__name__)

CHANGE_BATCH = 1_000  # a write touching more customers than this is noted as a change for everyone

# What the frame path (staging merges) and the row path (``write_event_rows``) both do on a conflict, and
# the values a customer first seen in events starts with.
_NEW_EVENTS_ONLY = "ON CONFLICT (event_id) DO NOTHING"
_NEW_CUSTOMERS_ONLY = "ON CONFLICT (customer_id) DO NOTHING"
_ITEM_UPSERT = "ON CONFLICT (item_id) DO UPDATE SET " + ", ".join(
    f"{c} = COALESCE(excluded.{c}, items.{c})" for c in ITEM_COLUMNS if c != "item_id")
_CUSTOMER_DEFAULTS: dict[str, object] = {"consent_personalisation": True, "consent_marketing": False,
                                        "preferred_channel": None}

# The per-request reads of the API, built once (SQLAlchemy then skips building their cache keys). The
# timestamp is read untyped: SQLite hands back its stored text, which numpy parses far faster than
# SQLAlchemy's row-by-row datetime parsing; PostgreSQL's driver hands back datetimes either way.
_CUSTOMER_EVENTS = select(events.c.item_id, type_coerce(events.c.timestamp, String), events.c.event_type,
                          events.c.quantity).where(
    events.c.customer_id == bindparam("customer"), events.c.event_type.in_(bindparam("types", expanding=True))
).order_by(events.c.timestamp, events.c.item_id)
_CUSTOMERS_EVENTS = select(events.c.customer_id, events.c.item_id, type_coerce(events.c.timestamp, String),
                           events.c.event_type, events.c.quantity).where(
    events.c.customer_id.in_(bindparam("customers", expanding=True)),
    events.c.event_type.in_(bindparam("types", expanding=True)),
).order_by(events.c.customer_id, events.c.timestamp, events.c.item_id)
# A customer's consent (NULL: no customer row) and whether they were erased (their hash under any secret),
# in one round trip.
_CONSENT = select(
    select(customers.c.consent_personalisation).where(customers.c.customer_id == bindparam("customer"))
    .scalar_subquery(),
    exists().where(erasures.c.customer_hash.in_(bindparam("hashes", expanding=True))),
)
_NOTIFY = text(f"SELECT pg_notify(left('{CHANNEL_PREFIX}' || current_schema(), 63), :payload)")
_ROLE = select(api_keys.c.role).where(api_keys.c.key_hash == bindparam("key_hash"))


DEFAULT_LOCK_WAIT = 30.0  # seconds a write waits for another to finish (a job); the API passes its own


def make_engine(url: str, lock_wait: float = DEFAULT_LOCK_WAIT) -> Engine:
    """Create an engine for ``url``; plain ``postgresql://`` URLs use psycopg 3, SQLite gets WAL mode and
    waits up to ``lock_wait`` seconds for another writer."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigurationError(
            f"RECO_DATABASE_URL {url!r} is not a database URL; use e.g. 'sqlite:///var/reco.db' or "
            "'postgresql://user@host:5432/dbname'"
        ) from exc
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ConfigurationError(
            f"database backend {backend!r} in {url!r} is not supported; valid: 'sqlite', 'postgresql'"
        )
    if backend == "postgresql" and parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA busy_timeout={int(lock_wait * 1000)}")
            cur.close()

        return engine
    return create_engine(parsed, pool_pre_ping=True)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class EventStore:
    """Purchase history, catalogue and customers in one SQL database (SQLite or PostgreSQL)."""

    def __init__(self, url: str, hasher: CustomerHasher | None = None, lock_wait: float | None = None) -> None:
        """``hasher``: keyed hashes of customer ids (default: the secret file of the settings). ``lock_wait``:
        seconds a write waits for another writer before StoreBusyError (the API waits less than a job)."""
        self.url = url
        self.lock_wait = DEFAULT_LOCK_WAIT if lock_wait is None else lock_wait
        self.engine = make_engine(url, self.lock_wait)
        self.hasher = hasher or load_hasher(get_settings().secret_file)
        self.erasures = ErasureLog(self.engine, self.hasher)
        self.idempotency = IdempotencyKeys(self.engine)
        self.offers = OfferStore(self.engine)
        self.decisions = DecisionStore(self.engine)
        self.runs = RunStore(self.engine, self.transaction)
        self.sessions = SessionStore(self.engine, self.transaction)
        self.activity = Activity(self.engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def create_schema(self) -> None:
        """Create the tables that do not exist yet (safe to call every time)."""
        try:
            metadata.create_all(self.engine)
        except OperationalError as exc:
            raise StoreError(f"cannot reach the event store at {self.safe_url}: {exc.orig}") from exc

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden, for messages and logs."""
        return self.engine.url.render_as_string(hide_password=True)

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction: everything inside commits together or not at all. Waiting longer than
        ``lock_wait`` for another writer (a running ingest) raises StoreBusyError, with nothing written."""
        try:
            with self.engine.begin() as conn:
                if self.dialect != "sqlite":  # SQLite's wait is the connection's busy_timeout (make_engine)
                    conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(self.lock_wait * 1000)}ms'")
                yield conn
        except OperationalError as exc:
            if not _busy(exc):
                raise
            raise StoreBusyError(f"the event store is busy: another write (an ingest?) held it for more than "
                                 f"{self.lock_wait:g} s; nothing was written; try again when it ends",
                                 retry_after=self.lock_wait) from exc

    # ------------------------------------------------------------------ bulk writes
    def _stage_insert(
        self, conn: Connection, table: str, columns: Sequence[str], df: pd.DataFrame, on_conflict: str
    ) -> int:
        return stage_insert(conn, table, columns, df, on_conflict)

    def insert_events(self, conn: Connection, df: pd.DataFrame) -> int:
        """Insert canonical events; an event whose id is already stored is skipped. Returns new rows."""
        inserted = self._stage_insert(conn, "events", EVENT_COLUMNS, df, _NEW_EVENTS_ONLY)
        if inserted:
            self.record_changes(conn, df["customer_id"])
        return inserted

    def write_event_rows(self, conn: Connection, events: Sequence[Mapping[str, Any]],
                         items: Sequence[Mapping[str, Any]], customer_ids: Sequence[str],
                         source: str) -> tuple[int, int]:
        """``upsert_items``, ``upsert_customers`` (new ones only) and ``insert_events`` for a few rows given
        as mappings (events: ``EVENT_COLUMNS`` but source, timestamps as datetime64[us]; items: item_id,
        name, category, price): one executemany each, no staging table and no pandas, for the live API.
        Returns (new events, new customers); a test checks it stores what the frame path stores."""
        sqlite = self.dialect == "sqlite"
        mark = "?" if sqlite else "%s"

        def insert_sql(table: str, columns: Sequence[str], on_conflict: str) -> str:
            return (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))}) "
                    f"{on_conflict}")

        def value(v: Any) -> Any:
            if isinstance(v, float) and v != v:
                return None
            if isinstance(v, np.datetime64):
                return str(np.datetime_as_string(v, unit="us")).replace("T", " ") if sqlite else v.item()
            return v

        if items:
            conn.exec_driver_sql(insert_sql("items", ITEM_COLUMNS, _ITEM_UPSERT),
                                 [(i["item_id"], i["name"], i["category"], value(i["price"]), True) for i in items])
        new_customers = 0
        if customer_ids:
            defaults = tuple(_CUSTOMER_DEFAULTS[c] for c in CUSTOMER_COLUMNS if c != "customer_id")
            new_customers = conn.exec_driver_sql(insert_sql("customers", CUSTOMER_COLUMNS, _NEW_CUSTOMERS_ONLY),
                                                 [(c, *defaults) for c in customer_ids]).rowcount
        inserted = 0
        if events:
            rows = [tuple(source if c == "source" else value(e[c]) for c in EVENT_COLUMNS) for e in events]
            inserted = conn.exec_driver_sql(insert_sql("events", EVENT_COLUMNS, _NEW_EVENTS_ONLY), rows).rowcount
            if inserted:
                self.record_changes(conn, (str(e["customer_id"]) for e in events))
        return int(inserted), int(new_customers)

    def record_changes(self, conn: Connection, customer_ids: Iterable[str]) -> None:
        """Note, inside the caller's transaction, that these customers changed (more than CHANGE_BATCH
        customers are noted as everyone): rows of ``customer_changes`` on SQLite, a NOTIFY on PostgreSQL
        (see ``reco.store.changes``)."""
        ids = {str(c) for c in customer_ids}
        if not ids:
            return
        hashes = [EVERYONE] if len(ids) > CHANGE_BATCH else sorted(self.hasher(c) for c in ids)
        if self.dialect != "sqlite":
            for start in range(0, len(hashes), NOTIFY_CHUNK):
                conn.execute(_NOTIFY, {"payload": ",".join(hashes[start:start + NOTIFY_CHUNK])})
            return
        # Driver-level statements: SQLAlchemy's compile-and-bind took 0.5 ms of a 9 ms single-event write.
        conn.exec_driver_sql("INSERT INTO customer_changes (customer_hash) VALUES (?)", [(h,) for h in hashes])
        conn.exec_driver_sql("DELETE FROM customer_changes WHERE seq <= (SELECT max(seq) FROM customer_changes) - ?",
                             (CHANGES_KEPT,))

    def change_watcher(self) -> ChangeWatcher | None:
        """A watcher of this store's changes (``reco.store.changes``); None for an in-memory SQLite store."""
        if self.dialect != "sqlite":
            dsn = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
            return PostgresChangeWatcher(dsn)
        database = self.engine.url.database
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        return SQLiteChangeWatcher(database)

    def insert_marketing(self, conn: Connection, df: pd.DataFrame) -> int:
        """Insert campaign contacts and redemptions; a row whose id is already stored is skipped."""
        return self._stage_insert(conn, "marketing", MARKETING_COLUMNS, df, "ON CONFLICT (marketing_id) DO NOTHING")

    def upsert_items(self, conn: Connection, df: pd.DataFrame) -> int:
        """Add catalogue rows; for known items, non-empty new values replace the stored ones."""
        df = df.drop_duplicates("item_id", keep="last")
        for col in ITEM_COLUMNS:
            if col not in df.columns:
                df = df.assign(**{col: None})
        if df["active"].isna().any():
            df = df.assign(active=df["active"].astype(object).where(df["active"].notna(), True))
        return self._stage_insert(conn, "items", ITEM_COLUMNS, df, _ITEM_UPSERT)

    def upsert_customers(self, conn: Connection, df: pd.DataFrame, *, overwrite: bool) -> int:
        """Add customers. With ``overwrite`` (a customer file) the columns it carries replace stored ones."""
        df = df.drop_duplicates("customer_id", keep="last")
        given = [c for c in CUSTOMER_COLUMNS if c in df.columns and c != "customer_id"]
        for col, default in _CUSTOMER_DEFAULTS.items():
            if col not in df.columns:
                df = df.assign(**{col: default})
            elif default is not None:
                df = df.assign(**{col: df[col].astype(object).where(df[col].notna(), default)})
        if overwrite and given:
            update = ", ".join(f"{c} = excluded.{c}" for c in given)
            on_conflict = f"ON CONFLICT (customer_id) DO UPDATE SET {update}"
        else:
            on_conflict = _NEW_CUSTOMERS_ONLY
        changed = self._stage_insert(conn, "customers", CUSTOMER_COLUMNS, df, on_conflict)
        if changed and overwrite and given:
            self.record_changes(conn, df["customer_id"])
        return changed

    def record_ingest_run(self, conn: Connection, **values: object) -> None:
        conn.execute(ingest_runs.insert().values(**values))

    # ------------------------------------------------------------------ reads
    def count_events(self) -> int:
        return self.count_rows("events")

    def count_rows(self, table: str) -> int:
        tables = {"events": events, "items": items, "customers": customers, "marketing": marketing,
                  "erasures": erasures, "ingest_runs": ingest_runs, "offer_outcomes": offer_outcomes,
                  "offer_decisions": offer_decisions}
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(tables[table])).scalar_one())

    def read_events(
        self,
        event_types: Sequence[str] = ("purchase",),
        columns: Sequence[str] = ("customer_id", "item_id", "timestamp", "quantity"),
        until: datetime | None = None,
        customer_ids: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Events of the given types (of ``customer_ids`` only, when given) as a DataFrame (timestamps as
        datetime64)."""
        cols = [events.c[c] for c in columns]
        stmt = select(*cols).where(events.c.event_type.in_(list(event_types)))
        if until is not None:
            stmt = stmt.where(events.c.timestamp < until)
        with self.engine.connect() as conn:
            rows = (conn.execute(stmt).fetchall() if customer_ids is None
                    else rows_in(conn, stmt, events.c.customer_id, customer_ids))
            df = pd.DataFrame(rows, columns=list(columns))
        if "timestamp" in df.columns:
            df["timestamp"] = pd.to_datetime(df["timestamp"])
        return df

    def read_marketing(self, until: datetime | None = None) -> pd.DataFrame:
        """Campaign contacts and redemptions (customer_id, campaign_id, kind, timestamp)."""
        stmt = select(marketing.c.customer_id, marketing.c.campaign_id, marketing.c.kind, marketing.c.timestamp)
        if until is not None:
            stmt = stmt.where(marketing.c.timestamp < until)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).fetchall()
        df = pd.DataFrame(rows, columns=["customer_id", "campaign_id", "kind", "timestamp"])
        df["timestamp"] = pd.to_datetime(df["timestamp"])
        return df

    def customer_events(self, customer_id: str, event_types: Sequence[str] = ("purchase",)) -> pd.DataFrame:
        """A customer's events (item_id, timestamp), read fresh: what serving scores them from. In time
        then item order, so the same history always reads the same (serving fingerprints it). Purchases
        of an item they returned in full are left out (reco.store.returns)."""
        item_ids, timestamps = self.customer_event_arrays(customer_id, event_types)
        return pd.DataFrame({"item_id": item_ids, "timestamp": timestamps})

    def customer_event_arrays(self, customer_id: str, event_types: Sequence[str] = ("purchase",)
                              ) -> tuple[np.ndarray, np.ndarray]:
        """``customer_events`` as two arrays, item ids and datetime64[us] times (the API's per-request read)."""
        with self.engine.connect() as conn:
            rows = conn.execute(_CUSTOMER_EVENTS, {"customer": customer_id, "types": _read_types(event_types)}
                                ).fetchall()
        rows = _net_of_returns(rows, event_types, lambda r: r[0], 2)
        # Straight to numpy: pandas' datetime inference costs more than the query for one customer.
        return np.array([r[0] for r in rows], dtype=object), _datetimes([r[1] for r in rows])

    def customers_events(self, customer_ids: Sequence[str], event_types: Sequence[str] = ("purchase",)
                         ) -> pd.DataFrame:
        """``customer_events`` for many customers at once (customer_id, item_id, timestamp), each
        customer's rows in the same order and with the same values as their own read gives."""
        ids = list(dict.fromkeys(str(c) for c in customer_ids))
        rows: list[Any] = []
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 1000):
                rows += conn.execute(_CUSTOMERS_EVENTS, {"customers": ids[start:start + 1000],
                                                         "types": _read_types(event_types)}).fetchall()
        rows = _net_of_returns(rows, event_types, lambda r: (r[0], r[1]), 3)
        return pd.DataFrame({
            "customer_id": np.array([r[0] for r in rows], dtype=object),
            "item_id": np.array([r[1] for r in rows], dtype=object),
            "timestamp": _datetimes([r[2] for r in rows]),
        })

    def recent_customers(self, limit: int) -> list[str]:
        """Up to ``limit`` customers who may be personalised, latest purchase first (what serving warms)."""
        last = func.max(events.c.timestamp)
        opted_out = select(customers.c.customer_id).where(customers.c.consent_personalisation.is_(False))
        stmt = (select(events.c.customer_id).where(events.c.event_type == "purchase",
                                                   events.c.customer_id.not_in(opted_out))
                .group_by(events.c.customer_id).order_by(last.desc(), events.c.customer_id).limit(limit))
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(stmt)]

    def items(self) -> pd.DataFrame:
        with self.engine.connect() as conn:
            rows = conn.execute(select(items)).fetchall()
        return pd.DataFrame(rows, columns=list(ITEM_COLUMNS))

    def customers(self, customer_ids: Sequence[str] | None = None) -> pd.DataFrame:
        """The customer rows (of ``customer_ids`` only, when given)."""
        stmt = select(customers)
        with self.engine.connect() as conn:
            rows = (conn.execute(stmt).fetchall() if customer_ids is None
                    else rows_in(conn, stmt, customers.c.customer_id, customer_ids))
        return pd.DataFrame(rows, columns=list(CUSTOMER_COLUMNS))

    def personalisation_allowed(self, customer_id: str) -> bool:
        """False for a known customer who opted out of personalisation, and for an erased one (one query)."""
        with self.engine.connect() as conn:
            consent, erased = conn.execute(_CONSENT, {"customer": customer_id,
                                                      "hashes": self.hasher.candidates(customer_id)}).one()
        return may_personalise(consent, erased)

    def is_erased(self, customer_id: str) -> bool:
        return self.erasures.is_erased(customer_id)

    def erased_among(self, conn: Connection, customer_ids: Iterable[str]) -> set[str]:
        """Which of ``customer_ids`` were erased (ingest drops their rows)."""
        return self.erasures.erased_among(conn, customer_ids)

    def set_consent(self, customer_id: str, personalisation: bool | None = None,
                    marketing: bool | None = None) -> dict[str, object]:
        """Record a customer's consent (None keeps the stored value; a new customer starts from the defaults).
        An erased customer stays erased: ErasedCustomerError, and nothing is stored."""
        with self.transaction() as conn:
            if self.erased_among(conn, [customer_id]):
                raise ErasedCustomerError(f"customer {customer_id!r} was erased; an erased id is never stored again "
                                          "(a returning customer needs a new id)")
            row = conn.execute(select(customers).where(customers.c.customer_id == customer_id)).mappings().first()
            values = {"consent_personalisation": True, "consent_marketing": False, **(dict(row) if row else {})}
            if personalisation is not None:
                values["consent_personalisation"] = personalisation
            if marketing is not None:
                values["consent_marketing"] = marketing
            values["customer_id"] = customer_id
            if row is None:
                conn.execute(insert(customers).values(**values))
            else:
                conn.execute(update(customers).where(customers.c.customer_id == customer_id).values(**values))
            self.record_changes(conn, [customer_id])
        return values

    def erase_customer(self, customer_id: str) -> dict[str, int]:
        """Delete a customer's events, marketing rows and customer row in one transaction, and remember the
        erasure (by hash) so that later ingests drop their rows. Returns what was deleted."""
        with self.transaction() as conn:
            counts = {
                "events": conn.execute(delete(events).where(events.c.customer_id == customer_id)).rowcount,
                "marketing": conn.execute(delete(marketing).where(marketing.c.customer_id == customer_id)).rowcount,
                "customer": conn.execute(delete(customers).where(customers.c.customer_id == customer_id)).rowcount,
                "offer_outcomes": self.offers.erase_customer(conn, customer_id),
                "offer_decisions": self.decisions.erase_customer(conn, customer_id),
            }
            self.erasures.record(conn, customer_id)
            self.record_changes(conn, [customer_id])
        return {k: int(v) for k, v in counts.items()}

    def customer_data(self, customer_id: str) -> dict[str, object]:
        """Everything the store holds about one customer: customer row, events, marketing rows, offer
        outcomes and offer decisions."""
        with self.engine.connect() as conn:
            row = conn.execute(select(customers).where(customers.c.customer_id == customer_id)).mappings().first()
            ev = pd.DataFrame(conn.execute(select(events).where(events.c.customer_id == customer_id)).fetchall(),
                              columns=list(EVENT_COLUMNS))
            mk = pd.DataFrame(conn.execute(select(marketing).where(marketing.c.customer_id == customer_id))
                              .fetchall(), columns=list(MARKETING_COLUMNS))
        return {"customer": dict(row) if row else None, "events": ev, "marketing": mk,
                "offer_outcomes": self.offers.outcomes(customer_id),
                "offer_decisions": self.decisions.decisions([customer_id])}

    def personalisation_denied(self, customer_ids: Iterable[str]) -> set[str]:
        """Which of ``customer_ids`` ``personalisation_allowed`` says no to: a customer row's consent
        decides, and without one an erasure does (as there)."""
        ids = list(dict.fromkeys(str(c) for c in customer_ids))
        denied: set[str] = set()
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 1000):
                chunk = ids[start:start + 1000]
                stmt = select(customers.c.customer_id, customers.c.consent_personalisation).where(
                    customers.c.customer_id.in_(chunk))
                consent = dict(conn.execute(stmt).tuples().all())
                denied.update(c for c, allowed in consent.items() if not may_personalise(allowed))
                denied.update(c for c in self.erased_among(conn, [c for c in chunk if c not in consent])
                              if not may_personalise(None, erased=True))
        return denied

    def opted_out_customers(self) -> set[str]:
        stmt = select(customers.c.customer_id).where(customers.c.consent_personalisation.is_(False))
        with self.engine.connect() as conn:
            return {r[0] for r in conn.execute(stmt)}

    def latest_erasure(self) -> datetime | None:
        """When the most recent erasure was recorded (None: never)."""
        with self.engine.connect() as conn:
            return _as_datetime(conn.execute(select(func.max(erasures.c.erased_at))).scalar_one())

    def erasures_since(self, when: datetime | None) -> list[tuple[str, datetime]]:
        """(customer hash, erased at) of erasures recorded at or after ``when`` (all of them for None)."""
        stmt = select(erasures.c.customer_hash, erasures.c.erased_at)
        if when is not None:
            stmt = stmt.where(erasures.c.erased_at >= when)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).fetchall()
        return [(r[0], at) for r in rows if (at := _as_datetime(r[1])) is not None]

    def event_time_range(self) -> tuple[datetime | None, datetime | None]:
        with self.engine.connect() as conn:
            lo, hi = conn.execute(select(func.min(events.c.timestamp), func.max(events.c.timestamp))).one()
        return (_as_datetime(lo), _as_datetime(hi))

    # ------------------------------------------------------------------ API keys
    def add_api_key(self, role: str, label: str = "") -> str:
        """A new random key for ``role`` (see ``ROLES``); only its hash is stored, so show it now or never."""
        if role not in ROLES:
            raise ConfigurationError(f"role {role!r} is not valid; valid: {', '.join(ROLES)}")
        key = "reco_" + secrets.token_urlsafe(24)
        with self.transaction() as conn:
            conn.execute(insert(api_keys).values(key_hash=key_hash(key), role=role, label=label[:255],
                                                 created_at=utc_now()))
        return key

    def role_for_key(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(_ROLE, {"key_hash": key_hash(key)}).scalar_one_or_none()

    def api_key_roles(self) -> dict[str, str]:
        """Every key's hash and role: what the API checks keys against between syncs."""
        with self.engine.connect() as conn:
            return {r[0]: r[1] for r in conn.execute(select(api_keys.c.key_hash, api_keys.c.role))}

    def api_keys(self) -> pd.DataFrame:
        """Role, label, creation time and the first 8 characters of each key's hash (never the key)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(api_keys.c.key_hash, api_keys.c.role, api_keys.c.label,
                                       api_keys.c.created_at)).fetchall()
        df = pd.DataFrame(rows, columns=["key_hash", "role", "label", "created_at"])
        return df.assign(key_hash=df["key_hash"].str[:8])

    def revoke_api_keys(self, label: str) -> int:
        """Delete the keys labelled ``label`` and the dashboard sessions opened with them; how many keys."""
        with self.transaction() as conn:
            revoked = select(api_keys.c.key_hash).where(api_keys.c.label == label)
            conn.execute(delete(dashboard_sessions).where(dashboard_sessions.c.key_hash.in_(revoked)))
            return int(conn.execute(delete(api_keys).where(api_keys.c.label == label)).rowcount)

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except OperationalError:
            return False
        return True


def _busy(exc: OperationalError) -> bool:
    """Whether a write failed only because another held the lock (SQLite 'database is locked', PostgreSQL
    lock_timeout, SQLSTATE 55P03)."""
    orig = exc.orig
    return "database is locked" in str(orig) or getattr(orig, "sqlstate", None) == "55P03"


def _read_types(event_types: Sequence[str]) -> list[str]:
    """The event types to read for ``event_types``: purchases come with returns, to net them."""
    return sorted({*event_types, "return"} if "purchase" in event_types else set(event_types))


def _net_of_returns(rows: Sequence[Any], event_types: Sequence[str], key: Callable[[Any], object],
                    type_at: int) -> list[Any]:
    """``rows`` (with event type at ``type_at``, quantity after it) of ``event_types`` only, purchases of a
    pair (``key``) returned in full left out (reco.store.returns), in their order."""
    gone = returned_in_full(((key(r), r[type_at + 1]) for r in rows if r[type_at] == "purchase"),
                            ((key(r), r[type_at + 1]) for r in rows if r[type_at] == "return"))
    wanted = set(event_types)
    return [r for r in rows if r[type_at] in wanted and not (r[type_at] == "purchase" and key(r) in gone)]


def _as_datetime(value: object) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    ts = pd.Timestamp(value)  # type: ignore[arg-type]
    return None if ts is pd.NaT else ts.to_pydatetime()


def _datetimes(values: list[Any]) -> np.ndarray:
    """datetime64[us] from datetimes or ISO text (SQLite); pandas parses any text numpy does not."""
    try:
        return np.array(values, dtype="datetime64[us]")
    except ValueError:
        return pd.to_datetime(pd.Series(values, dtype=object), format="mixed").to_numpy(dtype="datetime64[us]")


__all__ = ["EventStore", "make_engine"]
