"""Dashboard sessions: opened with a known key only, hashed at rest, ended by expiry, sign-out or
revoking the key; the key's role is read on every use."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select

from reco.clock import utc_now
from reco.exceptions import ConfigurationError
from reco.store import EventStore
from reco.store.tables import dashboard_sessions


def test_open_read_expire_close_and_revoke(store: EventStore) -> None:
    key = store.add_api_key("marketer", label="campaigns")
    assert store.sessions.open("reco_unknown", hours=8) is None
    token, session = store.sessions.open(key, hours=8)
    assert session.role == "marketer" and len(session.csrf) >= 40
    with store.engine.connect() as conn:
        stored = conn.execute(select(dashboard_sessions)).mappings().one()
    assert stored["session_hash"] == hashlib.sha256(token.encode()).hexdigest()  # the token itself is not kept
    assert token not in str(dict(stored)) and key not in str(dict(stored))

    again = store.sessions.get(token)
    assert again is not None and again.role == "marketer" and again.csrf == session.csrf
    assert store.sessions.get(token, now=utc_now() + timedelta(hours=8, seconds=1)) is None  # expired
    assert store.sessions.get("forged") is None

    other, _ = store.sessions.open(key, hours=8)
    assert store.sessions.close(token) is True and store.sessions.get(token) is None
    assert store.sessions.close(token) is False
    assert store.sessions.get(other) is not None  # signing out ends that session only
    assert store.revoke_api_keys("campaigns") == 1
    assert store.sessions.get(other) is None  # no session outlives its key
    with store.engine.connect() as conn:
        assert conn.execute(select(dashboard_sessions)).fetchall() == []


def test_expired_sessions_are_swept_and_lengths_checked(store: EventStore) -> None:
    key = store.add_api_key("admin")
    store.sessions.open(key, hours=1, now=utc_now() - timedelta(hours=2))
    store.sessions.open(key, hours=1)
    with store.engine.connect() as conn:
        assert len(conn.execute(select(dashboard_sessions)).fetchall()) == 1  # the expired one was deleted
    for hours in (0, -1, 10_000):
        with pytest.raises(ConfigurationError, match="session length"):
            store.sessions.open(key, hours=hours)
