"""The pieces of a decision for one customer, which reco.offers.engine composes for a batch or a single
request: expected value, the policy on the best offers (``select_candidates``), the fallback, reasons a
person can read and a stable control group.

Expected value of an offer to a customer (what a decision maximises)::

    weight x (P(redeem) x (margin_rate x expected spend on the offer's scope - cost per redemption))
    - cost per contact

``expected spend on the offer's scope`` is the customer's average spend per basket on the offer's items
(the whole basket for a basket offer); ``margin_rate`` (default 0.3) turns it into margin. A
``product_recommendation`` offer costs nothing and is the fallback when no other offer qualifies.

The control group is decided but not contacted: a share (default 10%) of (customer, offer) pairs chosen
by a hash (``salt`` keys it), so the same pair is always in or out, whichever process decides it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from reco.offers.catalogue import FALLBACK_KIND, Offer
from reco.offers.policy import ContactPolicy, CustomerState, Verdict

DEFAULT_CONTROL_SHARE = 0.10
DEFAULT_MARGIN_RATE = 0.3


def in_control(customer_id: str, offer_id: str, share: float = DEFAULT_CONTROL_SHARE, salt: str = "") -> bool:
    """Whether the (customer, offer) pair is in the control group: stable, about ``share`` of pairs."""
    digest = hashlib.blake2b(f"{salt}\x1f{customer_id}\x1f{offer_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < share


def expected_value(offer: Offer, p_redeem: float, scope_spend: float, margin_rate: float = DEFAULT_MARGIN_RATE
                   ) -> float:
    return offer.weight * (p_redeem * (margin_rate * scope_spend - offer.cost_per_redemption)) - offer.cost_per_contact


@dataclass
class Context:
    """What reasons and values are read from, per customer: purchases per scope (item or category) of the
    offer's items (count, last time), recency and usual gap between purchases, scope spend per basket."""

    bought_counts: dict[str, int] = field(default_factory=dict)  # offer id -> purchases of its items
    last_bought_days: dict[str, float] = field(default_factory=dict)  # offer id -> days since the last one
    scope_spend: dict[str, float] = field(default_factory=dict)  # offer id -> average spend per basket on it
    days_since_last_purchase: float | None = None
    usual_gap_days: float | None = None


CHANNEL_WORDS = {"app": "the app", "web": "the web shop", "store": "the store", "email": "email", "sms": "SMS",
                 "phone": "the phone"}


def reasons_for(offer: Offer, customer: CustomerState, context: Context, channel: str | None) -> tuple[str, ...]:
    """Plain-language reasons, strongest first (at most three)."""
    out = []
    count = context.bought_counts.get(offer.offer_id, 0)
    what = offer.scope.category if offer.scope.kind == "category" else f"items of '{offer.name}'"
    if count:
        last = context.last_bought_days.get(offer.offer_id)
        out.append(f"bought {what} {count} time{'s' if count != 1 else ''}" +
                   (f", last {last:.0f} days ago" if last is not None else ""))
    gap, since = context.usual_gap_days, context.days_since_last_purchase
    if gap and since is not None and since > 1.5 * gap:
        out.append(f"no purchase for {since:.0f} days, {since / gap:.1f}x their usual gap")
    if channel is not None and channel == customer.preferred_channel:
        out.append(f"prefers {CHANNEL_WORDS.get(channel, channel)}")
    return tuple(out[:3])


def select_candidates(customer: CustomerState, ranked: list[tuple[float, Offer]], policy: ContactPolicy,
                      at: datetime, channel: str | None = None, keep: int | None = None,
                      cache: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] | None = None
                      ) -> list[tuple[float, Offer, Verdict]]:
    """The offers of ``ranked`` (expected value, offer; best first) that pass the policy for this customer
    now (on ``channel`` only, when given), at most ``keep`` of them: the step a single decision and a batch
    share. Offers worth nothing (value <= 0) are never candidates."""
    cache = {} if cache is None else cache
    out: list[tuple[float, Offer, Verdict]] = []
    for value, offer in ranked:
        if value <= 0 or (keep is not None and len(out) >= keep):
            break
        if channel is not None and channel not in offer.channels:
            continue
        verdict = (policy.check(offer, customer, channel, at, cache) if channel
                   else policy.choose(offer, customer, at, cache))
        if verdict.allowed:
            out.append((value, offer, verdict))
    return out


def fallback_for(customer: CustomerState, offers: list[Offer], policy: ContactPolicy, at: datetime,
                 channel: str | None = None) -> tuple[Offer, Verdict] | None:
    """The first fallback offer (``product_recommendation``) the policy allows this customer now."""
    for offer in offers:
        if offer.kind != FALLBACK_KIND or (channel is not None and channel not in offer.channels):
            continue
        verdict = policy.check(offer, customer, channel, at) if channel else policy.choose(offer, customer, at)
        if verdict.allowed:
            return offer, verdict
    return None
