"""Offer decisions for many customers at once (the CRM export) or for one (the API), by the same steps:

1. **Inputs** (``read_inputs``): the catalogue, purchases, offer outcomes plus the planned contacts of
   earlier exports, consent and preferred channels, the customer scores; for every customer or a few.
2. **P(redeem)** of every live offer for every customer from the response model, with features as of
   the decision time (reco.offers.response, one pass over each customer's history). A customer who may
   not be personalised gets the offer's observed redemption rate and the shop-wide spend on its scope
   instead: nothing of their own.
3. **Expected value** (reco.offers.decisions.expected_value) per customer and offer, then the contact
   policy for each customer's best offers only (``select_candidates``; at most ``keep`` of them).
4. **Allocation** (reco.offers.allocation.greedy) under every offer's remaining budget, the channel caps
   still open to each customer and ``n`` offers a customer.
5. **Decisions**: ranks, plain reasons, the control flag, and the fallback offer for a customer left
   with nothing. Control pairs are allocated exactly like the others (they take their share of a budget
   and of the channel caps in the batch), so treated and control come from the same customers: held out
   after the decision, never instead of it. Only treated decisions become planned contacts.

Customers are processed in chunks (their rows found by one sort of each table), so memory grows with
the chunk, not with customers x offers.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from reco.customers.consent import may_personalise
from reco.exceptions import ConfigurationError
from reco.offers.allocation import greedy
from reco.offers.catalogue import FALLBACK_KIND, Offer
from reco.offers.decisions import (
    DEFAULT_CONTROL_SHARE,
    DEFAULT_MARGIN_RATE,
    Context,
    fallback_for,
    in_control,
    reasons_for,
    select_candidates,
)
from reco.offers.policy import POSITIVE, Contact, ContactPolicy, CustomerState, Verdict
from reco.offers.response import ContactData, ResponseModel, contact_context

logger = logging.getLogger(__name__)

SCORE_ATTRIBUTES = ("segment", "value_tier", "churn_probability", "clv_12m", "expected_purchases_90d", "orders",
                    "spend")
PURCHASE_COLUMNS = ("customer_id", "item_id", "timestamp", "order_id", "value", "discount", "channel")
OUTCOME_COLUMNS = ("customer_id", "offer_id", "outcome", "channel", "timestamp", "decision_id")
DECISION_COLUMNS = ("decision_id", "customer_id", "offer_id", "channel", "rank", "p_redeem", "expected_value",
                    "control", "personal", "fallback", "reasons", "policy", "valid_until")
RATE_PRIOR = 20.0  # contacts' worth of the overall rate an offer's own redemption rate is shrunk towards


@dataclass
class OfferInputs:
    """What decisions read (see the module docstring); ``outcomes`` holds stored outcomes and the planned
    contacts of earlier exports (as ``sent``)."""

    offers: list[Offer]
    purchases: pd.DataFrame
    outcomes: pd.DataFrame
    customers: pd.DataFrame  # customer_id, consent_personalisation, consent_marketing, preferred_channel
    categories: pd.Series  # item_id -> category
    scores: pd.DataFrame | None = None  # customer scores (reco score customers), indexed by customer_id
    erased: frozenset[str] = frozenset()
    offer_items: pd.DataFrame | None = None  # offer_items(offers, categories), when computed already

    def items_of_offers(self) -> pd.DataFrame:
        """(offer_id, item_id) of the offers' scopes (``offer_items``), computed once."""
        if self.offer_items is None:
            self.offer_items = offer_items(self.offers, self.categories)
        return self.offer_items


@dataclass(frozen=True)
class OfferStats:
    """Shop-wide figures per offer: what a non-personal decision uses, and how much of each budget is used."""

    rate: dict[str, float] = field(default_factory=dict)  # smoothed redemption rate of its contacts
    scope_spend: dict[str, float] = field(default_factory=dict)  # spend per basket on its scope, all customers
    contacts_used: dict[str, int] = field(default_factory=dict)  # sent + planned, within its validity
    cost_used: dict[str, float] = field(default_factory=dict)

    def budgets_left(self, offers: Sequence[Offer]) -> dict[str, tuple[float | None, float | None]]:
        out: dict[str, tuple[float | None, float | None]] = {}
        for o in offers:
            contacts = None if o.budget_contacts is None else max(0, o.budget_contacts - self.contacts_used.get(
                o.offer_id, 0))
            cost = None if o.budget_cost is None else max(0.0, o.budget_cost - self.cost_used.get(o.offer_id, 0.0))
            out[o.offer_id] = (contacts, cost)
        return out


