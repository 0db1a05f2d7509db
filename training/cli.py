"""The ``reco`` command line: ingest, train, evaluate, tune, score, export, models and serve.

Every command logs progress to stderr and prints one JSON object as its last stdout line.
Unusable input exits with code 2 and a message naming the file, column, row and value.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

import reco
from reco.atomic import write_json
from reco.config import DEFAULT_MODEL, get_settings
from reco.customers.consent import AUDIENCES, DEFAULT_AUDIENCE
from reco.exceptions import ConfigurationError, InputError, RecoError, RunCancelledError
from reco.vocabulary import KINDS, OFFER_CHANNELS, PRESET_NAMES, ROLES
from training.choices import EVALUATED_MODELS, TUNED_MODELS

logger = logging.getLogger("reco")

AS_OF_HELP = ("the time to treat as now, e.g. 2011-12-09 (default: the end of the history; a few events far "
              "after the rest are reported and left out)")


def _emit(result: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(result, default=str) + "\n")
    sys.stdout.flush()


def _pairs(values: Sequence[str], flag: str) -> dict[str, str]:
    out = {}
    for pair in values:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigurationError(f"{flag} {pair!r} is not of the form name=value")
        out[key.strip()] = value.strip()
    return out


def cmd_ingest(args: argparse.Namespace) -> dict[str, Any]:
    from reco.ingest import DEMO_DATA, ingest, parse_mappings

    if args.kind == "offers":
        return _ingest_offers(args)
    if args.demo:
        if args.path or args.sql:
            raise ConfigurationError("--demo reads the bundled Online Retail file; give no PATH or --sql")
        path, preset = DEMO_DATA, "online-retail"
    else:
        if not args.path and not args.sql:
            raise ConfigurationError("give a PATH to ingest, --sql with --source-url, or --demo")
        path, preset = (Path(args.path) if args.path else None), args.preset
    store = _store(args)
    try:
        report = ingest(
            store, path, sql=args.sql, source_url=args.source_url, preset=preset,
            mapping=parse_mappings(args.map, args.kind), kind=args.kind,
            constants=_pairs(args.set, "--set"), date_format=args.date_format,
            delimiter=args.delimiter, encoding=args.encoding, decimal=args.decimal,
            max_bad_timestamp_share=args.max_bad_timestamp_share,
        )
    finally:
        store.dispose()
    return report.to_dict()


def _store(args: argparse.Namespace) -> Any:
    """The event store of the settings; says so when it had to create an empty SQLite one (a command run in
    a folder without a store would otherwise just find no data)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from reco.store import EventStore

    url = get_settings().database_url
    try:
        parsed = make_url(url)
        path = parsed.database if parsed.get_backend_name() == "sqlite" else None
    except ArgumentError:
        path = None  # EventStore says what is wrong with it
    new = bool(path) and path != ":memory:" and not Path(str(path)).exists()
    store = EventStore(url)
    if new:
        if args.command == "ingest":
            logger.info("created a new event store at %s", path)
        else:
            logger.warning("no event store at %s (RECO_DATABASE_URL): created an empty one; load data with "
                           "'reco ingest' (or run this where your store is)", path)
    return store


def _registry(model_dir: Path) -> Any:
    """The model registry (imported here: it loads every model library, which ``reco --help`` never needs)."""
    from reco.registry import ModelRegistry

    return ModelRegistry(model_dir)


def _ingest_offers(args: argparse.Namespace) -> dict[str, Any]:
    from reco.ingest import DEMO_OFFERS
    from reco.ingest.offers import ingest_offers

    if bool(args.path) == bool(args.demo) or args.sql or args.map or args.set or args.preset:
        raise ConfigurationError("--kind offers reads one catalogue file (CSV, JSON or YAML); give its PATH (or "
                                 "--demo for the demo's catalogue) and no --sql, --map, --set or --preset")
    store = _store(args)
    try:
        return ingest_offers(store, DEMO_OFFERS if args.demo else Path(args.path), args.encoding)
    finally:
        store.dispose()


