"""Batch decisions (reco.offers.engine.decide_many): on many random catalogues and customers, no decision
ever breaks a budget, a channel cap, an offer's limit per customer, consent, a rule or an erasure."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from reco.customers.consent import may_contact, may_personalise
from reco.offers import Offer
from reco.offers.catalogue import OUTBOUND_CHANNELS
from reco.offers.engine import DecisionSettings, OfferInputs, decide_many, offer_stats
from reco.offers.policy import ContactPolicy
from reco.offers.rules import evaluate_rules

AT = datetime(2018, 3, 1)
CHANNELS = ["email", "sms", "app", "web"]


class _Scores:
    """A stand-in response model: a fixed function of the features (what is tested here is everything
    around the model: eligibility, policy, budgets, allocation)."""

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        z = 0.3 * np.log1p(x["offer_lines"].to_numpy()) - 0.002 * x["recency_days"].to_numpy() - 1.0
        return 1 / (1 + np.exp(-z))


def _world(seed: int) -> tuple[OfferInputs, list[str]]:
    rng = np.random.default_rng(seed)
    items = [f"i{k}" for k in range(12)]
    categories = pd.Series({item: ("meat" if k < 6 else "fish") for k, item in enumerate(items)})
    offers = []
    for o in range(int(rng.integers(2, 8))):
        channels = "|".join(rng.choice(CHANNELS, size=int(rng.integers(1, 4)), replace=False))
        rules = []
        if rng.random() < 0.3:
            rules = [{"attribute": "bought_category", "op": "within_days", "value": "meat", "days": 90}]
        elif rng.random() < 0.3:
            rules = [{"attribute": "days_since_last_purchase", "op": ">=", "value": 20}]
        offers.append(Offer.model_validate({
            "offer_id": f"o{o}", "name": f"offer {o}", "kind": "amount_off", "value": 1,
            "scope": str(rng.choice(["category:meat", "category:fish", "basket", "items:i1|i7"])),
            "channels": channels, "valid_from": "2018-01-01",
            "valid_until": "2018-06-01" if rng.random() < 0.9 else "2018-02-01",
            "budget": None if rng.random() < 0.3 else int(rng.integers(0, 15)),
            "budget_cost": None if rng.random() < 0.7 else float(rng.uniform(0, 3)),
            "cost_per_contact": float(rng.uniform(0, 0.05)), "cost_per_redemption": float(rng.uniform(0, 0.5)),
            "max_per_customer": int(rng.integers(1, 3)), "rules": rules}))
    if rng.random() < 0.5:
        offers.append(Offer.model_validate({"offer_id": "tips", "name": "tips", "kind": "product_recommendation",
                                            "channels": "email|app", "valid_from": "2018-01-01",
                                            "valid_until": "2018-06-01"}))
    customers = [f"c{k:02d}" for k in range(40)]
    purchases, outcomes = [], []
    for c in customers:
        for _ in range(int(rng.integers(0, 15))):
            purchases.append({"customer_id": c, "item_id": str(rng.choice(items)),
                              "timestamp": AT - timedelta(days=float(rng.uniform(1, 200))),
                              "order_id": f"{c}-{rng.integers(1e9)}", "value": float(rng.uniform(1, 20)),
                              "discount": 0.0, "channel": str(rng.choice(["web", "app", "store"]))})
        for _ in range(int(rng.integers(0, 4))):
            offer = offers[int(rng.integers(len(offers)))]
            when = AT - timedelta(days=float(rng.uniform(0, 40)))
            channel = str(rng.choice(offer.channels))
            outcomes.append({"customer_id": c, "offer_id": offer.offer_id, "outcome": "sent", "channel": channel,
                             "timestamp": when, "decision_id": None})
            if rng.random() < 0.3:
                outcomes.append({"customer_id": c, "offer_id": offer.offer_id,
                                 "outcome": str(rng.choice(["redeemed", "declined", "opened"])), "channel": channel,
                                 "timestamp": when + timedelta(days=1), "decision_id": None})
    consent = pd.DataFrame({"customer_id": customers,
                            "consent_personalisation": rng.random(len(customers)) < 0.8,
                            "consent_marketing": rng.random(len(customers)) < 0.6,
                            "preferred_channel": [str(rng.choice([*CHANNELS, "none"])) for _ in customers]})
    consent["preferred_channel"] = consent["preferred_channel"].where(consent["preferred_channel"] != "none")
    consent = consent.iloc[: len(customers) - 5]  # five customers without a row: the defaults
    erased = frozenset(str(c) for c in rng.choice(customers, size=3, replace=False))
    inputs = OfferInputs(offers=offers, purchases=pd.DataFrame(purchases), customers=consent,
                         outcomes=pd.DataFrame(outcomes, columns=["customer_id", "offer_id", "outcome", "channel",
                                                                  "timestamp", "decision_id"]),
                         categories=categories, erased=erased)
    return inputs, customers


@pytest.mark.parametrize("seed", range(40))
def test_no_decision_breaks_a_budget_cap_consent_rule_or_erasure(seed: int) -> None:
    inputs, customers = _world(seed)
    rng = np.random.default_rng(1000 + seed)
    n = int(rng.integers(1, 4))
    channel = None if rng.random() < 0.7 else str(rng.choice(CHANNELS))
    policy = ContactPolicy(caps={"email": (1, 7), "sms": (1, 14), "app": (int(rng.integers(1, 3)), 7)})
    stats = offer_stats(inputs, AT)
    settings = DecisionSettings(n=n, channel=channel, control_share=0.2, keep=int(rng.integers(1, 6)))
    decided = decide_many(inputs, _Scores(), policy, AT, customers, stats, settings, chunk_size=7)
    offers = {o.offer_id: o for o in inputs.offers}
    rows = inputs.customers.set_index("customer_id")
    treated = decided[~decided["control"]]
    assert not decided.duplicated(["customer_id", "offer_id"]).any()
    assert (decided.groupby("customer_id").size() <= n).all()
    assert not set(decided["customer_id"]) & inputs.erased
    for o, (contacts, cost) in stats.budgets_left(inputs.offers).items():
        mine = treated[treated["offer_id"] == o]
        assert contacts is None or len(mine) <= contacts, f"offer {o}: {len(mine)} contacts, {contacts} left"
        spent = (offers[o].cost_per_contact + mine["p_redeem"] * offers[o].cost_per_redemption).sum()
        assert cost is None or spent <= cost + 1e-3, f"offer {o}: expected cost {spent} over {cost}"
    for r in decided.itertuples():
        offer = offers[r.offer_id]
        assert offer.active_at(AT) and r.channel in offer.channels and (channel is None or r.channel == channel)
        row = rows.loc[r.customer_id] if r.customer_id in rows.index else None
        marketing = None if row is None else bool(row["consent_marketing"])
        personal = may_personalise(None if row is None else bool(row["consent_personalisation"]))
        if r.channel in OUTBOUND_CHANNELS:
            assert may_contact(marketing), f"{r.customer_id} has no marketing consent for {r.channel}"
        if offer.rules:
            assert personal
        if not personal:
            assert r.reasons == [] and not r.personal
        assert r.fallback == (offer.kind == "product_recommendation")
        if r.fallback:
            assert len(decided[decided["customer_id"] == r.customer_id]) == 1
    history = inputs.outcomes[inputs.outcomes["outcome"] == "sent"]
    for (c, ch), group in treated.groupby(["customer_id", "channel"]):
        if ch in policy.caps:
            count, days = policy.caps[ch]
            recent = history[(history["customer_id"] == c) & (history["channel"] == ch)
                             & (history["timestamp"] >= AT - timedelta(days=days))]
            assert len(recent) + len(group) <= count, f"{c} {ch}: {len(recent)} sent + {len(group)} new > {count}"
    for r in treated.itertuples():
        offer = offers[r.offer_id]
        made = history[(history["customer_id"] == r.customer_id) & (history["offer_id"] == r.offer_id)
                       & (history["timestamp"] >= offer.valid_from)]
        assert len(made) < offer.max_per_customer
    # rules hold for whoever got a ruled offer
    for r in decided[decided["offer_id"].map(lambda o: bool(offers[o].rules))].itertuples():
        mine = inputs.purchases[inputs.purchases["customer_id"] == r.customer_id]
        cats = {k: mine.loc[mine["item_id"].map(inputs.categories) == k, "timestamp"].max() for k in ("meat", "fish")}
        since = (AT - mine["timestamp"].max()).total_seconds() / 86400 if len(mine) else None
        failed = evaluate_rules(offers[r.offer_id].rules, {"days_since_last_purchase": since}, {},
                                {k: v.to_pydatetime() for k, v in cats.items() if v == v}, AT)
        assert failed == [], f"{r.customer_id} got {r.offer_id} though {failed}"


def test_the_same_customer_is_decided_the_same_alone_or_in_a_batch() -> None:
    """Without budgets to share, one customer's decisions do not depend on who else is decided (the API
    decides one, the export thousands, by the same steps)."""
    inputs, customers = _world(7)
    inputs.offers = [o.model_copy(update={"budget_contacts": None, "budget_cost": None}) for o in inputs.offers]
    policy, stats = ContactPolicy(), offer_stats(inputs, AT)
    batch = decide_many(inputs, _Scores(), policy, AT, customers, stats, DecisionSettings(n=2), chunk_size=5)
    assert len(batch) > 20
    for c in customers:
        alone = decide_many(inputs, _Scores(), policy, AT, [c], stats, DecisionSettings(n=2))
        mine = batch[batch["customer_id"] == c]
        assert alone[["offer_id", "channel", "p_redeem", "expected_value", "control"]].values.tolist() == mine[
            ["offer_id", "channel", "p_redeem", "expected_value", "control"]].values.tolist()
