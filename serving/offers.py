"""What the offers route keeps in memory around the domain's decisions (reco.offers.engine.decide_many):

- the **response model** of the serving version, loaded once per version; one that fails to load is
  logged and the route answers with non-personal values (it never takes the API down);
- a **snapshot** of the catalogue, the item categories and the shop-wide figures (offer redemption
  rates, spend on each offer's scope, budget used so far), rebuilt in a background thread at most every
  ``refresh_seconds``, so a request reads only its own customer's rows;
- **answers** per customer and query (n, channel), as the JSON the route sends, kept while nothing they
  depend on changed: the customer (the store's change feed names them after a purchase, an offer outcome,
  a consent change, an export's planned contact or an erasure), the model version, the catalogue, the
  set of offers whose budget is used up, an offer's start or end, and at most ``cache_seconds`` (caps
  and recency move with time). A new version or catalogue fills them for the most recent customers in
  the background (``warm``), computed in batches as each customer alone would be.

Budget use therefore lags by up to ``refresh_seconds`` in the API; the batch export reads it at once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime

import pandas as pd

from reco.clock import utc_now
from reco.customers.consent import may_personalise
from reco.exceptions import ConfigurationError, ModelNotFoundError, RecoError
from reco.offers.catalogue import Offer
from reco.offers.engine import (
    DecisionSettings,
    OfferInputs,
    OfferStats,
    decide_many,
    explain,
    offer_stats,
    read_inputs,
)
from reco.offers.policy import ContactPolicy
from reco.offers.response import ResponseModel
from reco.registry.artifacts import OFFERS_DIR
from reco.vocabulary import OFFER_CHANNELS
from serving.freshness import FreshCustomers
from serving.schemas import CustomerOffersOut, OfferDecisionOut
from serving.state import ServingState

logger = logging.getLogger(__name__)

WARM_BATCH = 1_000
SPEND_SECONDS = 3_600.0  # the shop-wide spend per offer scope moves slowly: every purchase is read this often
Query = tuple[int, str | None]  # (n, channel)


def parse_warm(text: str) -> list[Query]:
    """``3:app,3:web`` -> [(3, "app"), (3, "web")]; ``3:`` is any channel; empty: no warm-up."""
    out: list[Query] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        n, _, channel = part.partition(":")
        channel = channel.strip().lower() or None
        if not n.strip().isdigit() or not 1 <= int(n) <= 20 or (channel is not None and channel not in OFFER_CHANNELS):
            raise ConfigurationError(f"offers warm-up query {part!r} is not n:channel with n in 1..20 and a channel "
                                     f"of {', '.join(OFFER_CHANNELS)} (or none: '3:')")
        out.append((int(n), channel))
    return out


@dataclass(frozen=True)
class Snapshot:
    offers: list[Offer]
    categories: pd.Series
    stats: OfferStats
    taken_at: float
    catalogue: str  # a fingerprint of the offers' definitions
    exhausted: frozenset[str]  # offers whose remaining budget is nothing
    spend_at: float  # when the shop-wide spend per offer scope was computed (time.monotonic())
    offer_items: pd.DataFrame  # (offer_id, item_id) of the offers' scopes


@dataclass(frozen=True)
class Answer:
    decisions: pd.DataFrame  # reco.offers.engine.DECISION_COLUMNS
    model_version: str | None  # the version whose response model scored them (None: non-personal)
    personalised: bool
    offers: dict[str, Offer]


@dataclass(frozen=True)
class _Kept:
    body: bytes
    version: str | None
    catalogue: str
    exhausted: frozenset[str]
    until: float  # time.monotonic() after which it is recomputed


class OfferServing:
    """See the module docstring."""

    def __init__(self, state: ServingState, policy: ContactPolicy | None = None,
                 settings: DecisionSettings | None = None, refresh_seconds: float = 30.0, cache_size: int = 0,
                 cache_seconds: float = 300.0, warm: list[Query] | None = None) -> None:
        self.state = state
        self.policy = policy or ContactPolicy()
        self.settings = settings or DecisionSettings()
        self.refresh_seconds = refresh_seconds
        self.cache_seconds = cache_seconds
        self.warm_queries = warm or []
        watcher = state.store.change_watcher() if cache_size else None
        self.fresh = FreshCustomers(watcher, cache_size, state.store.hasher) if watcher is not None else None
        self.warming: threading.Thread | None = None
        self._warmed: tuple[str | None, str] | None = None
        self._snapshot: Snapshot | None = None
        self._models: dict[str, ResponseModel | None] = {}
        self._refreshing = threading.Lock()
        self._model_lock = threading.Lock()
        self._warm_lock = threading.Lock()
        self._closing = False

    # ------------------------------------------------------------------ model and snapshot
    def model(self, version: str | None) -> ResponseModel | None:
        """The serving version's response model, or None (none trained, or unreadable: logged once)."""
        if version is None:
            return None
        if version not in self._models:
            with self._model_lock:
                if version not in self._models:
                    try:
                        self._models = {version: ResponseModel.load(self.state.registry.part_path(version, OFFERS_DIR))}
                    except ModelNotFoundError:
                        logger.info("model version %s has no offer-response model; offers are non-personal until "
                                    "'reco train offers'", version)
                        self._models = {version: None}
                    except RecoError as exc:
                        logger.error("the offer-response model of %s failed to load: %s; offers are non-personal",
                                     version, exc)
                        self._models = {version: None}
        return self._models[version]

    def snapshot(self) -> Snapshot:
        """The current snapshot; the first call builds it, later ones start a rebuild when it is stale."""
        current = self._snapshot
        if current is None:
            with self._refreshing:
                if self._snapshot is None:
                    self._snapshot = self._build()
            return self._snapshot
        if time.monotonic() - current.taken_at > self.refresh_seconds and self._refreshing.acquire(blocking=False):
            threading.Thread(target=self._refresh, name="reco-offers", daemon=True).start()
        return current

    def _refresh(self) -> None:
        try:
            self._snapshot = self._build()
        except Exception:  # keep serving the old snapshot; the next stale read tries again
            logger.exception("the offers snapshot could not be rebuilt")
        finally:
            self._refreshing.release()

    def _build(self) -> Snapshot:
        """Budgets and rates from every outcome; the shop-wide spend on each offer's scope (every purchase
        read) only when the catalogue changed or it is older than ``SPEND_SECONDS``."""
        store, previous = self.state.store, self._snapshot
        offers = store.offers.all()
        catalogue = hashlib.blake2b(json.dumps([o.to_record() for o in offers], sort_keys=True).encode(),
                                    digest_size=8).hexdigest()
        again = (previous is not None and previous.catalogue == catalogue
                 and time.monotonic() - previous.spend_at < SPEND_SECONDS)
        if again:
            assert previous is not None
            inputs = read_inputs(store, offers=offers, categories=previous.categories, with_purchases=False)
            stats = offer_stats(inputs, utc_now(), scope_spend=previous.stats.scope_spend)
            spend_at = previous.spend_at
        else:
            inputs = read_inputs(store, offers=offers)
            stats = offer_stats(inputs, utc_now())
            spend_at = time.monotonic()
        left = stats.budgets_left(inputs.offers)
        exhausted = frozenset(o for o, (contacts, cost) in left.items() if contacts == 0 or cost == 0)
        return Snapshot(offers=inputs.offers, categories=inputs.categories, stats=stats, taken_at=time.monotonic(),
                        catalogue=catalogue, exhausted=exhausted, spend_at=spend_at,
                        offer_items=inputs.items_of_offers())

    # ------------------------------------------------------------------ answers
    @property
    def answers_on_loop(self) -> bool:
        """Whether ``cached`` may run on the event loop: its change poll waits on no network."""
        return self.fresh is not None and not self.fresh.watcher.waits_on_network

    def cached(self, customer_id: str, n: int, channel: str | None) -> bytes | None:
        """The answer kept for this customer and query, if nothing it depends on changed; else None."""
        if self.fresh is None or self._snapshot is None:
            return None
        self.fresh.refresh()
        return self._kept(customer_id, (n, channel))

    def _kept(self, customer_id: str, query: Query) -> bytes | None:
        assert self.fresh is not None
        entry = self.fresh.get(customer_id)
        kept = entry.get(query) if entry is not None else None
        snap, service = self._snapshot, self.state.service
        if kept is None or snap is None or kept.catalogue != snap.catalogue or kept.exhausted != snap.exhausted \
                or kept.version != (service.version if service is not None else None) or time.monotonic() > kept.until:
            return None
        return kept.body

    def answer(self, customer_id: str, n: int, channel: str | None) -> bytes:
        """The route's JSON answer: kept, or decided now and kept (blocking: run it in a worker thread)."""
        since = self.fresh.begin() if self.fresh is not None else 0
        if self.fresh is not None and self._snapshot is not None:
            body = self._kept(customer_id, (n, channel))
            if body is not None:
                return body
        answer = self.decide(customer_id, n, channel)
        body = _body(customer_id, answer)
        self._keep({customer_id: body}, (n, channel), since, utc_now())
        return body

    def _keep(self, bodies: dict[str, bytes], query: Query, since: int, at: datetime) -> None:
        if self.fresh is None:
            return
        snap = self._snapshot
        if snap is None:
            return
        boundaries = [t for o in snap.offers for t in (o.valid_from, o.valid_until) if t > at]
        seconds = min([self.cache_seconds, *[(t - at).total_seconds() for t in boundaries]])
        service = self.state.service
        kept = _Kept(b"", service.version if service is not None else None, snap.catalogue, snap.exhausted,
                     time.monotonic() + seconds)
        for customer_id, body in bodies.items():
            entry = dict(self.fresh.get(customer_id) or {})
            entry[query] = replace(kept, body=body)
            self.fresh.remember(customer_id, entry, since)

    def explain(self, customer_id: str, channel: str | None) -> tuple[pd.DataFrame, str | None]:
        """reco.offers.engine.explain for one customer now, and the model version behind it."""
        snap = self.snapshot()
        version = self._version()
        inputs = self._inputs(customer_id, snap)
        model = self.model(version)
        table = explain(inputs, model, self.policy, utc_now(), customer_id, snap.stats,
                        replace(self.settings, channel=channel))
        return table, version if model is not None else None

    def _inputs(self, customer_id: str, snap: Snapshot) -> OfferInputs:
        """One customer's inputs; an erased id as an unknown visitor who opted out of personalisation."""
        inputs = read_inputs(self.state.store, scores=None, customer_ids=[customer_id], offers=snap.offers,
                             categories=snap.categories, items_of_offers=snap.offer_items)
        inputs.scores = self._scores([customer_id])
        if customer_id in inputs.erased:
            inputs = OfferInputs(offers=snap.offers, purchases=inputs.purchases.iloc[:0],
                                 outcomes=inputs.outcomes.iloc[:0], categories=snap.categories,
                                 offer_items=snap.offer_items,
                                 customers=pd.DataFrame({"customer_id": [customer_id],
                                                         "consent_personalisation": [False],
                                                         "consent_marketing": [False], "preferred_channel": [None]}))
        return inputs

    def decide(self, customer_id: str, n: int, channel: str | None, at: datetime | None = None) -> Answer:
        """Decisions for one customer now (reco.offers.engine.decide_many). An erased id is answered as an
        unknown visitor who opted out of personalisation."""
        snap = self.snapshot()
        version = self._version()
        inputs = self._inputs(customer_id, snap)
        model = self.model(version)
        decided = decide_many(inputs, model, self.policy, at or utc_now(), [customer_id], snap.stats,
                              replace(self.settings, n=n, channel=channel))
        return self._answer(decided, inputs, customer_id, model, version, snap)

    def _answer(self, decided: pd.DataFrame, inputs: OfferInputs, customer_id: str, model: ResponseModel | None,
                version: str | None, snap: Snapshot) -> Answer:
        rows = inputs.customers[inputs.customers["customer_id"] == customer_id]
        allowed = may_personalise(bool(rows["consent_personalisation"].iloc[0]) if len(rows) else None,
                                  customer_id in inputs.erased)
        return Answer(decided, version if model is not None else None, model is not None and allowed,
                      {o.offer_id: o for o in snap.offers})

    def _version(self) -> str | None:
        service = self.state.service
        return service.version if service is not None else None

    def _scores(self, customers: list[str]) -> pd.DataFrame | None:
        profiles = self.state.profiles
        if profiles is None:
            return None
        return profiles.loc[profiles.index.intersection(customers)]

    # ------------------------------------------------------------------ warm-up
    def start(self) -> None:
        """Build the first snapshot and warm answers in the background (the API starts at once)."""
        def run() -> None:
            try:
                self.snapshot()
            except Exception:
                logger.exception("the offers snapshot could not be built; the first request tries again")
                return
            self.maybe_warm()

        threading.Thread(target=run, name="reco-offers-start", daemon=True).start()

    def maybe_warm(self) -> None:
        """Start filling answers for the most recent customers when the version or catalogue changed."""
        if self.fresh is None or not self.warm_queries or self._snapshot is None:
            return
        key = (self._version(), self._snapshot.catalogue)
        if key == self._warmed or self._closing:
            return
        with self._warm_lock:
            if key == self._warmed or (self.warming is not None and self.warming.is_alive()):
                return
            self._warmed = key
            thread = threading.Thread(target=self._warm, name="reco-offers-warm", daemon=True)
            thread.start()
            self.warming = thread  # started before it is seen: close() may join it at once

    def _warm(self) -> None:
        assert self.fresh is not None
        started = time.perf_counter()
        try:
            snap = self.snapshot()
            version = self._version()
            model = self.model(version)
            customers = self.state.store.recent_customers(max(1, self.fresh.size // 2))
            done = 0
            for start in range(0, len(customers), WARM_BATCH):
                if self._closing or self._snapshot is not snap or self._version() != version:
                    logger.info("offers warm-up stopped: the version, the catalogue or the process changed")
                    return
                batch = customers[start:start + WARM_BATCH]
                since = self.fresh.begin()
                at = utc_now()
                inputs = read_inputs(self.state.store, customer_ids=batch, offers=snap.offers,
                                     categories=snap.categories, items_of_offers=snap.offer_items)
                inputs.scores = self._scores(batch)
                inputs.erased = frozenset()  # recent customers have purchases, so none is erased
                for n, channel in self.warm_queries:
                    decided = decide_many(inputs, model, self.policy, at, batch, snap.stats,
                                          replace(self.settings, n=n, channel=channel), shared_budgets=False)
                    by_customer = dict(iter(decided.groupby("customer_id", sort=False)))
                    bodies = {c: _body(c, self._answer(by_customer.get(c, decided.iloc[:0]), inputs, c, model,
                                                        version, snap)) for c in batch}
                    self._keep(bodies, (n, channel), since, at)
                done += len(batch)
                logger.info("offers warm-up: %d of %d customers (%.1fs)", done, len(customers),
                            time.perf_counter() - started)
        except Exception:
            logger.exception("offers warm-up failed; answers are computed on request")

    def close(self, timeout: float = 30.0) -> None:
        self._closing = True
        with self._warm_lock:
            warming = self.warming
        if warming is not None:
            warming.join(timeout)
        if self.fresh is not None:
            self.fresh.watcher.close()


def _body(customer_id: str, answer: Answer) -> bytes:
    out = []
    for row in answer.decisions.itertuples(index=False):
        offer = answer.offers[row.offer_id]
        out.append(OfferDecisionOut(
            offer_id=row.offer_id, name=offer.name, kind=offer.kind, value=offer.value, channel=row.channel,
            rank=row.rank, p_redeem=row.p_redeem, expected_value=row.expected_value, reasons=list(row.reasons),
            valid_until=row.valid_until, decision_id=row.decision_id, control=bool(row.control),
            fallback=bool(row.fallback)))
    return CustomerOffersOut(customer_id=customer_id, model_version=answer.model_version,
                             personalised=answer.personalised, offers=out).model_dump_json().encode()
