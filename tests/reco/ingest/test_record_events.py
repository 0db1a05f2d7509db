"""Live events written row by row store exactly what the frame-and-staging path stores, on both stores."""

from __future__ import annotations

from dataclasses import asdict

import pandas as pd
import pytest
from sqlalchemy import make_url, text

from reco.ingest import pipeline, record_events
from reco.store import EventStore
from tests.reco.ingest.test_normalise import ROWS, T, _row


def _tables(store: EventStore) -> dict[str, pd.DataFrame]:
    with store.engine.connect() as conn:
        return {table: pd.read_sql(text(f"SELECT * FROM {table} ORDER BY {key}"), conn)
                for table, key in (("events", "event_id"), ("items", "item_id"), ("customers", "customer_id"))}


def _report(report: pipeline.IngestReport) -> dict[str, object]:
    return {k: v for k, v in asdict(report).items() if k != "seconds"}


def test_row_path_stores_what_the_frame_path_stores(store_url: str, monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path_factory: pytest.TempPathFactory) -> None:
    rows_store = EventStore(store_url)
    rows_store.create_schema()
    second = None
    if rows_store.dialect == "sqlite":
        frames_url = f"sqlite:///{tmp_path_factory.mktemp('frames') / 'reco.db'}"
    else:  # a second schema beside the fixture's
        second = make_url(store_url).query["options"].split("=", 1)[1] + "_frames"
        frames_url = make_url(store_url).update_query_dict({"options": f"-csearch_path={second}"}).render_as_string(
            hide_password=False)
        with rows_store.engine.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {second}"))
    frames_store = EventStore(frames_url)
    frames_store.create_schema()
    later = T + pd.Timedelta(days=1)
    batches = [
        ROWS,
        [_row(), _row(customer_id="c9", price=4.0, name="Mug", category="kitchen"),  # a repeat, a new customer
         _row(customer_id="gone"), _row(item_id="i2\x00", name=None, price=None, timestamp=later)],
        [_row(customer_id="c9", item_id="i7", event_id="own-id", timestamp=later)] * 2,  # a repeat within
    ]
    reports = {}
    try:
        for name, store, row_path_max in (("rows", rows_store, pipeline.ROW_PATH_MAX), ("frames", frames_store, 0)):
            monkeypatch.setattr(pipeline, "ROW_PATH_MAX", row_path_max)
            store.erase_customer("gone")
            reports[name] = []
            for batch in batches:
                reports[name].append(_report(record_events(store, batch, source="POST /v1/events")))
                with store.engine.begin() as conn:  # a retired item comes back when an event names it
                    conn.execute(text("UPDATE items SET active = false WHERE item_id = 'i1'"))
        assert reports["rows"] == reports["frames"]
        assert reports["rows"][0]["inserted"] > 5 and reports["rows"][1]["duplicates"] == 1
        assert reports["rows"][1]["dropped"] == {"erased_customer": 1} and reports["rows"][2]["duplicates"] == 1
        rows, frames = _tables(rows_store), _tables(frames_store)
        for table in rows:
            pd.testing.assert_frame_equal(rows[table], frames[table], check_dtype=False)
        assert len(rows["events"]) == sum(r["inserted"] for r in reports["rows"])
    finally:
        frames_store.dispose()
        if second is not None:
            with rows_store.engine.begin() as conn:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {second} CASCADE"))
        rows_store.dispose()
