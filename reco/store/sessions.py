"""Dashboard sign-ins: a marketer or admin signs in with an API key and gets a session token for a cookie.

Only the token's SHA-256 is stored, so a copy of the database opens no session; the session names its
API key by hash and reads the key's role on every use, so revoking a key (``reco keys revoke``) ends its
sessions at once and a key's role is never cached in a session. Each session has its own CSRF token for
the dashboard's forms. Expired sessions are deleted when a new one opens. Rows hold no customer ids.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, delete, insert, select

from reco.clock import utc_now
from reco.exceptions import ConfigurationError
from reco.store.tables import api_keys, dashboard_sessions


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    """A live session: the role of its key now, its CSRF token and when it ends."""

    role: str
    csrf: str
    expires_at: datetime


class SessionStore:
    """Dashboard sessions in one store."""

    def __init__(self, engine: Engine, transaction: Callable[[], AbstractContextManager[Connection]] | None = None
                 ) -> None:
        self.engine = engine
        self._begin = transaction or engine.begin

    def open(self, key: str, hours: float, now: datetime | None = None) -> tuple[str, Session] | None:
        """A new session for API ``key`` lasting ``hours``: (token for the cookie, session), or None for a key
        the store does not know. The caller checks the role."""
        if not 0 < hours <= 24 * 365:
            raise ConfigurationError(f"session length {hours!r} hours must be in (0, 8760]")
        now = now or utc_now()
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self._begin() as conn:
            role = conn.execute(select(api_keys.c.role).where(api_keys.c.key_hash == _hash(key))).scalar_one_or_none()
            if role is None:
                return None
            conn.execute(delete(dashboard_sessions).where(dashboard_sessions.c.expires_at <= now))
            expires = now + timedelta(hours=hours)
            conn.execute(insert(dashboard_sessions).values(session_hash=_hash(token), key_hash=_hash(key), csrf=csrf,
                                                           created_at=now, expires_at=expires))
        return token, Session(role=role, csrf=csrf, expires_at=expires)

    def get(self, token: str, now: datetime | None = None) -> Session | None:
        """The session of ``token`` if it has not expired and its key still exists, else None."""
        now = now or utc_now()
        query = (select(api_keys.c.role, dashboard_sessions.c.csrf, dashboard_sessions.c.expires_at)
                 .join(api_keys, api_keys.c.key_hash == dashboard_sessions.c.key_hash)
                 .where(dashboard_sessions.c.session_hash == _hash(token), dashboard_sessions.c.expires_at > now))
        with self.engine.connect() as conn:
            row = conn.execute(query).one_or_none()
        return None if row is None else Session(role=row[0], csrf=row[1], expires_at=row[2])

    def close(self, token: str) -> bool:
        """End the session of ``token`` (signing out); whether there was one."""
        with self._begin() as conn:
            gone = conn.execute(delete(dashboard_sessions).where(dashboard_sessions.c.session_hash == _hash(token)))
        return bool(gone.rowcount)
