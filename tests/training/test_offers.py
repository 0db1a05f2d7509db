"""`reco evaluate offers` on a small made-up loyalty programme: customers who buy an offer's items redeem it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reco.ingest import ingest, record_outcomes
from reco.store import EventStore
from training.cli import main


def _programme(store: EventStore, tmp_path: Path, seed: int = 0) -> None:
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


def test_evaluate_offers(settings_env: dict[str, str], store: EventStore, tmp_path: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "offers"]) == 2  # no outcomes yet
    assert "no 'sent' offer outcomes" in capsys.readouterr().err
    _programme(store, tmp_path)
    assert main(["ingest", str(tmp_path / "offers.yaml"), "--kind", "offers"]) == 0
    capsys.readouterr()
    out = tmp_path / "offers.json"
    assert main(["evaluate", "offers", "--test-from", "2017-10-01", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "response_model" in printed and "past_redemptions" in printed
    result = json.loads(out.read_text())
    assert (result["train"], result["test"]) == (600, 300)
    # the fish offer is tested on what the meat offers taught: affinity to the offer's items, not the offer id
    assert result["models"]["response_model"]["auc"] > 0.75
    assert result["models"]["response_model"]["auc"] > result["models"]["past_redemptions"]["auc"]
    assert main(["evaluate", "offers", "--test-from", "2030-01-01"]) == 2
    assert main(["evaluate", "offers", "--test-from", "soon"]) == 2


def test_train_offers_keeps_the_model_with_the_version(settings_env: dict[str, str], store: EventStore,
                                                       tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from reco.exceptions import ArtifactError
    from reco.offers.response import ResponseModel
    from reco.registry import ModelRegistry
    from training.offers import offer_data

    _programme(store, tmp_path)
    assert main(["ingest", str(tmp_path / "offers.yaml"), "--kind", "offers"]) == 0
    assert main(["train", "offers"]) == 1  # no model version to keep it with yet
    assert "no promoted model" in capsys.readouterr().err
    assert main(["train", "--param", "factors=4", "--param", "iterations=2"]) == 0
    version = _last(capsys)["version"]
    assert main(["train", "offers"]) == 0
    trained = _last(capsys)
    assert trained["version"] == version and trained["contacts"] == 900 and trained["chosen"] in ("logistic", "gbm",
                                                                                                     "blend")
    registry = ModelRegistry(settings_env["RECO_MODEL_DIR"])
    folder = registry.part_path(version, "offers")
    model = ResponseModel.load(folder)
    from reco.offers.response import contact_features

    contacts, data = offer_data(store)
    p = model.predict_proba(contact_features(contacts, data))
    assert p.shape == (900,) and p[contacts["y"].to_numpy() == 1].mean() > p[contacts["y"].to_numpy() == 0].mean()
    blob = folder / "pipeline-0.joblib"
    blob.write_bytes(blob.read_bytes()[:100])
    with pytest.raises(ArtifactError, match="cannot read the response model"):
        ResponseModel.load(folder)


def _last(capsys: pytest.CaptureFixture[str]) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])