def _params(values: Sequence[str]) -> dict[str, Any]:
    """``["factors=128", "alpha=2.5"]`` -> typed values (JSON numbers, booleans, else text)."""
    out: dict[str, Any] = {}
    for key, raw in _pairs(values, "--param").items():
        try:
            out[key] = json.loads(raw)
        except ValueError:
            out[key] = raw
    return out


def cmd_train(args: argparse.Namespace) -> dict[str, Any]:
    if args.what == "offers":
        return _train_offers(args)
    from training.train import STAGES, train
    from training.tune import load_tuned
    from training.worker import run_here

    settings = get_settings()
    store = _store(args)
    tuned = None if args.untuned else load_tuned(settings.model_dir)
    registry = _registry(settings.model_dir)
    params = _params(args.param)

    def step(done: dict[str, Any], report: Callable[[str], None]) -> dict[str, Any]:
        return train(store, registry, model=args.model, params=params, tuned=tuned, promote=not args.no_promote,
                     as_of=args.as_of, use_guard=not args.no_guard, use_gate=not args.no_gate,
                     tolerance=settings.gate_tolerance, keep_versions=settings.keep_versions, by="shell",
                     progress=report)

    try:
        run = run_here(store, registry, "recommendations", "never" if args.no_promote else "auto",
                       ("recommendations", step, len(STAGES)))
        if run["state"] == "cancelled":  # from the API or the dashboard, while this trained: nothing was saved
            raise RunCancelledError(f"training run {run['run_id']} was cancelled ({run['error']}); no version "
                                    "was saved")
        return {**run["result"]["recommendations"], "run_id": run["run_id"]}
    finally:
        store.dispose()


def _train_offers(args: argparse.Namespace) -> dict[str, Any]:
    from training.offers import train_offers

    store = _store(args)
    try:
        return train_offers(store, _registry(get_settings().model_dir), version=args.version)
    finally:
        store.dispose()


def _service(store: Any, version: str | None) -> Any:
    """The recommendation service of ``version`` (default: the promoted one) over the store's catalogue."""
    from reco.service import RecommendationService

    store.create_schema()
    return RecommendationService(_registry(get_settings().model_dir).load(version), store.items())


def cmd_export(args: argparse.Namespace) -> dict[str, Any]:
    from reco.export import export_recommendations

    store = _store(args)
    try:
        return export_recommendations(store, _service(store, args.version), args.out, n=args.n, mode=args.mode,
                                      audience=args.audience)
    finally:
        store.dispose()


def cmd_export_complements(args: argparse.Namespace) -> dict[str, Any]:
    from reco.export.complements import export_complements

    store = _store(args)
    try:
        return export_complements(_service(store, args.version), args.out, n=args.n)
    finally:
        store.dispose()


def cmd_export_customers(args: argparse.Namespace) -> dict[str, Any]:
    from reco.export import export_customer_scores

    settings = get_settings()
    registry = _registry(settings.model_dir)
    version = args.version or registry.promoted()
    scores = registry.customer_scores(version)
    store = _store(args)
    try:
        store.create_schema()
        return export_customer_scores(store, scores, version, args.out, audience=args.audience)
    finally:
        store.dispose()


def cmd_export_offers(args: argparse.Namespace) -> dict[str, Any]:
    from reco.export.offers import export_offers
    from reco.interactions.asof import parse_as_of
    from reco.offers.engine import DecisionSettings
    from reco.offers.policy import ContactPolicy
    from training.offers import decision_inputs

    config = get_settings()
    share = config.offer_control_share if args.control_share is None else args.control_share
    settings = DecisionSettings(n=args.n, channel=args.channel, control_share=share,
                                margin_rate=config.offer_margin_rate)
    policy = ContactPolicy.from_settings(config)
    store = _store(args)
    try:
        store.create_schema()
        inputs, model, version = decision_inputs(store, _registry(config.model_dir), args.version)
        at = parse_as_of(args.as_of, "--as-of")
        return export_offers(store, inputs, model, version, args.out, policy=policy, settings=settings,
                             at=at.to_pydatetime() if at is not None else None, changed_since=args.changed_since)
    finally:
        store.dispose()


