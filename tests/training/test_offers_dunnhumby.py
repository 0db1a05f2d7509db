"""Issue 15's done-criteria on dunnhumby's real campaigns and redemptions (slow: about two minutes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reco.ingest import ingest
from reco.offers.engine import read_inputs
from reco.offers.response import ResponseModel, contact_features
from reco.store import EventStore
from tests.conftest import SHARED
from training.offers import evaluate_offers, offer_data

DUNNHUMBY = SHARED / "dunnhumby_complete_journey"
WINTER = """
- {offer_id: soda-2, name: 2 off soft drinks, kind: amount_off, value: 2, scope: "category:SOFT DRINKS",
   channels: email|sms, valid_from: 2017-12-01, valid_until: 2018-01-01, budget: 300, cost_per_redemption: 0.2}
- {offer_id: bread-10, name: 10% off bread, kind: percent_off, value: 10, scope: "category:BAKED BREAD/BUNS/ROLLS",
   channels: email|app, valid_from: 2017-12-01, valid_until: 2018-01-01, budget: 150,
   rules: [{attribute: bought_category, op: within_days, value: "BAKED BREAD/BUNS/ROLLS", days: 60}]}
- {offer_id: basket-5, name: 5 off your next basket, kind: amount_off, value: 5, scope: basket, channels: email,
   valid_from: 2017-12-01, valid_until: 2018-01-01, budget: 100, cost_per_redemption: 1}
"""


@pytest.mark.slow
@pytest.mark.skipif(not DUNNHUMBY.is_dir(), reason=f"no dunnhumby data at {DUNNHUMBY}")
def test_dunnhumby_campaigns_model_and_export(tmp_path: Path) -> None:
    from reco.export.offers import export_offers

    store = EventStore(f"sqlite:///{tmp_path / 'reco.db'}")
    store.create_schema()
    ingest(store, DUNNHUMBY, preset="dunnhumby")
    assert len(store.offers.all()) == 27
    assert (store.offers.outcomes()["outcome"] == "sent").sum() == 6_589

    result = evaluate_offers(store, test_from=pd.Timestamp("2017-08-01"))
    models = result["models"]
    assert (result["train"], result["test"]) == (2_850, 3_739)
    assert models["response_model"]["auc"] >= 0.77
    assert models["response_model"]["auc"] > max(models["past_redemptions"]["auc"],
                                                 models["offer_items_bought_90d"]["auc"])

    households = store.customers()["customer_id"].tolist()
    rng = np.random.default_rng(0)
    consent = pd.DataFrame({"customer_id": households, "consent_marketing": rng.random(len(households)) < 0.6,
                            "consent_personalisation": rng.random(len(households)) < 0.95})
    consent.to_csv(tmp_path / "consent.csv", index=False)
    ingest(store, tmp_path / "consent.csv", kind="customers")
    (tmp_path / "winter.yaml").write_text(WINTER)
    from reco.ingest.offers import ingest_offers

    ingest_offers(store, tmp_path / "winter.yaml")
    contacts, data = offer_data(store)
    model = ResponseModel().fit(contact_features(contacts, data), contacts["y"].to_numpy(), contacts["at"])
    first = export_offers(store, read_inputs(store), model, "test", tmp_path / "nbo.csv",
                          at=pd.Timestamp("2017-12-01").to_pydatetime())
    table = pd.read_csv(tmp_path / "nbo.csv", dtype={"customer_id": str})
    allowed = set(consent.loc[consent["consent_marketing"], "customer_id"].astype(str))
    assert len(table) == first["rows"] > 500 and set(table["customer_id"]) <= allowed
    treated = table[~table["control"]]
    for offer, budget in (("soda-2", 300), ("bread-10", 150), ("basket-5", 100)):
        assert (treated["offer_id"] == offer).sum() <= budget
    assert 0.05 <= table["control"].mean() <= 0.15
    bread = table[table["offer_id"] == "bread-10"]
    opted_out = set(consent.loc[~consent["consent_personalisation"], "customer_id"].astype(str))
    assert not set(bread["customer_id"]) & opted_out  # a ruled offer reads their data
    # the same day again: the first export's email contacts are planned, the cap (1 in 7 days) is used
    export_offers(store, read_inputs(store), model, "test", tmp_path / "again.csv",
                  at=pd.Timestamp("2017-12-01 12:00").to_pydatetime())
    again = pd.read_csv(tmp_path / "again.csv", dtype={"customer_id": str})
    emailed = set(treated.loc[treated["channel"] == "email", "customer_id"])
    assert not set(again.loc[~again["control"] & (again["channel"] == "email"), "customer_id"]) & emailed
    both = pd.concat([treated, again[~again["control"]]])
    for offer, budget in (("soda-2", 300), ("bread-10", 150), ("basket-5", 100)):
        assert (both["offer_id"] == offer).sum() <= budget
    store.dispose()
