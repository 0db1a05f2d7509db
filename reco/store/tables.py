"""Canonical schema: events, items (the catalogue), customers (with consent), marketing contacts and
redemptions, and an ingest audit log."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from reco.vocabulary import ROLES  # noqa: F401  (the roles of api_keys; re-exported for the store)

EVENT_TYPES: tuple[str, ...] = ("purchase", "return", "view", "add_to_cart")
CHANNELS: tuple[str, ...] = ("web", "app", "store", "email", "phone", "other")
MARKETING_KINDS: tuple[str, ...] = ("contact", "redemption")  # a campaign reached them; they redeemed it

metadata = MetaData()

events = Table(
    "events",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("customer_id", String(128), nullable=False),
    Column("item_id", String(128), nullable=False),
    Column("timestamp", DateTime, nullable=False),
    Column("event_type", String(16), nullable=False),
    Column("quantity", Float, nullable=False),
    Column("price", Float),
    Column("order_id", String(128)),
    Column("channel", String(16), nullable=False),
    Column("discount", Float),
    Column("coupon_discount", Float),
    Column("source", String(255)),
    Index("ix_events_customer_time", "customer_id", "timestamp"),
    Index("ix_events_item", "item_id"),
)

items = Table(
    "items",
    metadata,
    Column("item_id", String(128), primary_key=True),
    Column("name", Text),
    Column("category", String(255)),
    Column("price", Float),
    Column("active", Boolean, nullable=False, default=True),
)

customers = Table(
    "customers",
    metadata,
    Column("customer_id", String(128), primary_key=True),
    Column("consent_personalisation", Boolean, nullable=False, default=True),
    Column("consent_marketing", Boolean, nullable=False, default=False),
    Column("preferred_channel", String(16)),
)

marketing = Table(
    "marketing",
    metadata,
    Column("marketing_id", String(64), primary_key=True),
    Column("customer_id", String(128), nullable=False),
    Column("campaign_id", String(128), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("timestamp", DateTime, nullable=False),
    Column("source", String(255)),
    Index("ix_marketing_customer", "customer_id"),
)

# Erased customers, by a keyed one-way hash of their id (reco.store.hashing): what keeps their data out of
# later ingests, and their id out of this database.
erasures = Table(
    "erasures",
    metadata,
    Column("customer_hash", String(64), primary_key=True),
    Column("erased_at", DateTime, nullable=False),
)

# Erasures whose model files (id mappings, score tables of saved versions) are not scrubbed yet: kept
# until every version is done, and retried (reco.store.erasures), so a failing file never leaves an id.
pending_erasures = Table(
    "pending_erasures",
    metadata,
    Column("customer_hash", String(64), primary_key=True),
    Column("erased_at", DateTime, nullable=False),
)

# The offer catalogue (reco.offers): one row an offer, its validated definition as JSON, so every field the
# catalogue grows needs no migration; reco.store.offers reads and writes it.
offers = Table(
    "offers",
    metadata,
    Column("offer_id", String(128), primary_key=True),
    Column("definition", Text, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

# What happened to offers made to customers (reco.store.offers): one row an outcome, its id a hash of its
# content (or the source's), so loading the same outcomes twice adds nothing.
offer_outcomes = Table(
    "offer_outcomes",
    metadata,
    Column("outcome_id", String(64), primary_key=True),
    Column("customer_id", String(128), nullable=False),
    Column("offer_id", String(128), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("channel", String(16)),
    Column("timestamp", DateTime, nullable=False),
    Column("decision_id", String(64)),
    Column("source", String(255)),
    Index("ix_offer_outcomes_customer", "customer_id"),
    Index("ix_offer_outcomes_offer", "offer_id"),
)
OUTCOME_COLUMNS: tuple[str, ...] = tuple(c.name for c in offer_outcomes.columns)

# Offer decisions of the CRM exports (reco.store.decisions): what was decided for whom, on which channel,
# treated or control. A treated decision is a planned contact: it counts against caps and budgets until
# its outcome arrives; control decisions are what ``reco report offers`` compares the treated with.
offer_decisions = Table(
    "offer_decisions",
    metadata,
    Column("decision_id", String(64), primary_key=True),
    Column("export_id", String(64), nullable=False),
    Column("customer_id", String(128), nullable=False),
    Column("offer_id", String(128), nullable=False),
    Column("channel", String(16)),
    Column("rank", Integer, nullable=False),
    Column("p_redeem", Float, nullable=False),
    Column("expected_value", Float, nullable=False),
    Column("control", Boolean, nullable=False),
    Column("decided_at", DateTime, nullable=False),
    Column("valid_until", DateTime, nullable=False),
    Index("ix_offer_decisions_customer", "customer_id"),
    Index("ix_offer_decisions_export", "export_id"),
)
DECISION_COLUMNS: tuple[str, ...] = tuple(c.name for c in offer_decisions.columns)

# One row per ``reco export offers``: its id (what --changed-since names), when and as of when it decided,
# the model version and its parameters and counts as JSON.
offer_exports = Table(
    "offer_exports",
    metadata,
    Column("export_id", String(64), primary_key=True),
    Column("created_at", DateTime, nullable=False),
    Column("decided_at", DateTime, nullable=False),
    Column("model_version", String(64)),
    Column("summary", Text, nullable=False),
)

# Responses of POST /v1/events by Idempotency-Key (scoped to the API key that sent it), so that a retried
# request is answered as the first was and stores nothing twice (reco.store.idempotency).
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key_hash", String(64), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("response", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
)

# Which customers' stored state (events, consent, erasure) changed, in commit order: API processes read
# it to know which of their in-memory answers went stale (reco.store.changes). Customers appear by
# their erasure hash, never their id; "*" stands for everyone (a bulk load). Written on SQLite only
# (PostgreSQL stores NOTIFY instead), where one writer at a time keeps sequence order and commit order
# the same; the last CHANGES_KEPT rows are kept (AUTOINCREMENT never reuses a number, so a reader can
# tell when it fell behind).
customer_changes = Table(
    "customer_changes",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("customer_hash", String(64), nullable=False),
    sqlite_autoincrement=True,
)
EVERYONE = "*"
CHANGES_KEPT = 100_000


# API keys by their SHA-256 (the key itself is shown once, when created, and stored nowhere).
api_keys = Table(
    "api_keys",
    metadata,
    Column("key_hash", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("label", String(255), nullable=False),
    Column("created_at", DateTime, nullable=False),
)

ingest_runs = Table(
    "ingest_runs",
    metadata,
    Column("run_id", Integer, primary_key=True, autoincrement=True),
    Column("source", Text, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime, nullable=False),
    Column("rows_read", Integer, nullable=False),
    Column("inserted", Integer, nullable=False),
    Column("duplicates", Integer, nullable=False),
    Column("dropped", Text, nullable=False),
)

# Training runs (reco.store.runs): the queue the worker takes runs from, one at a time, and their state,
# progress and results; the log lines of each run in their own table (appended while it runs).
training_runs = Table(
    "training_runs",
    metadata,
    Column("run_id", String(32), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("promote", String(8), nullable=False),
    Column("source", String(16), nullable=False),
    Column("state", String(12), nullable=False, index=True),
    Column("stage", String(64)),
    Column("done", Integer, nullable=False, default=0),
    Column("total", Integer, nullable=False, default=0),
    Column("created_at", DateTime, nullable=False),
    Column("started_at", DateTime),
    Column("finished_at", DateTime),
    Column("heartbeat_at", DateTime),
    Column("worker", String(128)),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("result", Text),
    Column("error", Text),
)

training_run_logs = Table(
    "training_run_logs",
    metadata,
    Column("run_id", String(32), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("at", DateTime, nullable=False),
    Column("line", Text, nullable=False),
)

# Dashboard sign-ins (reco.store.sessions): a session by the SHA-256 of its cookie's token, the API key it
# was opened with (by hash: revoking the key ends its sessions), the CSRF token of its forms, its expiry.
dashboard_sessions = Table(
    "dashboard_sessions",
    metadata,
    Column("session_hash", String(64), primary_key=True),
    Column("key_hash", String(64), nullable=False, index=True),
    Column("csrf", String(64), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False, index=True),
)

EVENT_COLUMNS: tuple[str, ...] = tuple(c.name for c in events.columns)
ITEM_COLUMNS: tuple[str, ...] = tuple(c.name for c in items.columns)
CUSTOMER_COLUMNS: tuple[str, ...] = tuple(c.name for c in customers.columns)
MARKETING_COLUMNS: tuple[str, ...] = tuple(c.name for c in marketing.columns)
