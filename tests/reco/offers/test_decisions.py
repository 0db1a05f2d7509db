"""Decisions: ranked by expected value within the policy, a fallback, plain reasons, a stable control group."""

from __future__ import annotations

from datetime import datetime

from reco.offers import Offer
from reco.offers.decisions import Context, expected_value, fallback_for, in_control, reasons_for, select_candidates
from reco.offers.policy import ContactPolicy, CustomerState

NOW = datetime(2017, 6, 1)


def _offer(offer_id: str, **changes: object) -> Offer:
    base = {"offer_id": offer_id, "name": offer_id, "kind": "amount_off", "value": 2, "channels": "email|app",
            "valid_from": "2017-01-01", "valid_until": "2018-01-01"}
    return Offer.model_validate({**base, **changes})


OFFERS = [_offer("meat", scope="category:MEAT", cost_per_redemption=2.0),
          _offer("fish", scope="category:FISH", cost_per_redemption=1.0, weight=2.0),
          _offer("wine", scope="category:WINE", cost_per_redemption=50.0),  # costs more than it brings
          _offer("recs", kind="product_recommendation", value=0, channels="app|web")]
CONTEXT = Context(bought_counts={"meat": 6}, last_bought_days={"meat": 40.0},
                  scope_spend={"meat": 30.0, "fish": 20.0, "wine": 40.0}, days_since_last_purchase=74,
                  usual_gap_days=25)


def test_expected_value() -> None:
    assert expected_value(OFFERS[0], 0.5, 30.0) == 0.5 * (0.3 * 30 - 2)
    assert expected_value(OFFERS[1], 0.5, 20.0) == 2 * 0.5 * (0.3 * 20 - 1)


def _ranked(p: dict[str, float]) -> list[tuple[float, Offer]]:
    return sorted(((expected_value(o, p.get(o.offer_id, 0.0), CONTEXT.scope_spend.get(o.offer_id, 0.0)), o)
                   for o in OFFERS if o.kind != "product_recommendation"), key=lambda r: -r[0])


def test_candidates_by_expected_value_with_reasons() -> None:
    customer = CustomerState("c1", personalisation=True, marketing=True, preferred_channel="app")
    chosen = select_candidates(customer, _ranked({"meat": 0.6, "fish": 0.3, "wine": 0.9}), ContactPolicy(), NOW)
    assert [o.offer_id for _, o, _ in chosen] == ["meat", "fish"]  # meat 4.2 > fish 3.0; wine < 0
    value, meat, verdict = chosen[0]
    assert verdict.channel == "app" and value == 0.6 * (9 - 2) and verdict.passed
    assert reasons_for(meat, customer, CONTEXT, verdict.channel) == (
        "bought MEAT 6 times, last 40 days ago", "no purchase for 74 days, 3.0x their usual gap", "prefers the app")
    assert len(select_candidates(customer, _ranked({"meat": 0.6, "fish": 0.3}), ContactPolicy(), NOW, keep=1)) == 1


def test_fallback_and_consent() -> None:
    nobody = CustomerState("c2", personalisation=False, marketing=False)
    found = fallback_for(nobody, OFFERS, ContactPolicy(), NOW)
    assert found is not None and found[0].offer_id == "recs" and found[1].channel == "app"
    assert fallback_for(nobody, OFFERS, ContactPolicy(), NOW, channel="email") is None  # outbound: no consent
    assert select_candidates(nobody, _ranked({"meat": 0.9}), ContactPolicy(), NOW, channel="email") == []


def test_control_group_is_stable_and_about_the_share() -> None:
    pairs = [(f"c{i}", "meat") for i in range(20000)]
    share = sum(in_control(c, o) for c, o in pairs) / len(pairs)
    assert 0.09 < share < 0.11
    assert all(in_control(c, o) == in_control(c, o) for c, o in pairs[:100])
    assert sum(in_control(c, o, 0.5) for c, o in pairs) / len(pairs) > 0.45