def cmd_report_offers(args: argparse.Namespace) -> dict[str, Any]:
    from reco.offers.report import format_report, offer_report

    store = _store(args)
    try:
        store.create_schema()
        result = offer_report(store.decisions.decisions(), store.offers.outcomes(),
                              store.read_events(("purchase",), columns=("customer_id", "timestamp", "price",
                                                                        "quantity")),
                              horizon_days=args.horizon_days)
    finally:
        store.dispose()
    sys.stdout.write(format_report(result) + "\n")
    return result


def cmd_evaluate(args: argparse.Namespace) -> dict[str, Any]:
    if args.what == "churn":
        return _evaluate_churn(args)
    if args.what == "offers":
        return _evaluate_offers(args)
    if args.what == "complements":
        return _evaluate_complements(args)
    from training.evaluate import evaluate
    from training.tune import load_tuned

    settings = get_settings()
    store = _store(args)
    tuned = None if args.untuned else load_tuned(settings.model_dir)
    try:
        result, table = evaluate(store, models=args.models.split(","), holdout_days=args.holdout_days, k=args.k,
                                 tuned=tuned, as_of=args.as_of)
    finally:
        store.dispose()
    sys.stdout.write(table + "\n")
    payload = result.to_dict()
    if args.json:
        write_json(Path(args.json), payload)
    return payload


def _evaluate_churn(args: argparse.Namespace) -> dict[str, Any]:
    import pandas as pd

    from training.churn import EVENT_COLUMNS, evaluate_churn, format_churn
    from training.history import history_as_of

    store = _store(args)
    try:
        events, when = history_as_of(store, "evaluate churn", args.as_of, ("purchase", "return"), EVENT_COLUMNS)
        marketing = store.read_marketing(until=when.as_of)
    finally:
        store.dispose()
    try:
        cutoff = pd.Timestamp(args.test_cutoff) if args.test_cutoff else None
    except ValueError as exc:
        raise ConfigurationError(f"--test-cutoff {args.test_cutoff!r} is not a date (YYYY-MM-DD)") from exc
    result = evaluate_churn(events, cutoff, args.horizon_days, marketing=marketing)
    sys.stdout.write(format_churn(result) + "\n")
    if args.json:
        write_json(Path(args.json), result)
    return result


def _evaluate_complements(args: argparse.Namespace) -> dict[str, Any]:
    from reco.evaluation.complements import evaluate_complements, format_complements
    from training.history import history_as_of

    store = _store(args)
    try:
        events, _ = history_as_of(store, "evaluate", args.as_of)
    finally:
        store.dispose()
    result = evaluate_complements(events, holdout_days=args.holdout_days, k=args.k)
    sys.stdout.write(format_complements(result) + "\n")
    if args.json:
        write_json(args.json, result)
    return result


def _evaluate_offers(args: argparse.Namespace) -> dict[str, Any]:
    from reco.interactions.asof import parse_as_of
    from training.offers import evaluate_offers, format_offers

    store = _store(args)
    try:
        result = evaluate_offers(store, test_from=parse_as_of(args.test_from, "--test-from"))
    finally:
        store.dispose()
    sys.stdout.write(format_offers(result) + "\n")
    if args.json:
        write_json(Path(args.json), result)
    return result


def cmd_score(args: argparse.Namespace) -> dict[str, Any]:
    from training.score import score_customers

    settings = get_settings()
    store = _store(args)
    try:
        return score_customers(store, _registry(settings.model_dir), version=args.version,
                               horizon_days=args.horizon_days, months=args.months,
                               monthly_discount=args.monthly_discount)
    finally:
        store.dispose()