@dataclass(frozen=True)
class DecisionSettings:
    n: int = 1
    channel: str | None = None
    control_share: float = DEFAULT_CONTROL_SHARE
    margin_rate: float = DEFAULT_MARGIN_RATE
    salt: str = ""
    keep: int | None = None  # candidates kept per customer before allocation (default 2n + 3)

    def __post_init__(self) -> None:
        if not 1 <= self.n <= 50:
            raise ConfigurationError(f"n {self.n!r} must be between 1 and 50")
        if not 0 <= self.control_share < 1:
            raise ConfigurationError(f"control share {self.control_share!r} must be in [0, 1)")


def read_inputs(store, scores: pd.DataFrame | None = None,  # type: ignore[no-untyped-def]
                customer_ids: Sequence[str] | None = None, planned: bool = True,
                offers: list[Offer] | None = None, categories: pd.Series | None = None,
                with_purchases: bool = True, items_of_offers: pd.DataFrame | None = None) -> OfferInputs:
    """``OfferInputs`` from an EventStore, for ``customer_ids`` (default: everyone). ``planned``: add the
    planned contacts of exports to the outcomes (decisions count them; a response model learns from
    outcomes only, since a planned contact's result is not known yet). ``offers`` and ``categories``, when
    given, are not read again (the API keeps them, and ``items_of_offers`` computed from them); ``with_purchases``
    False leaves the purchases out (an empty frame), for figures that need only the outcomes."""
    events = store.read_events(("purchase",), columns=("customer_id", "item_id", "timestamp", "order_id", "price",
                                                        "quantity", "coupon_discount", "channel"),
                               customer_ids=customer_ids if with_purchases else [])
    purchases = pd.DataFrame({
        "customer_id": events["customer_id"], "item_id": events["item_id"], "timestamp": events["timestamp"],
        "order_id": events["order_id"].astype(object).where(events["order_id"].notna(), ""),
        "value": pd.to_numeric(events["price"], errors="coerce").fillna(0.0) * events["quantity"].astype(float),
        "discount": pd.to_numeric(events["coupon_discount"], errors="coerce").fillna(0.0).abs(),
        "channel": events["channel"]})
    stored = store.offers.outcomes(customer_ids)
    parts = [stored[list(OUTCOME_COLUMNS)]]
    if planned:
        parts.append(store.decisions.planned_contacts(customer_ids)[list(OUTCOME_COLUMNS)])
    outcomes = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else parts[0]
    outcomes["timestamp"] = pd.to_datetime(outcomes["timestamp"])
    customers = store.customers(customer_ids)
    if categories is None:
        categories = store.items().set_index("item_id")["category"].dropna()
    erased: frozenset[str] = frozenset()
    if customer_ids is not None:
        with store.engine.connect() as conn:
            erased = frozenset(store.erased_among(conn, customer_ids))
    return OfferInputs(offers=store.offers.all() if offers is None else offers, purchases=purchases,
                       outcomes=outcomes, customers=customers.reset_index(drop=True), categories=categories,
                       scores=None if scores is None else scores.set_index("customer_id"), erased=erased,
                       offer_items=items_of_offers)


def offer_items(offers: Sequence[Offer], categories: pd.Series) -> pd.DataFrame:
    """(offer_id, item_id) of every item and category offer (a basket offer covers no listed items)."""
    rows: list[tuple[str, str]] = []
    by_category = categories.groupby(categories).groups if len(categories) else {}
    for offer in offers:
        if offer.scope.kind == "items":
            rows += [(offer.offer_id, item) for item in offer.scope.items]
        elif offer.scope.kind == "category":
            rows += [(offer.offer_id, str(item)) for item in by_category.get(offer.scope.category, [])]
    return pd.DataFrame(rows, columns=["offer_id", "item_id"]).drop_duplicates()


