"""The contact policy: consent, validity, rules, caps, max per customer, suppression and channel choice, each
named in the verdict."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from reco.offers import Offer
from reco.offers.policy import Contact, ContactPolicy, CustomerState

NOW = datetime(2017, 6, 1, 12)


def _offer(**changes: object) -> Offer:
    base = {"offer_id": "o-meat", "name": "5 off meat", "kind": "amount_off", "value": 5, "channels": "email|app",
            "valid_from": "2017-01-01", "valid_until": "2018-01-01", "max_per_customer": 2}
    return Offer.model_validate({**base, **changes})


def _customer(**changes: object) -> CustomerState:
    return CustomerState(**{"customer_id": "c1", "personalisation": True, "marketing": True, **changes})


def test_outbound_needs_marketing_consent_and_inbound_does_not() -> None:
    policy = ContactPolicy()
    assert policy.check(_offer(), _customer(), "email", NOW).allowed
    refused = policy.check(_offer(), _customer(marketing=None), "email", NOW)  # no row: default no
    assert not refused.allowed and "no marketing consent" in refused.excluded[0]
    app = policy.check(_offer(), _customer(marketing=False, personalisation=False), "app", NOW)
    assert app.allowed and not app.personal  # shown on the app, but as a non-personal offer
    assert not policy.check(_offer(), _customer(erased=True), "app", NOW).allowed


def test_validity_and_rules() -> None:
    policy = ContactPolicy()
    rules = [{"attribute": "churn_probability", "op": ">=", "value": 0.5},
             {"attribute": "bought_category", "op": "within_days", "value": "MEAT", "days": 30},
             {"attribute": "segment", "op": "not_in", "value": ["lost"]}]
    offer = _offer(rules=rules)
    fits = _customer(attributes={"churn_probability": 0.7, "segment": "at risk"},
                     bought_categories={"MEAT": NOW - timedelta(days=10)})
    assert policy.check(offer, fits, "email", NOW).allowed
    misses = _customer(attributes={"churn_probability": 0.2, "segment": "lost"},
                       bought_categories={"MEAT": NOW - timedelta(days=40)})
    excluded = policy.check(offer, misses, "email", NOW).excluded
    assert len(excluded) == 3 and "churn_probability >= 0.5 (is 0.2)" in excluded[0]
    assert "bought MEAT in the last 30 days" in excluded[1] and "segment not_in" in excluded[2]
    opted_out = policy.check(offer, _customer(personalisation=False, attributes=fits.attributes), "app", NOW)
    assert not opted_out.allowed and "opted out of personalisation" in opted_out.excluded[0]
    late = policy.check(_offer(), _customer(), "email", datetime(2018, 2, 1))
    assert "not valid on 2018-02-01" in late.excluded[0]


def test_caps_and_max_per_customer() -> None:
    policy = ContactPolicy()
    history = [Contact("o-fish", "sent", "email", NOW - timedelta(days=3))]
    capped = policy.check(_offer(), _customer(history=history), "email", NOW)
    assert not capped.allowed and "email cap: 1 contact(s) in the last 7 days (at most 1)" in capped.excluded
    assert policy.check(_offer(), _customer(history=history), "app", NOW).allowed  # the app is not capped
    week_ago = [Contact("o-fish", "sent", "email", NOW - timedelta(days=8))]
    assert policy.check(_offer(), _customer(history=week_ago), "email", NOW).allowed
    twice = [Contact("o-meat", "sent", "app", NOW - timedelta(days=d)) for d in (20, 40)]
    assert "made 2 time(s) already" in policy.check(_offer(), _customer(history=twice), "app", NOW).excluded[0]


def test_suppression_after_ignored_or_declined_offers() -> None:
    policy = ContactPolicy()
    ignored = [Contact(f"o{k}", "sent", "app", NOW - timedelta(days=10 * k + 1)) for k in range(3)]
    verdict = policy.check(_offer(), _customer(history=ignored), "email", NOW)
    assert not verdict.allowed and "the last 3 offers got no response" in verdict.excluded[0]
    assert policy.check(_offer(), _customer(history=ignored), "app", NOW).allowed  # inbound: still shown
    answered = [*ignored, Contact("o0", "opened", "email", NOW - timedelta(days=1))]
    assert policy.check(_offer(), _customer(history=answered), "email", NOW).allowed
    declined = [Contact(f"o{k}", "declined", "email", NOW - timedelta(days=k + 1)) for k in range(2)]
    assert "2 offers declined" in policy.check(_offer(), _customer(history=declined), "email", NOW).excluded[0]
    long_ago = [Contact(f"o{k}", "sent", "app", NOW - timedelta(days=200 + k)) for k in range(5)]
    assert policy.check(_offer(), _customer(history=long_ago), "email", NOW).allowed


def test_channel_choice() -> None:
    policy = ContactPolicy()
    offer = _offer(channels="email|sms|app")
    assert policy.choose(offer, _customer(preferred_channel="sms"), NOW).channel == "sms"
    assert policy.choose(offer, _customer(channel_use=Counter({"app": 5, "email": 2})), NOW).channel == "app"
    assert policy.choose(offer, _customer(preferred_channel="phone"), NOW).channel == "email"  # not offered: order
    none = policy.choose(offer, _customer(marketing=False, personalisation=False, erased=True), NOW)
    assert none.channel is None and not none.allowed and any(r.startswith("app: ") for r in none.excluded)
    capped = [Contact("o-x", "sent", "email", NOW - timedelta(days=1))]
    assert policy.choose(offer, _customer(preferred_channel="email", history=capped), NOW).channel == "sms"
