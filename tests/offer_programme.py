"""A small made-up loyalty programme for offer tests: 300 customers who like meat (even ids) or fish (odd),
three past campaigns with contacts and redemptions, and (``prepare``) consent, a catalogue with
categories, the winter offers, a model version and its response model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from reco.ingest import ingest, record_outcomes
from reco.store import EventStore


def make_programme(store: EventStore, tmp_path: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    rows, outcomes = [], []
    start = pd.Timestamp("2017-01-01")
    catalogue = [f"meat{i}" for i in range(10)] + [f"fish{i}" for i in range(10)]
    for c in range(300):
        likes_meat = c % 2 == 0
        for k in range(12):
            pool = catalogue[:10] if (likes_meat if rng.random() < 0.85 else not likes_meat) else catalogue[10:]
            rows.append({"customer_id": f"c{c}", "item_id": pool[int(rng.integers(10))],
                         "timestamp": start + pd.Timedelta(days=int(rng.integers(0, 300))), "order_id": f"o{c}-{k}",
                         "quantity": 1, "price": 2.0})
        for month, offer in ((4, "meat-deal"), (8, "meat-deal-2"), (10, "fish-deal")):
            at = start + pd.DateOffset(months=month)
            outcomes.append({"customer_id": f"c{c}", "offer_id": offer, "outcome": "sent", "timestamp": at})
            fits = likes_meat == offer.startswith("meat")
            if rng.random() < (0.45 if fits else 0.05):
                outcomes.append({"customer_id": f"c{c}", "offer_id": offer, "outcome": "redeemed",
                                 "channel": "store", "timestamp": at + pd.Timedelta(days=5)})
    log = pd.DataFrame(rows)
    log.assign(timestamp=log["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S")).to_csv(tmp_path / "log.csv", index=False)
    ingest(store, tmp_path / "log.csv")
    record_outcomes(store, outcomes)
    (tmp_path / "offers.yaml").write_text(
        "- {offer_id: meat-deal, name: meat, kind: amount_off, value: 2, scope: 'category:meat', channels: email,"
        " valid_from: 2017-01-01, valid_until: 2018-01-01}\n"
        "- {offer_id: meat-deal-2, name: meat again, kind: percent_off, value: 10,"
        " scope: 'items:meat0|meat1|meat2|meat3|meat4|meat5|meat6|meat7|meat8|meat9', channels: email,"
        " valid_from: 2017-01-01, valid_until: 2018-01-01}\n"
        "- {offer_id: fish-deal, name: fish, kind: amount_off, value: 1,"
        " scope: 'items:fish0|fish1|fish2|fish3|fish4|fish5|fish6|fish7|fish8|fish9', channels: email,"
        " valid_from: 2017-01-01, valid_until: 2018-01-01}\n")


WINTER = (
    "- {offer_id: winter-meat, name: winter meat, kind: amount_off, value: 2, scope: 'category:meat',"
    " channels: 'email|sms', valid_from: 2017-11-01, valid_until: 2018-02-01, budget: 40, cost_per_contact: 0.01}\n"
    "- {offer_id: winter-fish, name: winter fish, kind: amount_off, value: 1,"
    " scope: 'items:fish0|fish1|fish2|fish3|fish4|fish5|fish6|fish7|fish8|fish9', channels: email,"
    " valid_from: 2017-11-01, valid_until: 2018-02-01, max_per_customer: 1}\n"
    "- {offer_id: tips, name: picked for you, kind: product_recommendation, channels: email,"
    " valid_from: 2017-11-01, valid_until: 2018-02-01}\n")


def prepare(store: EventStore, tmp_path: Path) -> EventStore:
    """The programme, ready to decide from (see the module docstring)."""
    from training.cli import main

    make_programme(store, tmp_path)
    (tmp_path / "winter.yaml").write_text(WINTER)
    rows = ["customer_id,consent_marketing,consent_personalisation,preferred_channel"]
    for c in range(300):  # c0..c199 may be contacted; every 7th of them opted out of personalisation
        rows.append(f"c{c},{'true' if c < 200 else 'false'},{'false' if c % 7 == 0 else 'true'},"
                    f"{'sms' if c % 5 == 0 else ''}")
    (tmp_path / "customers.csv").write_text("\n".join(rows) + "\n")
    assert main(["ingest", str(tmp_path / "customers.csv"), "--kind", "customers"]) == 0
    items = [f"{kind}{i},{kind} {i},{kind}" for kind in ("meat", "fish") for i in range(10)]
    (tmp_path / "items.csv").write_text("item_id,name,category\n" + "\n".join(items) + "\n")
    assert main(["ingest", str(tmp_path / "items.csv"), "--kind", "items"]) == 0
    for catalogue in ("offers.yaml", "winter.yaml"):
        assert main(["ingest", str(tmp_path / catalogue), "--kind", "offers"]) == 0
    assert main(["train", "--param", "factors=4", "--param", "iterations=2"]) == 0
    assert main(["train", "offers"]) == 0
    return store
