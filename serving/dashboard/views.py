"""What each dashboard page shows, gathered from the store, the registry and the serving state. Plain
data for the templates (and the tests); nothing here renders HTML. Each function blocks on the store:
the routes run them in the thread pool.

The customer view applies the API's rules, never its own: an erased customer is shown as erased and an
opted-out one as opted out, nothing more (``EventStore.is_erased`` and ``personalisation_allowed``, the
one consent rule); recommendations come from ``ServingState.recommendations`` and offers from
``OfferServing.answer``, the very answers the site and the CRM get.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from reco.clock import utc_now
from reco.customers.segments import TIERS
from reco.exceptions import ConfigurationError
from reco.offers.report import offer_report
from reco.registry import versions_overview
from reco.schedule import check_schedule, next_due
from reco.vocabulary import BASELINES, RUN_KINDS, RUN_PROMOTE
from serving.dashboard import charts
from serving.offers import OfferServing
from serving.state import ServingState

DAYS = 90  # the overview's window of daily events, back from the newest event
RECOMMENDATIONS = 10
OFFERS = 3
RECENT_EVENTS = 20
TIER_ORDER = (*TIERS, "none")  # none: no value estimate


def _age(then: datetime | None, now: datetime) -> str:
    if then is None:
        return "no events yet"
    seconds = (now - then).total_seconds()
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count:,} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


def _short(version: str) -> str:
    """20261122T183000Z-1a2b -> 2026-11-22 18:30 (1a2b)."""
    stamp, _, tag = version.partition("-")
    try:
        when = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ")
    except ValueError:
        return version
    return f"{when:%Y-%m-%d %H:%M} ({tag})" if tag else f"{when:%Y-%m-%d %H:%M}"


def served_scores(version: dict[str, Any]) -> dict[str, float | None]:
    """nDCG@10 of what serves each mode, on the version's own latest window."""
    out: dict[str, float | None] = {}
    for mode in ("all", "new"):
        served = (version.get("serving") or {}).get(mode)
        out[mode] = ((version.get("metrics") or {}).get(mode) or {}).get(served)
    return out


def overview(state: ServingState) -> dict[str, Any]:
    store, now = state.store, utc_now()
    first, last = store.event_time_range()
    days = store.activity.events_per_day(DAYS)
    counts = store.activity.customer_counts()
    service = state.service
    registry = versions_overview(state.registry)
    out: dict[str, Any] = {
        "first_event": first, "last_event": last, "age": _age(last, now), "counts": counts,
        "serving": service.version if service is not None else None, "problem": state.problem,
        "scores_version": state.profiles_version, "promoted": registry["promoted"],
        "versions": len(registry["versions"]), "days": DAYS, "daily_chart": None, "versions_chart": None,
        "by_channel": [], "daily": [],
    }
    if len(days):
        per_type = days.pivot_table(index="day", columns="event_type", values="events", aggfunc="sum",
                                    fill_value=0).sort_index()
        full = pd.date_range(per_type.index.min(), per_type.index.max(), freq="D")
        per_type = per_type.reindex(full, fill_value=0)
        series = {name: per_type[name].astype(int).tolist() for name in per_type.columns}
        out["daily_chart"] = charts.lines(list(per_type.index.to_pydatetime()), series, xlabel="day",
                                          ylabel="events", dates=True,
                                          alt=f"Events per day over the last {DAYS} days of data, by event type")
        out["daily"] = [{"day": day.date().isoformat(), **{k: int(v) for k, v in row.items()}}
                        for day, row in per_type.tail(14).iterrows()][::-1]
        out["event_types"] = list(per_type.columns)
        by_channel = days.groupby(["channel", "event_type"], as_index=False)[["events", "revenue"]].sum()
        out["by_channel"] = by_channel.sort_values(["channel", "event_type"]).to_dict("records")
    history = [v for v in reversed(registry["versions"]) if not v.get("problem")]
    if history:
        labels = [_short(v["version"]) for v in history]
        scores = [served_scores(v) for v in history]
        out["versions_chart"] = charts.lines(
            labels, {f"nDCG@10, mode {mode}": [s[mode] for s in scores] for mode in ("all", "new")},
            xlabel="model version", ylabel="nDCG@10", markers=True,
            alt="nDCG@10 of each model version on its own latest window, modes all and new")
        out["version_scores"] = [{"version": v["version"], "label": label, **s, "promoted": v["promoted"]}
                                 for v, label, s in zip(history, labels, scores, strict=True)][::-1]
    return out


