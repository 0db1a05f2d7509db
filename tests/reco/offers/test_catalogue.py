"""The offer catalogue: CSV, JSON and YAML catalogues, rules as data, precise refusals, all-or-nothing storing."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from reco.exceptions import InputError
from reco.ingest.offers import ingest_offers, read_catalogue
from reco.offers import Offer
from reco.store import EventStore

HEADER = "offer_id,name,kind,scope,value,channels,valid_from,valid_until,budget,max_per_customer"
MEAT = "o-meat,5 off meat,amount_off,category:MEAT,5,email,2017-01-01,2030-01-01,200,1"  # the issue's example


def _csv(tmp_path: Path, *rows: str, header: str = HEADER) -> Path:
    path = tmp_path / "offers.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_the_issues_csv_example(tmp_path: Path) -> None:
    [offer] = read_catalogue(_csv(tmp_path, MEAT))
    assert (offer.offer_id, offer.kind, str(offer.scope), offer.value, offer.channels) == (
        "o-meat", "amount_off", "category:MEAT", 5.0, ("email",))
    assert (offer.budget_contacts, offer.max_per_customer, offer.valid_from) == (200, 1, datetime(2017, 1, 1))
    assert offer.active_at(datetime(2020, 1, 1)) and not offer.active_at(datetime(2031, 1, 1))


def test_rules_in_a_csv_column_json_and_yaml(tmp_path: Path) -> None:
    rules = [{"attribute": "segment", "op": "in", "value": ["at risk", "hibernating"]},
             {"attribute": "churn_probability", "op": "between", "value": [0.3, 0.9]},
             {"attribute": "days_since_last_purchase", "op": ">=", "value": 30},
             {"attribute": "bought_category", "op": "within_days", "value": "MEAT", "days": 90},
             {"attribute": "bought_item", "op": "not_within_days", "value": "1004906", "days": 365}]
    cell = json.dumps(rules).replace('"', '""')
    [from_csv] = read_catalogue(_csv(tmp_path, f'{MEAT},"{cell}"', header=HEADER + ",rules"))
    assert len(from_csv.rules) == 5 and from_csv.rules[3].days == 90
    offer = {"offer_id": "o-app", "name": "double points", "kind": "points_multiplier", "value": 2,
             "scope": "items:A|B|C", "channels": ["app", "web"], "valid_from": "2017-01-01T00:00:00+01:00",
             "valid_until": "2018-01-01", "budget_cost": 500.5, "cost_per_redemption": 1.25, "weight": 2,
             "rules": rules}
    (tmp_path / "c.json").write_text(json.dumps({"offers": [offer]}))
    [from_json] = read_catalogue(tmp_path / "c.json")
    assert from_json.scope.items == ("A", "B", "C") and from_json.valid_from == datetime(2016, 12, 31, 23)
    import yaml

    (tmp_path / "c.yaml").write_text(yaml.safe_dump([offer]))
    [from_yaml] = read_catalogue(tmp_path / "c.yaml")
    assert from_yaml == from_json
    assert Offer.model_validate(from_json.to_record()) == from_json  # the stored form reads back the same


@pytest.mark.parametrize(("row", "says"), [
    ("o-bad,x,amount_off,basket,5,email,2030-01-01,2017-01-01,200,1", "o-bad.*valid_until.*is not after valid_from"),
    ("o-bad,x,amount_off,basket,5,email,2017-01-01,2030-01-01,-1,1", "o-bad.*budget_contacts.*greater than or equal"),
    ("o-bad,x,amount_off,basket,5,email|pigeon,2017-01-01,2030-01-01,1,1", r"o-bad.*channels\.1.*'pigeon'"),
    ("o-bad,x,amount_off,shelf:3,5,email,2017-01-01,2030-01-01,1,1", "o-bad.*scope.*'shelf:3' is not items"),
    ("o-bad,x,teleport,basket,5,email,2017-01-01,2030-01-01,1,1", "o-bad.*kind.*percent_off"),
    ("o-bad,x,percent_off,basket,150,email,2017-01-01,2030-01-01,1,1", r"o-bad.*needs a value in \(0, 100\]"),
    ("o-bad,x,amount_off,basket,5,email,someday,2030-01-01,1,1", "o-bad.*valid_from"),
])
def test_bad_definitions_name_the_offer_field_and_value(tmp_path: Path, row: str, says: str) -> None:
    with pytest.raises(InputError, match=says):
        read_catalogue(_csv(tmp_path, MEAT, row))


@pytest.mark.parametrize(("rule", "says"), [
    ({"attribute": "shoe_size", "op": ">", "value": 40}, "unknown attribute 'shoe_size'; valid: churn_probability"),
    ({"attribute": "segment", "op": ">", "value": 3}, "attribute 'segment' takes no operator '>'; valid: in, not_in"),
    ({"attribute": "churn_probability", "op": "between", "value": [0.9, 0.1]}, "low <= high"),
    ({"attribute": "orders", "op": ">=", "value": "many"}, "needs a number"),
    ({"attribute": "bought_category", "op": "within_days", "value": "MEAT"}, "needs 'days'"),
    ({"attribute": "segment", "op": "in", "value": ["lost"], "days": 3}, "'days' applies to bought_category"),
])
def test_bad_rules_are_refused(rule: dict, says: str) -> None:
    from reco.offers import validate_offers

    record = {"offer_id": "o-r", "name": "x", "kind": "free_shipping", "channels": "web",
              "valid_from": "2017-01-01", "valid_until": "2018-01-01", "rules": [rule]}
    with pytest.raises(InputError, match=f"o-r.*rules.0.*{says}"):
        validate_offers([record], "test")


def test_a_catalogue_is_stored_whole_or_not_at_all(store: EventStore, tmp_path: Path) -> None:
    report = ingest_offers(store, _csv(tmp_path, MEAT, "o-fish,3 off fish,amount_off,category:FISH,3,email|sms,"
                                                      "2017-01-01,2030-01-01,100,2"))
    assert (report["inserted"], report["replaced"], report["offers_total"]) == (2, 0, 2)
    bad = _csv(tmp_path, MEAT.replace("5 off", "6 off"), "o-new,x,amount_off,basket,5,fax,2017-01-01,2030-01-01,1,1")
    with pytest.raises(InputError, match="o-new"):
        ingest_offers(store, bad)
    assert [o.name for o in store.offers.all()] == ["3 off fish", "5 off meat"]  # nothing of the bad file
    again = ingest_offers(store, _csv(tmp_path, MEAT.replace("5 off", "6 off")))
    assert (again["inserted"], again["replaced"]) == (0, 1) and store.offers.get("o-meat").name == "6 off meat"
    with pytest.raises(InputError, match="'o-meat' is defined twice"):
        ingest_offers(store, _csv(tmp_path, MEAT, MEAT))