def contact_data(inputs: OfferInputs, history: pd.DataFrame | None = None) -> ContactData:
    """The response model's ContactData from the inputs (``history``: past contacts; see ContactData)."""
    redeemed = inputs.outcomes[inputs.outcomes["outcome"] == "redeemed"]
    return ContactData(purchases=inputs.purchases, redemptions=redeemed[["customer_id", "offer_id", "timestamp"]],
                       offer_items=inputs.items_of_offers(),
                       offer_types={o.offer_id: (o.offer_type or o.kind) for o in inputs.offers}, history=history)


def past_contacts(outcomes: pd.DataFrame, before: datetime | None = None) -> pd.DataFrame:
    """One contact per customer and offer (the first 'sent'), as the response model counts them."""
    sent = outcomes[outcomes["outcome"] == "sent"]
    if before is not None:
        sent = sent[sent["timestamp"] < before]
    return (sent.sort_values("timestamp").drop_duplicates(["customer_id", "offer_id"])
            .rename(columns={"timestamp": "at"})[["customer_id", "offer_id", "at"]].reset_index(drop=True))


def offer_stats(inputs: OfferInputs, at: datetime, scope_spend: dict[str, float] | None = None) -> OfferStats:
    """``OfferStats`` from every customer's inputs (call it with the whole store's). ``scope_spend``, when
    given, is kept instead of being computed from the purchases (which may then be left out)."""
    o = inputs.outcomes[inputs.outcomes["timestamp"] <= at]
    sent = o[o["outcome"] == "sent"].drop_duplicates(["customer_id", "offer_id"])
    redeemed = o[o["outcome"] == "redeemed"].drop_duplicates(["customer_id", "offer_id"])
    sent_n, redeemed_n = sent.groupby("offer_id").size(), redeemed.groupby("offer_id").size()
    overall = float(redeemed_n.sum() / sent_n.sum()) if sent_n.sum() else 0.0
    spend = dict(scope_spend) if scope_spend is not None else _scope_spend(inputs)
    rate, used, cost = {}, {}, {}
    by_offer = dict(iter(o.groupby("offer_id", sort=False)))  # one pass, not one scan of every outcome per offer
    for offer in inputs.offers:
        k = offer.offer_id
        rate[k] = float((redeemed_n.get(k, 0) + RATE_PRIOR * overall) / (sent_n.get(k, 0) + RATE_PRIOR))
        mine = by_offer.get(k, o.iloc[:0])
        mine = mine[(mine["timestamp"] >= offer.valid_from) & (mine["timestamp"] < offer.valid_until)]
        contacts = int((mine["outcome"] == "sent").sum())
        redemptions = int(mine.loc[mine["outcome"] == "redeemed", "customer_id"].nunique())
        used[k] = contacts
        cost[k] = contacts * offer.cost_per_contact + redemptions * offer.cost_per_redemption
    return OfferStats(rate=rate, scope_spend=spend, contacts_used=used, cost_used=cost)


def _scope_spend(inputs: OfferInputs) -> dict[str, float]:
    """Spend per basket on each offer's scope, over every customer's purchases."""
    p = inputs.purchases
    baskets = max(1, p["order_id"].nunique())
    items = inputs.items_of_offers()
    scope_value = p[["item_id", "value"]].merge(items, on="item_id").groupby("offer_id")["value"].sum()
    total = float(p["value"].sum())
    return {o.offer_id: (total if o.scope.kind == "basket" else float(scope_value.get(o.offer_id, 0.0))) / baskets
            for o in inputs.offers}


class _Rows:
    """The rows of one customer id column, found by one sort: chunks of sorted ids become slices."""

    def __init__(self, frame: pd.DataFrame) -> None:
        order = np.argsort(frame["customer_id"].to_numpy(dtype=str), kind="stable")
        self.frame = frame.iloc[order].reset_index(drop=True)
        self.ids = self.frame["customer_id"].to_numpy(dtype=str)

    def of(self, first: str, last: str) -> pd.DataFrame:
        lo = np.searchsorted(self.ids, first, side="left")
        hi = np.searchsorted(self.ids, last, side="right")
        return self.frame.iloc[lo:hi]