def models(state: ServingState) -> dict[str, Any]:
    registry = versions_overview(state.registry)
    for version in registry["versions"]:
        version["label"] = _short(version["version"])
        version["served_scores"] = served_scores(version)
        version["best_baseline"] = {mode: _best_baseline(version, mode) for mode in ("all", "new")}
    history = state.registry.history.entries()[::-1][:50]
    return {**registry, "history": history, "serving": state.service.version if state.service else None}


def _best_baseline(version: dict[str, Any], mode: str) -> tuple[str, float] | None:
    scores = (version.get("metrics") or {}).get(mode) or {}
    baselines = {name: score for name, score in scores.items() if name in BASELINES}
    if not baselines:
        return None
    name = max(baselines, key=lambda n: baselines[n])
    return name, baselines[name]


def training(state: ServingState, schedule: str) -> dict[str, Any]:
    """The latest runs, those queued or running, and when ``schedule`` (RECO_RETRAIN_SCHEDULE) is next due."""
    runs = state.store.runs.runs(30)
    active = state.store.runs.active()
    planned: dict[str, Any] = {"expression": (schedule or "").strip(), "next": None, "problem": None}
    try:
        if check_schedule(schedule):
            planned["next"] = next_due(schedule, utc_now())
    except ConfigurationError as exc:
        planned["problem"] = str(exc)
    return {"runs": runs, "active": active, "kinds": RUN_KINDS, "promote_choices": RUN_PROMOTE,
            "schedule": planned}


def run_json(run: dict[str, Any]) -> dict[str, Any]:
    """What the progress bar polls: state, stage, progress and the last log lines."""
    return {"run_id": run["run_id"], "state": run["state"], "stage": run["stage"], "done": run["done"],
            "total": run["total"], "percent": run["percent"], "log": run.get("log") or [],
            "error": run["error"], "cancel_requested": run["cancel_requested"]}


LISTED = 100  # customers a segment's or tier's list shows at most
ORDERS = {"value": ("clv_12m", "the highest 12-month value first"),
          "churn": ("churn_probability", "the highest churn risk first")}


def customers(state: ServingState, segment: str | None = None, tier: str | None = None,
              order: str = "value") -> dict[str, Any]:
    """Segments, churn risk and value tiers of the scored customers who allow personalisation; with
    ``segment`` and/or ``tier``, also who is in it (at most ``LISTED``, by ``order``: ``ORDERS``)."""
    profiles = state.profiles
    if profiles is None or profiles.empty:
        return {"scored": 0, "version": state.profiles_version}
    denied = state.store.personalisation_denied(profiles.index)
    shown = profiles.drop(index=list(denied), errors="ignore")
    shown = shown.assign(value_tier=shown["value_tier"].fillna("none").astype(str))
    listing = _listing(shown, segment, tier, order) if segment or tier else None
    segments = shown["segment"].astype(str).value_counts()
    tiers = shown["value_tier"].value_counts()
    tier_names = [t for t in TIER_ORDER if t in tiers.index] + sorted(set(tiers.index) - set(TIER_ORDER))
    numbers = pd.DataFrame({"clv": pd.to_numeric(shown["clv_12m"], errors="coerce"),
                            "churn": pd.to_numeric(shown["churn_probability"], errors="coerce"),
                            "tier": shown["value_tier"]})
    means = numbers.groupby("tier")[["clv", "churn"]].mean()
    churn = numbers["churn"].dropna()
    tier_rows = [{"tier": t, "customers": int(tiers[t]), "mean_clv": _num(means.at[t, "clv"]),
                  "mean_churn": _num(means.at[t, "churn"])} for t in tier_names]
    bins = np.linspace(0, 1, 11)
    counts, _ = np.histogram(churn.clip(0, 1), bins=bins)
    return {
        "scored": len(shown), "excluded": len(profiles) - len(shown), "version": state.profiles_version,
        "listing": listing,
        "segments": [{"segment": s, "customers": int(c)} for s, c in segments.items()],
        "tiers": tier_rows,
        "churn_bins": [{"range": f"{lo:.1f}–{hi:.1f}", "customers": int(c)}
                       for lo, hi, c in zip(bins[:-1], bins[1:], counts, strict=True)],
        "churn_mean": _num(churn.mean()),
        "segments_chart": charts.bars(list(segments.index), {"customers": segments.tolist()}, xlabel="segment",
                                      ylabel="customers", rotate=True, alt="Customers per segment"),
        "churn_chart": charts.histogram(churn.clip(0, 1).tolist(), bins.tolist(), xlabel="churn probability",
                                        ylabel="customers", alt="Distribution of churn probability"),
        "tiers_chart": charts.bars(tier_names, {"customers": [int(tiers[t]) for t in tier_names]},
                                   xlabel="value tier", ylabel="customers", alt="Customers per value tier"),
    }