def cmd_tune(args: argparse.Namespace) -> dict[str, Any]:
    from training.tune import tune

    settings = get_settings()
    store = _store(args)
    try:
        return tune(store, settings.model_dir, models=[m.strip() for m in args.models.split(",") if m.strip()],
                    holdout_days=args.holdout_days, k=args.k, as_of=args.as_of)
    finally:
        store.dispose()


def cmd_models(args: argparse.Namespace) -> dict[str, Any]:
    registry = _registry(get_settings().model_dir)
    if args.promote and args.rollback:
        raise ConfigurationError("give --promote VERSION or --rollback, not both")
    if args.promote:
        registry.promote(args.promote, by="shell", reason=args.reason or "promoted from the shell")
    elif args.rollback:
        registry.rollback(by="shell", reason=args.reason or "rolled back from the shell")
    if args.history:
        return {"history": registry.history.entries()}
    from reco.registry import versions_overview

    overview = versions_overview(registry)
    for v in overview["versions"]:
        serving = ", ".join(f"{mode}: {name}" for mode, name in v["serving"].items())
        gate = v["gate"] or {}
        verdict = "gate skipped" if "skipped" in gate else ("gate passed" if gate.get("passed") else
                                                             "gate refused" if gate else "no gate")
        logger.info("%s %s serving %s; %s; %s", "*" if v["promoted"] else " ", v["version"], serving, verdict,
                    v["data"])
    return overview


def cmd_keys(args: argparse.Namespace) -> dict[str, Any]:
    store = _store(args)
    try:
        store.create_schema()
        if args.action == "add":
            key = store.add_api_key(args.role, args.label or "")
            sys.stderr.write(f"new {args.role} key (shown once; send it as the X-API-Key header):\n{key}\n")
            return {"role": args.role, "label": args.label or "", "key": key}
        if args.action == "revoke":
            if not args.label:
                raise ConfigurationError("reco keys revoke needs --label LABEL (see reco keys list)")
            return {"revoked": store.revoke_api_keys(args.label), "label": args.label}
        keys = store.api_keys()
        return {"keys": keys.assign(created_at=keys["created_at"].astype(str)).to_dict(orient="records")}
    finally:
        store.dispose()


def cmd_worker(args: argparse.Namespace) -> dict[str, Any]:
    """Take queued training runs from the store and run them, one at a time (training.worker)."""
    from training.tune import load_tuned
    from training.worker import run_worker

    settings = get_settings()
    store = _store(args)
    try:
        runs = run_worker(store, _registry(settings.model_dir), once=args.once, poll_seconds=args.poll_seconds,
                          tuned=lambda: load_tuned(settings.model_dir),
                          train_options={"tolerance": settings.gate_tolerance, "keep_versions": settings.keep_versions},
                          schedule=settings.retrain_schedule)
    finally:
        store.dispose()
    return {"runs": [{"run_id": r["run_id"], "kind": r["kind"], "state": r["state"], "error": r["error"]}
                     for r in runs]}


def cmd_serve(args: argparse.Namespace) -> dict[str, Any]:
    """Replace this process by uvicorn: a fresh interpreter, so the server's one-OpenMP-thread setting
    (see ``serving/__init__.py``) applies before scikit-learn loads; this CLI has loaded it already."""
    settings = get_settings()
    host, port = args.host or settings.host, args.port or settings.port
    logger.info("serving on http://%s:%s (docs at /docs); try /v1/customers/{customer_id}/recommendations with an "
                "X-API-Key header (create a key with: reco keys add --role site)", host, port)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    if args.workers > 1 and not env.get("PROMETHEUS_MULTIPROC_DIR"):
        # Several worker processes: /metrics adds up all of them from files in a fresh folder.
        folder = Path("var") / "prometheus" / f"serve-{os.getpid()}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        env["PROMETHEUS_MULTIPROC_DIR"] = str(folder.resolve())
    command = [sys.executable, "-m", "uvicorn", "serving.main:app", "--host", str(host), "--port", str(port),
               "--workers", str(args.workers), "--log-level", settings.log_level.lower(),
               "--no-access-log"]  # its lines hold raw paths and query strings: serving logs reco.access instead
    os.execve(sys.executable, command, env)
    return {"served": f"http://{host}:{port}"}  # not reached: execve does not return