def customer_states(chunk: Sequence[str], inputs: OfferInputs, rows: pd.DataFrame, purchases: pd.DataFrame,
                    outcomes: pd.DataFrame, at: datetime, days_since: dict[str, float]) -> dict[str, CustomerState]:
    """What the policy reads of each customer of ``chunk`` (consent, preferred channel, scores, the items and
    categories the live rules ask about, channel use, contacts), from their rows of the inputs (``rows``:
    ``inputs.customers`` indexed by customer_id, built once per batch)."""
    asked_items = {str(r.value) for o in inputs.offers for r in o.rules if r.attribute == "bought_item"}
    asked_categories = {str(r.value) for o in inputs.offers for r in o.rules if r.attribute == "bought_category"}
    before = purchases[purchases["timestamp"] < at]
    bought: dict[str, dict[str, datetime]] = {}
    bought_categories: dict[str, dict[str, datetime]] = {}
    if asked_items:
        hits = before[before["item_id"].isin(asked_items)].groupby(["customer_id", "item_id"])["timestamp"].max()
        for (c, i), t in hits.items():
            bought.setdefault(c, {})[i] = t.to_pydatetime()
    if asked_categories:
        cats = before["item_id"].map(inputs.categories)
        hits = before[cats.isin(asked_categories)].assign(category=cats).groupby(["customer_id", "category"])[
            "timestamp"].max()
        for (c, k), t in hits.items():
            bought_categories.setdefault(c, {})[k] = t.to_pydatetime()
    use: dict[str, Counter] = {}
    for (c, ch), count in before.groupby(["customer_id", "channel"]).size().items():
        use.setdefault(c, Counter())[ch] += int(count)
    past = outcomes[outcomes["timestamp"] <= at]
    for (c, ch), count in past[past["outcome"].isin(POSITIVE)].groupby(["customer_id", "channel"]).size().items():
        use.setdefault(c, Counter())[ch] += int(count)
    history: dict[str, list[Contact]] = {}
    for c, o, outcome, ch, t in zip(past["customer_id"], past["offer_id"], past["outcome"], past["channel"],
                                    past["timestamp"], strict=True):
        history.setdefault(c, []).append(Contact(o, outcome, ch if isinstance(ch, str) else None,
                                                 pd.Timestamp(t).to_pydatetime()))
    scores = inputs.scores
    states = {}
    for c in chunk:
        row = rows.loc[c] if c in rows.index else None
        attributes: dict[str, object] = {}
        if scores is not None and c in scores.index:
            record = scores.loc[c]
            attributes = {k: _plain(record[k]) for k in SCORE_ATTRIBUTES if k in record.index}
        if c in days_since:
            attributes["days_since_last_purchase"] = days_since[c]
        preferred = None if row is None or not isinstance(row["preferred_channel"], str) else row["preferred_channel"]
        attributes["preferred_channel"] = preferred
        states[c] = CustomerState(
            customer_id=c, personalisation=None if row is None else bool(row["consent_personalisation"]),
            marketing=None if row is None else bool(row["consent_marketing"]), erased=c in inputs.erased,
            preferred_channel=preferred, attributes=attributes, bought=bought.get(c, {}),
            bought_categories=bought_categories.get(c, {}), channel_use=use.get(c, Counter()),
            history=history.get(c, []))
    return states


