"""`reco evaluate offers` on a small made-up loyalty programme: customers who buy an offer's items redeem it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reco.store import EventStore
from tests.offer_programme import make_programme as _programme
from training.cli import main


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