def _listing(shown: pd.DataFrame, segment: str | None, tier: str | None, order: str) -> dict[str, Any]:
    column, said = ORDERS[order]
    chosen = shown
    if segment:
        chosen = chosen[chosen["segment"].astype(str) == segment]
    if tier:
        chosen = chosen[chosen["value_tier"] == tier]
    ranked = chosen.assign(key=pd.to_numeric(chosen[column], errors="coerce")).sort_values(
        "key", ascending=False, na_position="last", kind="stable").head(LISTED)
    rows = [{"customer_id": str(customer_id), "churn_probability": _num(r["churn_probability"]),
             "clv_12m": _num(r["clv_12m"]), "expected_purchases_90d": _num(r["expected_purchases_90d"]),
             "value_tier": r["value_tier"], "segment": str(r["segment"]),
             "reason": str(r["churn_reasons"][0]) if len(r["churn_reasons"]) else ""}
            for customer_id, r in ranked.iterrows()]
    return {"segment": segment, "tier": tier, "order": order, "said": said, "total": len(chosen), "rows": rows,
            "orders": list(ORDERS)}


def _num(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def customer(state: ServingState, offers: OfferServing, customer_id: str) -> dict[str, Any] | None:
    """One customer across channels, or None when the store knows nothing of them. Erased and opted-out
    customers get their status only."""
    store = state.store
    if store.is_erased(customer_id):
        return {"customer_id": customer_id, "status": "erased"}
    if not store.personalisation_allowed(customer_id):  # a customer on record who opted out: nothing is read
        return {"customer_id": customer_id, "status": "opted_out"}
    data = store.customer_data(customer_id)
    events: pd.DataFrame = data["events"]  # type: ignore[assignment]
    record = data["customer"]
    if record is None and events.empty:
        return None
    consent = {"personalisation": True, "marketing": bool(record and record.get("consent_marketing")),
               "preferred_channel": (record or {}).get("preferred_channel")}
    names = _item_names(state, events["item_id"].unique().tolist() if len(events) else [])
    return {
        "customer_id": customer_id, "status": "active", "consent": consent,
        "channels": _by_channel(events), "recent": _recent(events, names),
        "first_event": events["timestamp"].min() if len(events) else None,
        "last_event": events["timestamp"].max() if len(events) else None,
        "profile": _profile(state, customer_id),
        "recommendations": _recommendations(state, customer_id),
        "offers": json.loads(offers.answer(customer_id, OFFERS, None)),
        "outcomes": len(data["offer_outcomes"]),  # type: ignore[arg-type]
        "marketing": len(data["marketing"]),  # type: ignore[arg-type]
    }


def _item_names(state: ServingState, item_ids: Sequence[str]) -> dict[str, str]:
    if not item_ids:
        return {}
    items = state.store.items()
    items = items[items["item_id"].isin(item_ids)]
    return {str(i): str(n) for i, n in zip(items["item_id"], items["name"], strict=True) if n is not None}


def _by_channel(events: pd.DataFrame) -> list[dict[str, Any]]:
    if events.empty:
        return []
    frame = events.assign(value=events["price"].astype(float).fillna(0.0) * events["quantity"].astype(float))
    rows = []
    for channel, group in frame.groupby("channel"):
        bought, returned = group[group["event_type"] == "purchase"], group[group["event_type"] == "return"]
        rows.append({"channel": channel, "orders": int(bought["order_id"].nunique()),
                     "purchases": len(bought), "spend": float(bought["value"].sum()),
                     "returns": len(returned), "returned_value": float(returned["value"].abs().sum()),
                     "other": int(len(group) - len(bought) - len(returned)),
                     "last": group["timestamp"].max()})
    return sorted(rows, key=lambda r: -r["purchases"])


def _recent(events: pd.DataFrame, names: dict[str, str]) -> list[dict[str, Any]]:
    if events.empty:
        return []
    recent = events.sort_values("timestamp", ascending=False).head(RECENT_EVENTS)
    return [{"timestamp": r.timestamp, "event_type": r.event_type, "channel": r.channel, "item_id": r.item_id,
             "name": names.get(str(r.item_id), ""), "quantity": r.quantity, "price": _num(r.price)}
            for r in recent.itertuples(index=False)]


def _profile(state: ServingState, customer_id: str) -> dict[str, Any] | None:
    profiles = state.profiles
    if profiles is None or customer_id not in profiles.index:
        return None
    row = profiles.loc[customer_id]
    return {"version": state.profiles_version, "churn_probability": _num(row["churn_probability"]),
            "churn_reasons": [str(r) for r in row["churn_reasons"]],
            "expected_purchases_90d": _num(row["expected_purchases_90d"]), "p_alive": _num(row["p_alive"]),
            "clv_12m": _num(row["clv_12m"]), "value_tier": str(row["value_tier"]), "segment": str(row["segment"])}


def _recommendations(state: ServingState, customer_id: str) -> dict[str, Any] | None:
    """Per mode (new: never bought, the API's default; all: buying again too), what the API answers."""
    if state.service is None:
        return None
    out = {}
    for mode in ("new", "all"):
        result = state.recommendations(customer_id, RECOMMENDATIONS, mode, None)
        out[mode] = {"version": result.model_version, "model": result.model, "personalised": result.personalised,
                     "items": [{"item_id": i.item_id, "name": i.name, "score": i.score, "reason": i.reason}
                               for i in result.items]}
    return out


def offers_page(state: ServingState, offers: OfferServing) -> dict[str, Any]:
    store = state.store
    catalogue = store.offers.all()
    stats = offers.snapshot().stats
    rows = []
    for offer in catalogue:
        record = offer.to_record()
        used = stats.contacts_used.get(offer.offer_id, 0)
        cost = stats.cost_used.get(offer.offer_id, 0.0)
        rows.append({**record, "contacts_used": used, "cost_used": cost,
                     "contacts_share": used / offer.budget_contacts if offer.budget_contacts else None,
                     "cost_share": cost / offer.budget_cost if offer.budget_cost else None,
                     "live": offer.valid_from <= utc_now() <= offer.valid_until})
    decisions = store.decisions.decisions()
    report: dict[str, Any] = {"offers": [], "total": None, "open": 0}
    chart: charts.Chart | None = None
    if len(decisions):
        purchases = store.read_events(("purchase",), columns=("customer_id", "timestamp", "price", "quantity"),
                                      customer_ids=decisions["customer_id"].unique().tolist())
        report = offer_report(decisions, store.offers.outcomes(), purchases)
        measured = [r for r in report["offers"] if r.get("redemption_rate_treated") is not None]
        if measured:
            chart = charts.bars([str(r["offer_id"]) for r in measured],
                                {"treated": [100 * (r["redemption_rate_treated"] or 0) for r in measured],
                                 "control": [100 * (r["redemption_rate_control"] or 0) for r in measured]},
                                xlabel="offer", ylabel="redeemed (%)", rotate=len(measured) > 4,
                                alt="Redemption rate per offer, treated customers against the control group")
    return {"catalogue": rows, "report": report, "redemption_chart": chart, "decisions": len(decisions)}
