"""The time every stored timestamp is written in: UTC, without a zone (the store's columns hold naive
times on every backend). A module that imports nothing of reco, so the store and ingest can share it."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """Now as a naive UTC datetime: how every timestamp is stored."""
    return datetime.now(UTC).replace(tzinfo=None)
