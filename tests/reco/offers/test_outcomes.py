"""Offer outcomes: loaded from files and the API with ingest's checks, idempotent, erased with the customer."""

from __future__ import annotations

from pathlib import Path

from reco.erasure import erase_customer
from reco.ingest import ingest, record_outcomes
from reco.registry import ModelRegistry
from reco.store import EventStore

ROWS = ("customer_id,offer_id,outcome,channel,timestamp,decision_id\n"
        "c1,o-meat,sent,email,2017-03-03 09:00:00,d1\n"
        "c1,o-meat,Opened,E-mail,2017-03-04 10:00:00,d1\n"
        "c1,o-meat,redemption,store,2017-03-10 18:00:00,d1\n"
        "c2,o-meat,contact,mail,2017-03-03 09:00:00,\n"
        "c2,o-meat,teleported,email,2017-03-04 09:00:00,\n"
        "c2,o-meat,sent,fax,2017-03-04 09:00:00,\n"
        ",o-meat,sent,email,2017-03-04 09:00:00,\n"
        "c3,,sent,email,2017-03-04 09:00:00,\n"
        "c3,o-meat,sent,email,2099-01-01 00:00:00,\n"
        "c1,o-meat,sent,email,2017-03-03 09:00:00,d1\n")


def test_a_file_of_outcomes(store: EventStore, tmp_path: Path) -> None:
    path = tmp_path / "outcomes.csv"
    path.write_text(ROWS)
    report = ingest(store, path, kind="offer-outcomes")
    assert report.dropped == {"unknown_outcome": 1, "unknown_channel": 1, "missing_customer_id": 1,
                              "missing_offer_id": 1, "timestamp_in_future": 1}
    assert (report.inserted, report.duplicates, report.offer_outcomes_total) == (4, 1, 4)
    stored = store.offers.outcomes("c1")
    assert stored["outcome"].tolist() == ["sent", "opened", "redeemed"]
    assert stored["channel"].tolist() == ["email", "email", "store"] and set(stored["decision_id"]) == {"d1"}
    assert ingest(store, path, kind="offer-outcomes").inserted == 0  # idempotent
    assert store.offers.outcomes("c2")["outcome"].tolist() == ["sent"]


def test_outcomes_leave_with_an_erasure_and_never_come_back(store: EventStore, tmp_path: Path) -> None:
    sent = [{"customer_id": "c1", "offer_id": "o-meat", "outcome": "sent", "channel": "email",
             "timestamp": "2017-03-03T09:00:00"}]
    assert record_outcomes(store, sent).inserted == 1
    report = erase_customer(store, ModelRegistry(tmp_path / "models"), "c1")
    assert report.offer_outcomes == 1 and store.offers.outcomes("c1").empty
    again = record_outcomes(store, sent)
    assert again.inserted == 0 and again.dropped == {"erased_customer": 1}
    assert store.customer_data("c1")["offer_outcomes"].empty
