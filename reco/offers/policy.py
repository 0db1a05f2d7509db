"""The contact policy: whether an offer may be made to a customer on a channel now, and why (not).

Every check is named in the verdict, passed or failed, for the marketer (never shown to the customer):

- **consent** (reco.customers.consent): an outbound channel (email, sms, phone) needs marketing consent;
  on the site, app or in store an offer may be shown to anyone, but only personal ones to customers who
  allow personalisation;
- **eligibility**: the offer is valid now and its rules hold for the customer (reco.offers.rules);
- **caps**: at most N contacts per customer and channel within a period (default one email and one SMS
  per 7 days), and the offer's ``max_per_customer`` within its validity;
- **suppression**: after ``ignored_limit`` contacts in a row that got no response (opened, clicked or
  redeemed), or ``declined_limit`` declines, within ``suppress_days``, no more outbound offers then.

The channel is chosen among the offer's channels: the customer's stated preferred channel first, then
the channels they buy or respond on most; the first that passes every check is used.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from reco.config import Settings
from reco.customers.consent import may_contact, may_personalise
from reco.exceptions import ConfigurationError
from reco.offers.catalogue import OUTBOUND_CHANNELS, Offer
from reco.offers.rules import evaluate_rules
from reco.vocabulary import OFFER_CHANNELS

POSITIVE = frozenset({"opened", "clicked", "redeemed"})


@dataclass(frozen=True)
class Contact:
    """A past outcome of an offer to this customer."""

    offer_id: str
    outcome: str
    channel: str | None
    at: datetime


@dataclass
class CustomerState:
    """What the policy knows of one customer at decision time."""

    customer_id: str
    personalisation: bool | None = None  # None: no stored row (the defaults apply)
    marketing: bool | None = None
    erased: bool = False
    preferred_channel: str | None = None
    attributes: dict[str, object] = field(default_factory=dict)  # scores: segment, churn_probability, ...
    bought: dict[str, datetime] = field(default_factory=dict)  # item id -> last purchase
    bought_categories: dict[str, datetime] = field(default_factory=dict)  # category -> last purchase
    channel_use: Counter = field(default_factory=Counter)  # channel -> purchases and responses on it
    history: list[Contact] = field(default_factory=list)


@dataclass(frozen=True)
class Verdict:
    offer_id: str
    channel: str | None
    allowed: bool
    personal: bool
    passed: tuple[str, ...]
    excluded: tuple[str, ...]


@dataclass(frozen=True)
class ContactPolicy:
    """Caps per channel: channel -> (contacts, days). Channels without a cap are not capped."""

    caps: dict[str, tuple[int, int]] = field(default_factory=lambda: {"email": (1, 7), "sms": (1, 7)})
    ignored_limit: int = 3
    declined_limit: int = 2
    suppress_days: int = 90

    @classmethod
    def from_settings(cls, settings: Settings) -> ContactPolicy:
        """The policy the settings describe (``RECO_OFFER_CAPS`` and the suppression limits)."""
        return cls(caps=parse_caps(settings.offer_caps), ignored_limit=settings.offer_ignored_limit,
                   declined_limit=settings.offer_declined_limit, suppress_days=settings.offer_suppress_days)

    def channels_for(self, offer: Offer, customer: CustomerState) -> list[str]:
        """The offer's channels in the order they are tried for this customer."""
        ranked = sorted(offer.channels, key=lambda c: (c != customer.preferred_channel, -customer.channel_use[c],
                                                       offer.channels.index(c)))
        return ranked

    def check(self, offer: Offer, customer: CustomerState, channel: str, at: datetime,
              cache: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] | None = None) -> Verdict:
        """Every check for one offer on one channel at ``at``. ``cache`` (one per customer and time) keeps
        the checks that depend on the channel only, so a batch checks them once per customer, not per offer."""
        if cache is not None and channel in cache:
            channel_passed, channel_excluded = cache[channel]
        else:
            channel_passed, channel_excluded = self.channel_checks(customer, channel, at)
            if cache is not None:
                cache[channel] = (channel_passed, channel_excluded)
        offer_passed, offer_excluded = self.offer_checks(offer, customer, at)
        excluded = channel_excluded + offer_excluded
        allowed = not excluded
        return Verdict(offer.offer_id, channel if allowed else None, allowed,
                       may_personalise(customer.personalisation, customer.erased), channel_passed + offer_passed,
                       excluded)

    def channel_checks(self, customer: CustomerState, channel: str, at: datetime
                       ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(passed, excluded) of the checks that depend on the customer and channel: consent, the channel's
        cap, suppression of outbound offers."""
        passed: list[str] = []
        excluded: list[str] = []
        outbound = channel in OUTBOUND_CHANNELS
        if customer.erased:
            excluded.append("customer erased")
        elif outbound and not may_contact(customer.marketing):
            excluded.append(f"{channel} is outbound and the customer gave no marketing consent")
        else:
            passed.append("marketing consent" if outbound else f"{channel} needs no marketing consent")
        cap = self.caps.get(channel)
        if cap is not None:
            count, days = cap
            recent = _recent_contacts(customer, channel, days, at)
            if recent >= count:
                excluded.append(f"{channel} cap: {recent} contact(s) in the last {days} days (at most {count})")
            else:
                passed.append(f"{channel} cap: {recent} of {count} in {days} days")
        if outbound:
            reason = self._suppressed(customer, at)
            if reason:
                excluded.append(reason)
        return tuple(passed), tuple(excluded)

    def room(self, customer: CustomerState, channel: str, at: datetime) -> int | None:
        """Contacts the channel's cap still allows this customer at ``at`` (None: not capped)."""
        cap = self.caps.get(channel)
        if cap is None:
            return None
        count, days = cap
        return max(0, count - _recent_contacts(customer, channel, days, at))

    def offer_checks(self, offer: Offer, customer: CustomerState, at: datetime
                     ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(passed, excluded) of the checks that depend on the offer: validity, eligibility rules, the
        offer's contacts per customer."""
        passed: list[str] = []
        excluded: list[str] = []
        if not offer.active_at(at):
            excluded.append(f"offer not valid on {at:%Y-%m-%d} ({offer.valid_from:%Y-%m-%d} .. "
                            f"{offer.valid_until:%Y-%m-%d})")
        if offer.rules:
            if not may_personalise(customer.personalisation, customer.erased):
                excluded.append("the offer's rules read the customer's data, and they opted out of personalisation")
            else:
                failed = evaluate_rules(offer.rules, customer.attributes, customer.bought, customer.bought_categories,
                                        at)
                excluded.extend(f"rule not met: {f}" for f in failed)
                if not failed:
                    passed.append(f"{len(offer.rules)} eligibility rule(s) met")
        made = sum(1 for h in customer.history if h.offer_id == offer.offer_id and h.outcome == "sent"
                   and offer.valid_from <= h.at < offer.valid_until)
        if made >= offer.max_per_customer:
            excluded.append(f"offer made {made} time(s) already (at most {offer.max_per_customer})")
        return tuple(passed), tuple(excluded)

    def choose(self, offer: Offer, customer: CustomerState, at: datetime,
               cache: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] | None = None) -> Verdict:
        """The first channel (in ``channels_for`` order) that passes; else the first channel's verdict with
        every channel's exclusions."""
        verdicts = [self.check(offer, customer, channel, at, cache) for channel in self.channels_for(offer, customer)]
        for verdict in verdicts:
            if verdict.allowed:
                return verdict
        channels = self.channels_for(offer, customer)
        excluded = tuple(f"{channel}: {reason}" for channel, v in zip(channels, verdicts, strict=True)
                         for reason in v.excluded)
        return Verdict(offer.offer_id, None, False, verdicts[0].personal, (), excluded)

    def _suppressed(self, customer: CustomerState, at: datetime) -> str | None:
        window = [h for h in customer.history if at - timedelta(days=self.suppress_days) <= h.at <= at]
        declined = sum(1 for h in window if h.outcome == "declined")
        if declined >= self.declined_limit:
            return f"suppressed: {declined} offers declined in the last {self.suppress_days} days"
        responded = {h.offer_id for h in window if h.outcome in POSITIVE}
        ignored = 0
        for h in sorted((h for h in window if h.outcome == "sent"), key=lambda h: h.at, reverse=True):
            if h.offer_id in responded:
                break
            ignored += 1
        if ignored >= self.ignored_limit:
            return f"suppressed: the last {ignored} offers got no response (within {self.suppress_days} days)"
        return None


def _recent_contacts(customer: CustomerState, channel: str, days: int, at: datetime) -> int:
    return sum(1 for h in customer.history if h.outcome == "sent" and h.channel == channel
               and at - timedelta(days=days) <= h.at <= at)


def parse_caps(text: str) -> dict[str, tuple[int, int]]:
    """``email=1/7,sms=1/7`` -> {"email": (1, 7), "sms": (1, 7)}; an unknown channel or a bad count is a
    ConfigurationError that repeats the value and lists the channels."""
    caps: dict[str, tuple[int, int]] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        channel, sep, rule = part.partition("=")
        count, slash, days = rule.partition("/")
        channel = channel.strip().lower()
        if not sep or not slash or channel not in OFFER_CHANNELS or not count.strip().isdigit() \
                or not days.strip().isdigit() or int(days) < 1:
            raise ConfigurationError(f"offer cap {part!r} is not channel=count/days with a channel of "
                                     f"{', '.join(OFFER_CHANNELS)} (e.g. email=1/7)")
        caps[channel] = (int(count), int(days))
    return caps
