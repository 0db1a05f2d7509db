"""The ``reco`` command line: final JSON line, exit codes, messages, and the whole job chain."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from reco.models import DEFAULT_MODEL, Recommender
from training.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _last_json(capsys: pytest.CaptureFixture[str]) -> dict:
    out = capsys.readouterr().out.strip().splitlines()
    return json.loads(out[-1])


def test_ingest_train_export_chain(settings_env: dict[str, str], purchases_csv: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", str(purchases_csv)]) == 0
    report = _last_json(capsys)
    assert {"rows_read", "inserted", "duplicates", "events_total", "dropped"} <= set(report)
    assert report["inserted"] == report["events_total"] == 240 and report["dropped"] == {}

    assert main(["ingest", str(purchases_csv)]) == 0
    again = _last_json(capsys)
    assert again["inserted"] == 0 and again["events_total"] == 240 and again["duplicates"] == 240

    bought = pd.read_csv(purchases_csv)["item_id"].astype(str).unique()
    catalogue = tmp_path / "items.csv"  # half the bought items have a category: the ranker's category source
    pd.DataFrame({"item_id": bought, "category": [f"aisle{i % 3}" if i % 2 else "" for i in range(len(bought))]}
                 ).to_csv(catalogue, index=False)
    assert main(["ingest", str(catalogue), "--kind", "items"]) == 0
    capsys.readouterr()

    assert main(["train", "--param", "factors=8", "--param", "iterations=5"]) == 0
    trained = _last_json(capsys)
    assert trained["seconds"] > 0 and trained["customers"] == 40
    version_dir = Path(settings_env["RECO_MODEL_DIR"]) / trained["version"]
    meta = json.loads((version_dir / "metadata.json").read_text())
    assert meta["data"]["events"] == 240 and meta["params"][DEFAULT_MODEL]["factors"] == 8
    assert meta["data"]["items_with_category"] == len(bought) // 2
    ranker = Recommender.load(version_dir / DEFAULT_MODEL)
    assert (ranker.item_category_ >= 0).sum() == len(bought) // 2 and ranker.item_category_.max() == 2
    assert meta["default_model"] == DEFAULT_MODEL and meta["input"][DEFAULT_MODEL]["weighting"] == "recency"
    assert meta["data"]["first_event"].startswith("2024-01-01")

    out = tmp_path / "recs.parquet"
    assert main(["export", "recommendations", "--out", str(out), "--n", "5"]) == 0
    exported = _last_json(capsys)  # nobody gave marketing consent: an outbound export holds no one
    assert exported["rows"] == 0 and exported["excluded"]["without_marketing_consent"] == 40
    assert main(["export", "recommendations", "--out", str(out), "--n", "5", "--audience", "personalised"]) == 0
    exported = _last_json(capsys)
    assert exported["rows"] == 200 and len(pd.read_parquet(out)) == 200

    assert main(["models"]) == 0
    listing = _last_json(capsys)
    assert listing["promoted"] == trained["version"] and len(listing["versions"]) == 1


def test_bad_input_exits_2_with_precise_message(settings_env: dict[str, str], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "orders.csv"
    bad.write_text("CUSTOMER_ID,PRODUCT_ID,TRANSACTION_DT\n1,2,3\n")
    assert main(["ingest", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "orders.csv" in err and "'customer_id'" in err and "--map customer_id=COLUMN" in err
    assert main(["ingest", str(bad), "--map", "customer=CUSTOMER_ID"]) == 2
    assert "valid: customer_id" in capsys.readouterr().err
    assert main(["ingest"]) == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["ingest", str(bad), "--preset", "walmart"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'walmart'" in capsys.readouterr().err


def test_train_on_empty_store_and_export_without_model_fail_clearly(
        settings_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train"]) == 2
    assert "reco ingest" in capsys.readouterr().err
    assert main(["train", "--model", "wizard"]) == 2
    assert "unknown model 'wizard'" in capsys.readouterr().err
    assert main(["export", "recommendations", "--out", str(tmp_path / "x.csv")]) == 1
    assert "reco train" in capsys.readouterr().err


def test_unwritable_export_target_is_one_clear_line(settings_env: dict[str, str], purchases_csv: Path,
                                                   tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", str(purchases_csv)]) == 0
    assert main(["train", "--param", "factors=4", "--param", "iterations=2"]) == 0
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    capsys.readouterr()
    assert main(["export", "recommendations", "--out", str(blocker / "recs.csv")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("reco export: error:") and "Traceback" not in err


def test_console_script_exit_code_in_a_real_process(tmp_path: Path) -> None:
    env = {**os.environ, "RECO_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}", "RECO_MODEL_DIR": str(tmp_path)}
    missing = tmp_path / "missing.csv"
    proc = subprocess.run([sys.executable, "-m", "training.cli", "ingest", str(missing)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert f"{missing}: file not found" in proc.stderr
    assert proc.stdout == ""


def test_help_loads_no_data_or_model_library_and_every_option_says_what_it_does(tmp_path: Path) -> None:
    """`reco --help` once took 6 s because reco.exceptions imported scikit-learn."""
    from training.cli import build_parser

    code = ("import sys, training.cli; heavy = [m for m in ('pandas', 'sklearn', 'implicit', 'sqlalchemy', 'numpy') "
            "if m in sys.modules]; print(','.join(heavy))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == ""
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    missing = []
    for name, command in commands.items():
        subs = [a for a in command._actions if isinstance(a, type(parser._subparsers._group_actions[0]))]
        for sub in [command, *(p for a in subs for p in a.choices.values())]:
            missing += [f"{name} {a.dest}" for a in sub._actions if not a.help and a.dest not in ("help", "what")]
    assert missing == []
    version = subprocess.run([sys.executable, "-m", "training.cli", "--version"], cwd=ROOT, capture_output=True,
                             text=True, timeout=120)
    assert version.returncode == 0 and version.stdout.startswith("reco ")


def test_a_command_without_a_store_says_it_created_an_empty_one(tmp_path: Path) -> None:
    env = {**os.environ, "RECO_DATABASE_URL": f"sqlite:///{tmp_path / 'nowhere' / 'r.db'}",
           "RECO_MODEL_DIR": str(tmp_path / "models")}
    proc = subprocess.run([sys.executable, "-m", "training.cli", "train"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and "created an empty one" in proc.stderr and "holds no purchases" in proc.stderr


def test_rotating_the_secret_keeps_erasures(settings_env: dict[str, str], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from reco.config import get_settings
    from reco.store import EventStore

    monkeypatch.setenv("RECO_SECRET_FILE", str(tmp_path / "cli.secret"))
    get_settings.cache_clear()
    store = EventStore(settings_env["RECO_DATABASE_URL"])
    store.create_schema()
    store.erase_customer("gone")
    store.dispose()
    assert main(["secret", "rotate"]) == 0
    assert _last_json(capsys)["secrets"] == 2
    get_settings.cache_clear()
    again = EventStore(settings_env["RECO_DATABASE_URL"])
    assert again.is_erased("gone") and len(again.hasher.keys) == 2
    again.dispose()


def test_invalid_setting_exits_2_naming_the_variable(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from reco.config import get_settings

    monkeypatch.setenv("RECO_PORT", "eighty")
    get_settings.cache_clear()
    try:
        assert main(["models"]) == 2
    finally:
        get_settings.cache_clear()
    assert "RECO_PORT='eighty'" in capsys.readouterr().err


def test_evaluate_prints_table_and_writes_json(settings_env: dict[str, str], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from tests.factories import make_purchases

    log = make_purchases(n_customers=60, per_customer=8)
    log = log.assign(timestamp=log["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S"))
    log.to_csv(tmp_path / "log.csv", index=False)
    assert main(["ingest", str(tmp_path / "log.csv")]) == 0
    out = tmp_path / "eval" / "result.json"
    assert main(["evaluate", "--holdout-days", "20", "--json", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert "task all" in stdout and f"*{DEFAULT_MODEL}" in stdout
    written = json.loads(out.read_text())
    assert written == json.loads(stdout.strip().splitlines()[-1])
    assert written["default_model"] == DEFAULT_MODEL and written["tuned"] is False
    for task in ("all", "new"):
        assert {"popularity", "recent_popularity", "als", DEFAULT_MODEL} <= set(written["tasks"][task])
        assert {"ndcg@10", "recall@10", "precision@10", "map@10"} <= set(written["tasks"][task][DEFAULT_MODEL])
    assert "buy_again" in written["tasks"]["all"]
    assert main(["evaluate", "--models", "als,wizard"]) == 2
    assert "unknown model(s) ['wizard']" in capsys.readouterr().err


def test_tune_then_evaluate_and_train_use_the_tuned_parameters(
        settings_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.factories import make_purchases

    log = make_purchases(n_customers=60, per_customer=8)
    log.assign(timestamp=log["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S")).to_csv(tmp_path / "log.csv", index=False)
    assert main(["ingest", str(tmp_path / "log.csv")]) == 0
    assert main(["tune", "--holdout-days", "15", "--models", "buy_again,recent_popularity"]) == 0
    tuned = _last_json(capsys)
    saved = json.loads((Path(settings_env["RECO_MODEL_DIR"]) / "tuned.json").read_text())
    assert saved == json.loads(json.dumps(tuned))
    window = tuned["models"]["buy_again"]["validation_window"]
    test_cut = (log["timestamp"].max() - pd.Timedelta(days=15)).isoformat()
    assert window["validation_end"] == test_cut, "validation must end where the 15-day test window starts"
    assert main(["evaluate", "--holdout-days", "15", "--models", "als"]) == 0
    evaluated = _last_json(capsys)
    assert evaluated["tuned"] is True
    chosen = tuned["models"]["recent_popularity"]["params_by_task"]["new"]["window_days"]
    used = evaluated["params"].get("recent_popularity[new]", evaluated["params"]["recent_popularity"])
    assert used["window_days"] == chosen
    assert main(["train", "--model", "buy_again"]) == 0
    trained = _last_json(capsys)
    assert trained["tuned"] is True
    meta = json.loads((Path(settings_env["RECO_MODEL_DIR"]) / trained["version"] / "metadata.json").read_text())
    assert meta["params"]["buy_again"]["half_life_days"] == tuned["models"]["buy_again"]["params"]["half_life_days"]
    assert meta["params"]["popularity"]["window_days"] == chosen, "the fallback uses the tuned trend window"
    assert main(["train", "--param", "colour=blue"]) == 2
    assert "no parameter(s) ['colour']" in capsys.readouterr().err


def test_churn_evaluation_and_customer_scores_with_a_model_version(
        settings_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from reco.customers.segments import SEGMENTS, TIERS
    from reco.registry import ModelRegistry
    from tests.factories import rhythm_log

    log = rhythm_log(n=120)
    log.assign(timestamp=log["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S")).to_csv(tmp_path / "log.csv", index=False)
    assert main(["ingest", str(tmp_path / "log.csv")]) == 0
    capsys.readouterr()
    out = tmp_path / "churn.json"
    assert main(["evaluate", "churn", "--horizon-days", "60", "--json", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert "ROC AUC" in stdout and "calibration" in stdout and "recency_rule" in stdout
    written = json.loads(out.read_text())
    assert {"auc", "pr_auc", "brier", "lift_top_decile"} <= set(written["models"]["churn_model"])
    assert written["models"]["churn_model"]["auc"] > 0.8

    assert main(["score", "customers"]) == 1  # no model version yet
    assert "no promoted model" in capsys.readouterr().err
    assert main(["train", "--param", "factors=8", "--param", "iterations=3", "--param", "cutoffs=1"]) == 0
    version = _last_json(capsys)["version"]
    assert main(["score", "customers", "--horizon-days", "60"]) == 0
    scored = _last_json(capsys)
    assert scored["version"] == version and scored["customers"] == 120
    table = ModelRegistry(settings_env["RECO_MODEL_DIR"]).customer_scores(version)
    assert len(table) == 120 and table["customer_id"].is_unique
    assert table["churn_probability"].between(0, 1).all() and table["p_alive"].between(0, 1).all()
    assert set(table["segment"]) <= set(SEGMENTS) and set(table["value_tier"]) <= set(TIERS)
    assert (table["clv_12m"] >= 0).all() and (table["expected_purchases_90d"] >= 0).all()
    stopped = table.sort_values("churn_probability").tail(10)
    assert all(len(r) >= 1 for r in stopped["churn_reasons"])

    (tmp_path / "consent.csv").write_text("customer_id,consent_personalisation\nC001,no\n")
    assert main(["ingest", str(tmp_path / "consent.csv"), "--kind", "customers"]) == 0
    capsys.readouterr()
    export = tmp_path / "crm" / "customers.csv"
    assert main(["export", "customers", "--out", str(export)]) == 0
    assert _last_json(capsys)["rows"] == 0  # by default only customers who gave marketing consent: nobody yet
    assert main(["export", "customers", "--out", str(export), "--audience", "personalised"]) == 0
    report = _last_json(capsys)
    assert report["rows"] == 119 and report["excluded"]["without_personalisation_consent"] == 1
    assert report["model_version"] == version and report["audience"] == "personalised"
    assert json.loads((tmp_path / "crm" / "customers.csv.manifest.json").read_text())["audience"] == "personalised"
    crm = pd.read_csv(export)
    assert list(crm.columns) == ["customer_id", "segment", "value_tier", "churn_probability", "churn_reasons",
                                 "expected_purchases_90d", "clv_12m", "model_version"]
    assert "C001" not in set(crm["customer_id"]) and "recency_days" not in crm.columns  # only what a CRM needs
    assert main(["export", "customers", "--out", str(tmp_path / "x.json")]) == 2

    assert main(["evaluate", "churn", "--test-cutoff", "soon"]) == 2
    assert "--test-cutoff 'soon' is not a date" in capsys.readouterr().err


def test_keys_add_list_revoke(settings_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    from reco.store import EventStore

    assert main(["keys", "add", "--role", "marketer", "--label", "crm"]) == 0
    out = capsys.readouterr()
    added = json.loads(out.out.strip().splitlines()[-1])
    assert added["role"] == "marketer" and added["key"].startswith("reco_") and added["key"] in out.err
    assert EventStore(settings_env["RECO_DATABASE_URL"]).role_for_key(added["key"]) == "marketer"
    assert main(["keys", "list"]) == 0
    listing = capsys.readouterr().out
    assert added["key"] not in listing and json.loads(listing.strip().splitlines()[-1])["keys"][0]["label"] == "crm"
    assert main(["keys", "revoke"]) == 2
    assert main(["keys", "revoke", "--label", "crm"]) == 0
    assert _last_json(capsys)["revoked"] == 1
    with pytest.raises(SystemExit) as exited:
        main(["keys", "add", "--role", "root"])
    assert exited.value.code == 2 and "invalid choice: 'root'" in capsys.readouterr().err


def test_one_late_live_event_neither_empties_training_nor_is_promoted_blindly(
        settings_env: dict[str, str], store, tmp_path: Path, capsys: pytest.CaptureFixture[str],  # type: ignore[no-untyped-def]
        caplog: pytest.LogCaptureFixture) -> None:
    """A live event posted today into an old history once moved "now" past the data: no window had labels, no
    classifier trained, the version was promoted anyway and `reco evaluate churn` failed without saying why."""
    from reco.ingest import record_events
    from reco.registry import ModelRegistry
    from tests.factories import rhythm_log

    log = rhythm_log(n=120)
    log.assign(timestamp=log["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S")).to_csv(tmp_path / "log.csv", index=False)
    assert main(["ingest", str(tmp_path / "log.csv")]) == 0
    live = {"customer_id": "web-1", "item_id": log["item_id"].iloc[0], "timestamp": datetime.now(UTC)}  # as the API
    assert record_events(store, [live]).inserted == 1
    capsys.readouterr()
    small = ["--param", "factors=8", "--param", "iterations=3"]
    assert main(["train", *small]) == 0
    out = capsys.readouterr()
    trained = json.loads(out.out.strip().splitlines()[-1])
    assert trained["as_of"].startswith(str(log["timestamp"].max().date())) and trained["events_after_as_of"] == 1
    assert "1 event after" in caplog.text and "--as-of" in caplog.text
    registry = ModelRegistry(settings_env["RECO_MODEL_DIR"])
    assert registry.promoted() == trained["version"] and registry.metadata(trained["version"])["unlearned"] == {}
    assert main(["evaluate", "churn", "--horizon-days", "60"]) == 0
    capsys.readouterr()

    assert main(["train", *small, "--as-of", "2026-06-01"]) == 2  # every window would be empty
    assert "days after the end of the history" in capsys.readouterr().err
    # As of the history's first six days: shorter than the shortest training window (a week), so no window
    # has data on both sides and the classifier cannot train; the version is kept but not promoted.
    early = (log["timestamp"].min() + pd.Timedelta(days=6)).strftime("%Y-%m-%d")
    assert main(["train", *small, "--as-of", early]) == 1
    err = capsys.readouterr().err
    assert "NOT promoted" in err and "classifier did not train" in err and "reco models --promote" in err
    assert registry.promoted() == trained["version"] and len(registry.versions()) == 2
    assert main(["train", *small, "--as-of", "someday"]) == 2
    assert "--as-of 'someday' is not a date" in capsys.readouterr().err


def test_ingest_an_offer_catalogue(settings_env: dict[str, str], tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    catalogue = tmp_path / "offers.yaml"
    catalogue.write_text("offers:\n  - offer_id: o-meat\n    name: 5 off meat\n    kind: amount_off\n"
                         "    scope: category:MEAT\n    value: 5\n    channels: email|app\n"
                         "    valid_from: 2017-01-01\n    valid_until: 2030-01-01\n    budget: 200\n")
    assert main(["ingest", str(catalogue), "--kind", "offers"]) == 0
    assert _last_json(capsys)["offers_total"] == 1
    catalogue.write_text(catalogue.read_text().replace("email|app", "email|telegraph"))
    assert main(["ingest", str(catalogue), "--kind", "offers"]) == 2
    err = capsys.readouterr().err
    assert "offer 'o-meat': channels.1" in err and "telegraph" in err
    assert main(["ingest", str(catalogue), "--demo", "--kind", "offers"]) == 2  # one catalogue: a PATH or --demo
    assert "give its PATH (or --demo" in capsys.readouterr().err
    assert main(["ingest", "--demo", "--kind", "offers"]) == 0  # the demo's made-up catalogue, as make run loads
    assert _last_json(capsys)["offers_total"] == 4
