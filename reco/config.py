"""One settings object for the library, the jobs and the API (environment prefix ``RECO_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL = "ranker"  # what `reco train` fits and serving uses unless told otherwise


class Settings(BaseSettings):
    """Runtime settings, read from ``RECO_*`` environment variables or a ``.env`` file."""

    model_config = SettingsConfigDict(env_prefix="RECO_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///var/reco.db"
    model_dir: Path = Path("models")
    # The secret of the keyed customer-id hashes (erasures, change feed): outside the database, the same file
    # for every process of a deployment; created on first use (see reco.store.hashing).
    secret_file: Path = Path("var/reco.secret")
    host: str = "127.0.0.1"
    port: int = 8000
    default_n: int = 10
    max_n: int = 100
    log_level: str = "INFO"
    reload_seconds: float = 5.0  # how often the API looks for a newly promoted model version (0: never)
    # How often each API process re-reads API keys and erasures recorded by other processes: a revoked
    # key stops working, and an erased customer's cached lists leave memory, in every worker within this.
    sync_seconds: float = Field(default=5.0, gt=0)
    offers_refresh_seconds: float = Field(default=30.0, gt=0)  # how stale the API's offer budgets and rates may be
    # Requests one API process computes side by side. More threads than cores only fight over the GIL:
    # at 32 connections on 2 cores, 40 threads (anyio's default) gave 49 recommendations/s, 2 gave 83.
    threads: int = Field(default=2, ge=1, le=64)
    # Top lists (one per customer and mode) each API process keeps, and for how long; 0: no cache. A list
    # is reused only for the exact history it was computed from (see reco.service), so never stale; an
    # erasure drops it in every process within sync_seconds. With cache_warm, a newly loaded version
    # computes the lists of the cache_size / 2 most recent customers in the background.
    cache_size: int = Field(default=50_000, ge=0)
    cache_seconds: float = Field(default=86_400.0, gt=0)
    cache_warm: bool = True
    # The largest request body the API reads (a batch of 1,000 events is about 200 KB); larger: 413.
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    # How long an API write waits for another writer (a bulk ingest holds SQLite's lock for its whole run)
    # before answering 503 with Retry-After; and how many writes run side by side, apart from the reads
    # (settings.threads), so reads never queue behind writes.
    write_wait_seconds: float = Field(default=5.0, gt=0, le=300)
    write_threads: int = Field(default=2, ge=1, le=64)
    # The contact policy of offers (reco.offers.policy), for the export and the API alike: contacts per
    # customer per channel per period ("channel=count/days", comma-separated); suppression after this many
    # ignored offers in a row or declines within suppress_days; the control group's share; the margin
    # on spend that an offer's expected value counts.
    offer_caps: str = "email=1/7,sms=1/7"
    offer_ignored_limit: int = Field(default=3, ge=1)
    offer_declined_limit: int = Field(default=2, ge=1)
    offer_suppress_days: int = Field(default=90, ge=1)
    offer_control_share: float = Field(default=0.10, ge=0, lt=1)
    offer_margin_rate: float = Field(default=0.3, gt=0, le=1)
    # Offer answers each API process keeps (customers; 0: none), for at most offers_cache_seconds, and the
    # queries ("n:channel", comma-separated) computed ahead for the most recent customers (serving.offers).
    offers_cache_size: int = Field(default=50_000, ge=0)
    offers_cache_seconds: float = Field(default=300.0, gt=0)
    offers_warm: str = "3:app,3:web"
    # The quality gate of retraining (training.gate): a new version is promoted only when its nDCG@10 per
    # mode is at most this share below the promoted version's on the same data and window; and the
    # versions kept in model_dir (older ones pruned, never the promoted one or the one before it).
    gate_tolerance: float = Field(default=0.02, ge=0, lt=1)
    keep_versions: int = Field(default=10, ge=2)
    # When the worker queues a retraining by itself (cron syntax, e.g. "0 3 * * *" nightly at 03:00 UTC;
    # empty: never). A scheduled run is skipped when no purchase arrived since the last version's data.
    retrain_schedule: str = ""
    # How long a dashboard sign-in lasts (hours); revoking its API key ends it at once.
    dashboard_session_hours: float = Field(default=8.0, gt=0, le=720)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; call ``get_settings.cache_clear()`` after changing the env)."""
    return Settings()
