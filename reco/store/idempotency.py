"""Idempotency keys: a request sent again with the same ``Idempotency-Key`` is answered as the first one
was, and what it wrote is written once.

Keys are scoped to the API key that sent them and kept by hash only, with a hash of the request, so a
key reused for another request is told apart (and refused). The response is saved inside the
transaction that wrote the events, so either both are stored or neither is; two copies of a request
in flight at once end with one writer, and the other answered as it was. Keys are forgotten after
``KEPT``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, delete, insert, select

from reco.clock import utc_now
from reco.store.tables import idempotency_keys

KEPT = timedelta(hours=24)
MAX_KEY_LENGTH = 255


def scoped_key(api_key_hash: str, key: str) -> str:
    return hashlib.sha256(f"{api_key_hash}\x1f{key}".encode()).hexdigest()


def request_hash(payload: object) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


class IdempotencyKeys:
    """The idempotency keys of one store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def lookup(self, key_hash: str) -> tuple[str, dict] | None:
        """(request hash, response) saved for the key, or None (never seen, or older than ``KEPT``)."""
        stmt = select(idempotency_keys.c.request_hash, idempotency_keys.c.response,
                      idempotency_keys.c.created_at).where(idempotency_keys.c.key_hash == key_hash)
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        if row is None or utc_now() - _as_naive(row[2]) > KEPT:
            return None
        return row[0], json.loads(row[1])

    def save(self, conn: Connection, key_hash: str, request: str, response: dict) -> None:
        """Save the response inside the caller's (writing) transaction; a key saved meanwhile by a copy of
        the request fails it with an IntegrityError (the caller answers with the saved one)."""
        now = utc_now()
        conn.execute(delete(idempotency_keys).where(idempotency_keys.c.created_at < now - KEPT))
        conn.execute(insert(idempotency_keys).values(key_hash=key_hash, request_hash=request,
                                                     response=json.dumps(response), created_at=now))


def _as_naive(value: object) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    return datetime.fromisoformat(str(value))
