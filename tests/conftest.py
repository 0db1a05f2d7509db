"""Shared fixtures: a store on SQLite and on PostgreSQL, and small purchase logs made here."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from reco.config import get_settings
from reco.store import EventStore
from tests.factories import make_purchases

PG_URL = os.environ.get("RECO_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("RECO_REQUIRE_POSTGRES") == "1"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
_pg_error: list[str] = []


def _pg_reason() -> str | None:
    """None when PostgreSQL answers, else why not (checked once per session)."""
    if not _pg_error:
        try:
            engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            engine.dispose()
            _pg_error.append("")
        except Exception as exc:
            _pg_error.append(f"PostgreSQL not reachable at {PG_URL}: {type(exc).__name__}: {exc}".strip())
    return _pg_error[0] or None


@pytest.fixture(autouse=True, scope="session")
def _secret_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every store of the run (and every process it starts) hashes customer ids with one secret made for the
    run, never the repository's var/reco.secret."""
    previous = os.environ.get("RECO_SECRET_FILE")
    os.environ["RECO_SECRET_FILE"] = str(tmp_path_factory.mktemp("secret") / "reco.secret")
    get_settings.cache_clear()
    yield
    if previous is None:
        os.environ.pop("RECO_SECRET_FILE", None)
    else:
        os.environ["RECO_SECRET_FILE"] = previous
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """The test PostgreSQL; skips with the reason when absent, fails instead under RECO_REQUIRE_POSTGRES=1."""
    reason = _pg_reason()
    if reason:
        if REQUIRE_PG:
            pytest.fail(f"{reason} (RECO_REQUIRE_POSTGRES=1 demands it)")
        pytest.skip(reason)
    yield PG_URL


@pytest.fixture
def pg_schema_url(pg_url: str) -> Iterator[str]:
    """A URL whose connections live in a fresh schema, dropped afterwards (isolates each test)."""
    schema = f"reco_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = make_url(pg_url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'var' / 'reco.db'}"
    return request.getfixturevalue("pg_schema_url")


@pytest.fixture
def store(store_url: str) -> Iterator[EventStore]:
    s = EventStore(store_url)
    s.create_schema()
    yield s
    s.dispose()


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch, store_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """RECO_* settings pointing at this test's store and a fresh model directory."""
    env = {"RECO_DATABASE_URL": store_url, "RECO_MODEL_DIR": str(tmp_path / "models")}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield env
    get_settings.cache_clear()


@pytest.fixture
def purchases() -> pd.DataFrame:
    return make_purchases()


@pytest.fixture
def purchases_csv(tmp_path: Path, purchases: pd.DataFrame) -> Path:
    path = tmp_path / "purchases.csv"
    purchases.assign(timestamp=purchases["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S")).to_csv(path, index=False)
    return path


@pytest.fixture
def programme(settings_env: dict[str, str], store: EventStore, tmp_path: Path,
              capsys: pytest.CaptureFixture[str]) -> EventStore:
    """tests.offer_programme, ingested, trained and ready for offer decisions."""
    from tests.offer_programme import prepare

    prepare(store, tmp_path)
    capsys.readouterr()
    return store