def _plain(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    return None if value is None or (isinstance(value, float) and value != value) else value


@dataclass
class _Scored:
    """One chunk of customers x live offers, scored (rows: customers; columns: live offers)."""

    chunk: np.ndarray
    p: np.ndarray
    ev: np.ndarray
    lines: np.ndarray
    last: np.ndarray
    since: np.ndarray
    gap: np.ndarray
    personal: np.ndarray
    states: dict[str, CustomerState]


class _Scorer:
    """P(redeem), spend and expected value of the live offers for chunks of customers (steps 2 and 3 of
    the module docstring), with what every chunk shares computed once."""

    def __init__(self, inputs: OfferInputs, model: ResponseModel | None, live: list[Offer], at: datetime,
                 stats: OfferStats, margin_rate: float) -> None:
        self.inputs, self.model, self.live, self.at, self.margin_rate = inputs, model, live, at, margin_rate
        self.purchases, self.outcomes = _Rows(inputs.purchases), _Rows(inputs.outcomes)
        self.customer_rows = inputs.customers.set_index("customer_id")
        self.base = contact_data(inputs, history=past_contacts(inputs.outcomes, before=at))
        self.weight = np.array([o.weight for o in live])
        self.cpr = np.array([o.cost_per_redemption for o in live])
        self.cpc = np.array([o.cost_per_contact for o in live])
        self.basket = np.array([o.scope.kind == "basket" for o in live])
        self.rate = np.array([stats.rate.get(o.offer_id, 0.0) for o in live])
        self.shop_spend = np.array([stats.scope_spend.get(o.offer_id, 0.0) for o in live])

    def score(self, chunk: np.ndarray) -> _Scored:
        """``chunk``: sorted customer ids."""
        live, at, base, n_live = self.live, self.at, self.base, len(self.live)
        mine = self.purchases.of(chunk[0], chunk[-1])
        their_outcomes = self.outcomes.of(chunk[0], chunk[-1])
        if n_live:
            contacts = pd.DataFrame({"customer_id": np.repeat(chunk, n_live),
                                     "offer_id": np.tile([o.offer_id for o in live], len(chunk)), "at": at})
            data = ContactData(purchases=mine,
                               redemptions=base.redemptions[base.redemptions["customer_id"].isin(chunk)],
                               offer_items=base.offer_items, offer_types=base.offer_types,
                               history=base.history[base.history["customer_id"].isin(chunk)])
            x, context = contact_context(contacts, data)
            shape = (len(chunk), n_live)
            p = (self.model.predict_proba(x) if self.model is not None else np.zeros(len(x))).reshape(shape)
            spend = np.where(self.basket[None, :], context["basket_spend"].to_numpy().reshape(shape),
                             context["offer_spend_per_basket"].to_numpy().reshape(shape))
            spend = np.nan_to_num(spend, nan=0.0)
            lines = x["offer_lines"].to_numpy().reshape(shape)
            last = x["offer_last_days"].to_numpy().reshape(shape)
            since = context["days_since_last_purchase"].to_numpy().reshape(shape)[:, 0]
            gap = context["usual_gap_days"].to_numpy().reshape(shape)[:, 0]
        else:
            p = spend = lines = last = np.zeros((len(chunk), 0))
            since = np.full(len(chunk), np.nan)
            gap = np.full(len(chunk), np.nan)
            if len(mine):  # no offer to score, but the rules still read the days since the last purchase
                latest = mine[mine["timestamp"] < at].groupby("customer_id")["timestamp"].max()
                since = ((at - latest.reindex(chunk)).dt.total_seconds() / 86400.0).to_numpy()
        days_since = {c: float(d) for c, d in zip(chunk, since, strict=True) if d == d}
        states = customer_states(chunk, self.inputs, self.customer_rows, mine, their_outcomes, at, days_since)
        personal = np.array([may_personalise(states[c].personalisation, states[c].erased) for c in chunk],
                            dtype=bool) & (self.model is not None)
        p = np.where(personal[:, None], p, self.rate[None, :])
        spend = np.where(personal[:, None], spend, self.shop_spend[None, :])
        ev = self.weight * (p * (self.margin_rate * spend - self.cpr)) - self.cpc
        return _Scored(chunk, p, ev, lines, last, since, gap, personal, states)


def _live(inputs: OfferInputs, at: datetime, stats: OfferStats, channel: str | None
          ) -> tuple[list[Offer], list[Offer], dict[str, tuple[float | None, float | None]]]:
    """(offers worth scoring, fallback offers, remaining budgets) at ``at`` on ``channel``."""
    offers = [o for o in inputs.offers if o.active_at(at) and (channel is None or channel in o.channels)]
    budgets = stats.budgets_left(offers)
    live = [o for o in offers if o.kind != FALLBACK_KIND and budgets[o.offer_id][0] != 0]
    fallbacks = [o for o in offers if o.kind == FALLBACK_KIND and budgets[o.offer_id][0] != 0]
    return live, fallbacks, budgets


def decide_many(inputs: OfferInputs, model: ResponseModel | None, policy: ContactPolicy, at: datetime,
                customer_ids: Sequence[str], stats: OfferStats, settings: DecisionSettings = DecisionSettings(),
                chunk_size: int = 20_000, progress: Callable[[int, int], None] | None = None,
                shared_budgets: bool = True) -> pd.DataFrame:
    """Decisions (``DECISION_COLUMNS``) for ``customer_ids`` at ``at`` under every offer's remaining budget
    (``stats``), the policy's caps and ``settings.n`` offers a customer. Without a response model only
    non-personal values are known (every customer is scored as one who opted out). ``shared_budgets``
    False: each customer is allocated alone against the whole remaining budgets, as one API request is
    (what an API cache computes ahead for many customers at once)."""
    live, fallbacks, budgets = _live(inputs, at, stats, settings.channel)
    keep = settings.keep or 2 * settings.n + 3
    ids = np.unique(np.asarray([str(c) for c in customer_ids], dtype=str))
    scorer = _Scorer(inputs, model, live, at, stats, settings.margin_rate)
    index = {o.offer_id: j for j, o in enumerate(live)}
    candidates: list[dict[str, object]] = []
    rooms: dict[tuple[str, str], int] = {}
    fallback_of: dict[str, tuple[Offer, Verdict, CustomerState]] = {}
    started = time.perf_counter()
    for start in range(0, len(ids), chunk_size):
        s = scorer.score(ids[start:start + chunk_size])
        for i, c in enumerate(s.chunk):
            state = s.states[c]
            order = [j for j in np.argsort(-s.ev[i], kind="stable") if s.ev[i, j] > 0]
            cache: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
            chosen = select_candidates(state, [(float(s.ev[i, j]), live[j]) for j in order], policy, at,
                                       settings.channel, keep, cache) if order else []
            for value, offer, verdict in chosen:
                j = index[offer.offer_id]
                candidates.append({
                    "customer_id": c, "offer_id": offer.offer_id, "channel": verdict.channel, "ev": value,
                    "cost": offer.cost_per_contact + s.p[i, j] * offer.cost_per_redemption, "p": float(s.p[i, j]),
                    "personal": bool(s.personal[i]), "policy": verdict.passed,
                    "lines": int(s.lines[i, j]), "last": float(s.last[i, j]), "since": float(s.since[i]),
                    "gap": float(s.gap[i]), "preferred": state.preferred_channel})
                room = policy.room(state, str(verdict.channel), at)
                if room is not None:
                    rooms[(c, str(verdict.channel))] = room
            if fallbacks:
                found = fallback_for(state, fallbacks, policy, at, settings.channel)
                if found is not None:
                    fallback_of[c] = (found[0], found[1], state)
        done = min(len(ids), start + chunk_size)
        if progress is not None:
            progress(done, len(ids))
        elapsed = time.perf_counter() - started
        if len(ids) >= 1000:  # a batch, not one API request
            logger.info("offers: decided %s of %s customers, %s candidates (%.0f s, about %.0f s left)", f"{done:,}",
                        f"{len(ids):,}", f"{len(candidates):,}", elapsed, elapsed / done * (len(ids) - done))
    table = pd.DataFrame(candidates, columns=["customer_id", "offer_id", "channel", "ev", "cost", "p", "personal",
                                              "policy", "lines", "last", "since", "gap", "preferred"])
    if shared_budgets or not len(table):
        taken = greedy(table, budgets, per_customer=settings.n, channel_room=rooms) if len(table) else np.zeros(0, bool)
    else:
        taken = np.zeros(len(table), dtype=bool)
        for rows in table.groupby("customer_id", sort=False).indices.values():
            taken[rows] = greedy(table.iloc[rows], budgets, per_customer=settings.n, channel_room=rooms)
    table = table[taken].sort_values(["customer_id", "ev", "offer_id"], ascending=[True, False, True])
    return _decisions(table, {o.offer_id: o for o in inputs.offers}, fallback_of, budgets, settings)


EXPLAIN_COLUMNS = ("offer_id", "name", "allowed", "channel", "p_redeem", "expected_value", "passed", "excluded")


def explain(inputs: OfferInputs, model: ResponseModel | None, policy: ContactPolicy, at: datetime,
            customer_id: str, stats: OfferStats, settings: DecisionSettings = DecisionSettings()) -> pd.DataFrame:
    """For the marketer: every offer of the catalogue for one customer now (``EXPLAIN_COLUMNS``), with
    the checks it passed and why it is excluded (not valid now, budget used up, not on the channel, a
    policy check, or worth nothing), by the same steps as ``decide_many``; best expected value first."""
    live, fallbacks, budgets = _live(inputs, at, stats, settings.channel)
    s = _Scorer(inputs, model, live, at, stats, settings.margin_rate).score(np.asarray([customer_id], dtype=str))
    state = s.states[customer_id]
    index = {o.offer_id: j for j, o in enumerate(live)}
    rows = []
    for offer in inputs.offers:
        j = index.get(offer.offer_id)
        verdict = (policy.check(offer, state, settings.channel, at) if settings.channel
                   else policy.choose(offer, state, at)) if (settings.channel is None
                                                              or settings.channel in offer.channels) else None
        excluded = list(verdict.excluded) if verdict is not None else [
            f"not offered on {settings.channel} (only {'|'.join(offer.channels)})"]
        if offer.active_at(at) and budgets.get(offer.offer_id, (None, None))[0] == 0:
            excluded.append("its budget is used up")
        p = ev = None
        if j is not None:
            p, ev = round(float(s.p[0, j]), 4), round(float(s.ev[0, j]), 4)
            if ev <= 0:
                excluded.append(f"worth nothing to the business: expected value {ev:+.4f}")
        elif offer.kind == FALLBACK_KIND and offer in fallbacks:
            p, ev = 0.0, 0.0
        allowed = not excluded
        rows.append((offer.offer_id, offer.name, allowed, verdict.channel if verdict is not None and allowed else None,
                     p, ev, list(verdict.passed) if verdict is not None else [], excluded))
    out = pd.DataFrame(rows, columns=list(EXPLAIN_COLUMNS))
    order = out["expected_value"].fillna(-np.inf).sort_values(ascending=False, kind="stable").index
    return out.loc[order].reset_index(drop=True)


def _decisions(table: pd.DataFrame, offers: dict[str, Offer], fallback_of: dict[str, tuple[Offer, Verdict,
               CustomerState]], budgets: dict[str, tuple[float | None, float | None]],
               settings: DecisionSettings) -> pd.DataFrame:
    rows: list[tuple[object, ...]] = []
    rank = table.groupby("customer_id").cumcount().to_numpy() + 1
    for r, k in zip(table.itertuples(index=False), rank, strict=True):
        offer = offers[r.offer_id]
        context = Context(bought_counts={offer.offer_id: r.lines},
                          last_bought_days={offer.offer_id: r.last} if r.lines else {},
                          days_since_last_purchase=None if r.since != r.since else r.since,
                          usual_gap_days=None if r.gap != r.gap else r.gap)
        state = CustomerState(customer_id=r.customer_id, preferred_channel=r.preferred)
        reasons = reasons_for(offer, state, context, r.channel) if r.personal else ()
        rows.append((secrets.token_hex(8), r.customer_id, r.offer_id, r.channel, int(k), round(r.p, 4),
                     round(r.ev, 4), in_control(r.customer_id, r.offer_id, settings.control_share, settings.salt),
                     r.personal, False, list(reasons), list(r.policy), offer.valid_until))
    decided = set(table["customer_id"])
    fallback_used: Counter = Counter()
    for c, (offer, verdict, state) in sorted(fallback_of.items()):
        if c in decided:
            continue
        limit = budgets.get(offer.offer_id, (None, None))[0]
        if limit is not None and fallback_used[offer.offer_id] >= limit:
            continue
        fallback_used[offer.offer_id] += 1
        rows.append((secrets.token_hex(8), c, offer.offer_id, verdict.channel, 1, 0.0, 0.0,
                     in_control(c, offer.offer_id, settings.control_share, settings.salt),
                     may_personalise(state.personalisation, state.erased), True, [], list(verdict.passed),
                     offer.valid_until))
    out = pd.DataFrame(rows, columns=list(DECISION_COLUMNS)).astype(
        {"rank": int, "p_redeem": float, "expected_value": float, "control": bool, "personal": bool, "fallback": bool})
    return out.sort_values(["customer_id", "rank"], kind="stable").reset_index(drop=True)