def cmd_secret(args: argparse.Namespace) -> dict[str, Any]:
    from reco.store.hashing import rotate_secret

    path = get_settings().secret_file
    count = rotate_secret(path)
    logger.info("a new secret heads %s; %d secrets in all (the older ones still match past erasures); restart the "
                "API so that every process uses the new one", path, count)
    return {"secret_file": str(path), "secrets": count}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reco", description="Personalisation and recommendation engine.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {reco.__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="load purchase history, a catalogue or customers into the store")
    p.add_argument("path", nargs="?", help="CSV (.csv, .csv.gz, .tsv) or Parquet file, or a preset's folder")
    p.add_argument("--demo", action="store_true",
                   help="the bundled UCI Online Retail file (with --kind offers: the demo's offer catalogue)")
    p.add_argument("--preset", choices=PRESET_NAMES, help="a known log layout")
    p.add_argument("--map", action="append", default=[], metavar="CANONICAL=SOURCE",
                   help="map a source column onto a canonical field (repeatable)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="a constant for a field the source lacks, e.g. channel=store (repeatable)")
    p.add_argument("--kind", choices=KINDS, default="events", help="what the source holds (default events)")
    p.add_argument("--sql", help="a SELECT to read from --source-url instead of a file")
    p.add_argument("--source-url", help="SQLAlchemy URL of the database --sql reads from")
    p.add_argument("--date-format", help="strftime format of timestamps, or epoch / epoch_ms "
                   "(default: guessed from the first value)")
    p.add_argument("--delimiter", help="CSV field separator (default ',' or tab for .tsv)")
    p.add_argument("--decimal", default=".", help="decimal separator of numbers: '.' (default) or ','")
    p.add_argument("--encoding", help="text encoding of a CSV file (default UTF-8; e.g. latin-1, cp1252); a file "
                   "that is not valid text in it is refused, naming the line of the first bad byte")
    p.add_argument("--max-bad-timestamp-share", type=float, default=0.01,
                   help="refuse the file if more timestamps than this share cannot be parsed (default 0.01)")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("train", help="train the default model and its fallback (a new model version), or the "
                       "offer-response model of a version")
    p.add_argument("what", nargs="?", choices=("recommenders", "offers"), default="recommenders",
                   help="recommenders (default): a new model version; offers: the offer-response model, kept with "
                   "--version (default: the promoted one)")
    p.add_argument("--version", help="offers: the model version to keep the response model with")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"model to train (default {DEFAULT_MODEL})")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a hyperparameter, overriding `reco tune` results (repeatable), e.g. factors=128")
    p.add_argument("--untuned", action="store_true", help="ignore `reco tune` results")
    p.add_argument("--no-promote", action="store_true", help="save without making it the serving version")
    p.add_argument("--no-guard", action="store_true", help="serve the model for both modes even where a baseline "
                   "beats it on the latest window (the guard is on by default)")
    p.add_argument("--no-gate", action="store_true", help="promote without the quality gate (by default a version "
                   "worse than the promoted one by more than RECO_GATE_TOLERANCE stays a candidate)")
    p.add_argument("--as-of", help=AS_OF_HELP)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("worker", help="run queued training runs (POST /v1/training/runs), one at a time, in this "
                       "process; never inside the API")
    p.add_argument("--once", action="store_true", help="run what is queued, then exit (default: wait for more)")
    p.add_argument("--poll-seconds", type=float, default=2.0, help="how often an idle worker looks for a queued "
                   "run (default 2)")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("export", help="batch exports for CRM systems")
    esub = p.add_subparsers(dest="what", required=True)
    audience_help = ("who is exported: marketing (default): customers who allow personalisation and gave marketing "
                     "consent; personalised: everyone who allows personalisation, for uses that contact nobody")
    e = esub.add_parser("recommendations", help="top-n for every customer of an audience (default: marketing consent)")
    e.add_argument("--out", required=True, help="FILE.csv or FILE.parquet")
    e.add_argument("--n", type=int, default=10, help="items per customer (default 10)")
    e.add_argument("--mode", choices=("new", "all"), default="new",
                   help="new: never-bought items only (default); all: buying again allowed")
    e.add_argument("--version", help="model version (default: the promoted one)")
    e.add_argument("--audience", choices=tuple(AUDIENCES), default=DEFAULT_AUDIENCE, help=audience_help)
    e.set_defaults(func=cmd_export)
    e = esub.add_parser("customers", help="segment, value tier, churn risk and reasons, CLV (reco score customers)")
    e.add_argument("--out", required=True, help="FILE.csv or FILE.parquet")
    e.add_argument("--version", help="model version whose scores to export (default: the promoted one)")
    e.add_argument("--audience", choices=tuple(AUDIENCES), default=DEFAULT_AUDIENCE, help=audience_help)
    e.set_defaults(func=cmd_export_customers)
    e = esub.add_parser("complements", help="for every item, the items that go well with it (item-level, no customer)")
    e.add_argument("--out", required=True, help="FILE.csv or FILE.parquet")
    e.add_argument("--n", type=int, default=10, help="complements per item (default 10)")
    e.add_argument("--version", help="model version (default: the promoted one)")
    e.set_defaults(func=cmd_export_complements)
    e = esub.add_parser("offers", help="next-best-offers: one row per (customer, offer) for customers with marketing "
                        "consent, within every budget, cap and the control group")
    e.add_argument("--out", required=True, help="FILE.csv or FILE.parquet")
    e.add_argument("--n", type=int, default=1, help="offers per customer (default 1)")
    e.add_argument("--channel", choices=OFFER_CHANNELS, help="only this channel (default: each customer's best)")
    e.add_argument("--changed-since", metavar="EXPORT_ID", help="only customers whose decisions changed since that "
                   "export")
    e.add_argument("--control-share", type=float, help="share of (customer, offer) pairs decided but not contacted "
                   "(default: RECO_OFFER_CONTROL_SHARE, 0.10)")
    e.add_argument("--as-of", help="decide as of this time (default: now), e.g. to replay a past date")
    e.add_argument("--version", help="model version whose response model and scores to use (default: promoted)")
    e.set_defaults(func=cmd_export_offers)

    p = sub.add_parser("report", help="reports for marketers")
    rsub = p.add_subparsers(dest="what", required=True)
    r = rsub.add_parser("offers", help="per offer: contacts, redemption rate treated vs control, incremental spend "
                        "per customer with a 95%% confidence interval")
    r.add_argument("--horizon-days", type=float, default=28.0, help="spend is counted this many days after each "
                   "decision, at most to the offer's end (default 28)")
    r.set_defaults(func=cmd_report_offers)

    p = sub.add_parser("evaluate", help="temporal holdout evaluation: recommenders (default) or churn")
    p.add_argument("what", nargs="?", choices=("recommenders", "churn", "offers", "complements"),
                   default="recommenders",
                   help="recommenders: ranking metrics against the baselines; churn: AUC, PR AUC, Brier, lift; "
                   "offers: the offer-response model on the stored offer outcomes; complements: hide one item of "
                   "each holdout basket and predict it from the rest, against co-occurrence counts and popularity")
    p.add_argument("--test-from", help="offers: contacts from this date on are the test set (default: the latest "
                   "40%%)")
    p.add_argument("--horizon-days", type=float, default=90.0, help="churn: no purchase within this many days")
    p.add_argument("--test-cutoff", help="churn: score as of this date (default: last event - horizon)")
    p.add_argument("--holdout-days", type=float, default=30.0, help="recommenders: days held out as the test window "
                   "(default 30)")
    p.add_argument("--k", type=int, default=10, help="recommenders: list length the metrics are taken at (default 10)")
    p.add_argument("--models", default=",".join(EVALUATED_MODELS),
                   help="comma-separated model names (default: the baselines, ALS and the default model)")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.add_argument("--untuned", action="store_true", help="ignore `reco tune` results; use defaults")
    p.add_argument("--as-of", help=AS_OF_HELP)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("score", help="customer models: churn, lifetime value and segments for a model version")
    ssub = p.add_subparsers(dest="what", required=True)
    c = ssub.add_parser("customers", help="churn probability with reasons, CLV, value tier and RFM segment")
    c.add_argument("--version", help="model version to store the scores with (default: the promoted one)")
    c.add_argument("--horizon-days", type=float, default=90.0, help="churn horizon (default 90)")
    c.add_argument("--months", type=int, default=12, help="CLV horizon in months (default 12)")
    c.add_argument("--monthly-discount", type=float, default=0.01, help="CLV discount rate per month (default 0.01)")
    c.set_defaults(func=cmd_score)

    p = sub.add_parser("tune", help="choose hyperparameters on a validation window before the test window")
    p.add_argument("--holdout-days", type=float, default=30.0,
                   help="days of the validation window, just before the test window of reco evaluate (default 30)")
    p.add_argument("--k", type=int, default=10, help="list length the validation metric is taken at (default 10)")
    p.add_argument("--models", default=",".join(TUNED_MODELS),
                   help=f"comma-separated models to tune (default: {','.join(TUNED_MODELS)})")
    p.add_argument("--as-of", help=AS_OF_HELP)
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("models", help="list model versions with the gate's verdicts; promote, roll back, history")
    p.add_argument("--promote", metavar="VERSION", help="make VERSION the one serving and exports use")
    p.add_argument("--rollback", action="store_true", help="promote again the version promoted before the current one")
    p.add_argument("--reason", help="why (kept in the registry's history with --promote or --rollback)")
    p.add_argument("--history", action="store_true", help="who promoted, rolled back, refused or pruned what, when "
                   "and why")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("keys", help="API keys: add (prints the key once), list (never the keys), revoke")
    p.add_argument("action", choices=("add", "list", "revoke"), help="add a key, list keys, or revoke by label")
    p.add_argument("--role", choices=ROLES, default="site",
                   help="site: recommendations, events, consent; marketer: + profiles; admin: everything")
    p.add_argument("--label", help="a name to find and revoke the key by, e.g. 'shop frontend'")
    p.set_defaults(func=cmd_keys)

    p = sub.add_parser("serve", help="start the HTTP API")
    p.add_argument("--host", help="address to listen on (default RECO_HOST, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to listen on (default RECO_PORT, 8000)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("secret", help="the secret of the keyed customer hashes (RECO_SECRET_FILE)")
    p.add_argument("action", choices=("rotate",), help="rotate: a new secret for new erasures; older ones are kept "
                   "so that every past erasure is still recognised (restart the API afterwards)")
    p.set_defaults(func=cmd_secret)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
    except ValidationError as exc:
        problems = "; ".join(f"RECO_{'_'.join(map(str, e['loc'])).upper()}={e.get('input')!r}: {e['msg']}"
                             for e in exc.errors())
        sys.stderr.write(f"reco {args.command}: error: invalid setting: {problems}\n")
        return 2
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else getattr(logging, settings.log_level.upper(), 20),
        stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        result = args.func(args)
    except (InputError, ConfigurationError) as exc:
        sys.stderr.write(f"reco {args.command}: error: {exc}\n")
        return 2
    except (RecoError, OSError) as exc:
        sys.stderr.write(f"reco {args.command}: error: {exc}\n")
        return 1
    _emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
