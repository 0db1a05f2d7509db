"""`reco export offers` and `reco report offers` on the made-up loyalty programme of test_offers: consent,
budgets, caps, the control group, planned contacts, --changed-since, erasure, and lift against control."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from reco.erasure import erase_customer
from reco.ingest import record_outcomes
from reco.registry import ModelRegistry
from reco.store import EventStore
from tests.training.test_offers import _last
from training.cli import main


def test_export_respects_consent_budgets_caps_and_control(programme: EventStore, tmp_path: Path,
                                                          settings_env: dict[str, str],
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    store = programme
    out = tmp_path / "nbo.csv"
    assert main(["export", "offers", "--out", str(out), "--as-of", "2017-12-01"]) == 0
    result = _last(capsys)
    table = pd.read_csv(out, dtype={"customer_id": str})
    manifest = json.loads((tmp_path / "nbo.csv.manifest.json").read_text())
    assert manifest["kind"] == "offers" and manifest["rows"] == len(table) == result["rows"] > 0
    assert manifest["parameters"]["export_id"] == result["export_id"]
    assert list(table.columns) == ["customer_id", "offer_id", "channel", "rank", "p_redeem", "expected_value",
                                   "reasons", "valid_until", "decision_id", "control"]
    number = table["customer_id"].str[1:].astype(int)
    assert (number < 200).all()  # marketing consent only
    assert table["customer_id"].is_unique  # --n 1
    treated = table[~table["control"]]
    assert (treated["offer_id"] == "winter-meat").sum() <= 40  # the budget
    assert set(table["offer_id"]) <= {"winter-meat", "winter-fish", "tips"}  # valid on the day
    assert {"winter-meat", "winter-fish"} <= set(table["offer_id"])
    assert 0 < table["control"].mean() < 0.25
    assert result["budget_use"]["winter-meat"]["this_export"] == (treated["offer_id"] == "winter-meat").sum()
    opted_out = table[(number % 7 == 0) & (table["offer_id"] != "tips")]
    assert (opted_out["reasons"].fillna("") == "").all()  # nothing personal in their reasons
    sms = table[table["channel"] == "sms"]
    assert len(sms) and (sms["customer_id"].str[1:].astype(int) % 5 == 0).all()  # the stated preference first
    personal = table[(number % 7 != 0) & (table["offer_id"] == "winter-meat")]
    assert personal["reasons"].str.contains("bought meat").any()

    # a second export the same day: the first's treated decisions are planned contacts (email cap 1 in 7 days)
    again = tmp_path / "again.parquet"
    assert main(["export", "offers", "--out", str(again), "--as-of", "2017-12-01T12:00"]) == 0
    second = pd.read_parquet(again)
    both = pd.concat([table, second])
    assert (both[~both["control"]]["offer_id"] == "winter-meat").sum() <= 40
    contacted = set(treated.loc[treated["offer_id"] != "tips", "customer_id"])
    repeat = second[second["customer_id"].isin(contacted) & ~second["control"]]
    first_channel = dict(zip(treated["customer_id"], treated["channel"], strict=True))
    assert all(first_channel[c] != ch for c, ch in zip(repeat["customer_id"], repeat["channel"], strict=True))

    # --changed-since an unknown export is refused; a known one leaves out the unchanged customers
    assert main(["export", "offers", "--out", str(tmp_path / "x.csv"), "--changed-since", "nope"]) == 2
    assert "names no export" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()
    capsys.readouterr()
    second_id = store.decisions.exports()[-1]
    assert main(["export", "offers", "--out", str(tmp_path / "changed.csv"), "--as-of", "2017-12-01T18:00",
                 "--changed-since", second_id]) == 0
    changed = _last(capsys)
    rows = pd.read_csv(tmp_path / "changed.csv", dtype={"customer_id": str})
    def pairs(frame: pd.DataFrame) -> dict[str, list]:
        return {c: sorted(zip(g["offer_id"], g["channel"].fillna(""), strict=True))
                for c, g in frame.groupby("customer_id")}

    before, after = pairs(second), pairs(rows)
    assert changed["unchanged_since"] > 0 and changed["customers"] == len(after)
    assert all(before.get(c) != pairs for c, pairs in after.items())  # only customers whose decisions changed

    # an erased customer is in no later export
    victim = str(treated["customer_id"].iloc[0])
    erase_customer(store, ModelRegistry(settings_env["RECO_MODEL_DIR"]), victim)
    later = tmp_path / "later.csv"
    assert main(["export", "offers", "--out", str(later), "--as-of", "2017-12-20"]) == 0
    assert victim not in set(pd.read_csv(later, dtype={"customer_id": str})["customer_id"])
    assert store.decisions.decisions([victim]).empty


def test_report_offers_compares_treated_with_control(programme: EventStore, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    store = programme
    assert main(["report", "offers"]) == 0
    assert "no closed decision windows" in capsys.readouterr().out
    assert main(["report", "offers", "--horizon-days", "-3"]) == 2
    assert "--horizon-days -3.0" in capsys.readouterr().err
    assert main(["export", "offers", "--out", str(tmp_path / "nbo.csv"), "--as-of", "2017-12-01",
                 "--control-share", "0.4"]) == 0
    capsys.readouterr()
    decided = store.decisions.decisions()
    # the treated redeem (and buy) more than the control: what an offer that works looks like
    outcomes, rows = [], []
    for k, r in enumerate(decided.itertuples()):
        if (not r.control and k % 2 == 0) or (r.control and k % 10 == 0):
            outcomes.append({"customer_id": r.customer_id, "offer_id": r.offer_id, "outcome": "redeemed",
                             "timestamp": pd.Timestamp("2017-12-05")})
            rows.append({"customer_id": r.customer_id, "item_id": "meat0", "timestamp": "2017-12-05 10:00:00",
                         "order_id": f"x{k}", "quantity": 1, "price": 10.0})
    record_outcomes(store, outcomes)
    rows.append({"customer_id": "c1", "item_id": "fish0", "timestamp": "2018-03-01 10:00:00", "order_id": "late",
                 "quantity": 1, "price": 1.0})  # the data now reaches past every window
    later = pd.DataFrame(rows)
    later.to_csv(tmp_path / "later.csv", index=False)
    assert main(["ingest", str(tmp_path / "later.csv")]) == 0
    capsys.readouterr()
    assert main(["report", "offers"]) == 0
    printed = capsys.readouterr().out
    result = json.loads(printed.strip().splitlines()[-1])
    total = result["total"]
    assert total["contacts"] + total["control"] == len(decided.drop_duplicates(["customer_id", "offer_id"]))
    assert total["redemption_rate_treated"] > total["redemption_rate_control"] and total["lift"] > 1
    low, high = total["incremental_spend_ci95"]
    assert low < total["incremental_spend"] < high and total["incremental_spend"] > 0
    assert "rate T" in printed and "all offers" in printed

