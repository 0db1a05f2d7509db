"""What the offers route keeps in memory around the domain's decisions (reco.offers.engine.decide_many):

- the **response model** of the serving version, loaded once per version; one that fails to load is
  logged and the route answers with non-personal values (it never takes the API down);
- a **snapshot** of the catalogue, the item categories and the shop-wide figures (offer redemption
  rates, spend on each offer's scope, budget used so far), rebuilt in a background thread at most every
  ``refresh_seconds``, so a request reads only its own customer's rows.

Budget use therefore lags by up to ``refresh_seconds`` in the API; the batch export reads it at once.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime

import pandas as pd

from reco.customers.consent import may_personalise
from reco.exceptions import ModelNotFoundError, RecoError
from reco.ingest.rules import utc_now
from reco.offers.catalogue import Offer
from reco.offers.engine import DecisionSettings, OfferInputs, OfferStats, decide_many, offer_stats, read_inputs
from reco.offers.policy import ContactPolicy
from reco.offers.response import ResponseModel
from reco.registry.artifacts import OFFERS_DIR
from serving.state import ServingState

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    offers: list[Offer]
    categories: pd.Series
    stats: OfferStats
    taken_at: float


@dataclass(frozen=True)
class Answer:
    decisions: pd.DataFrame  # reco.offers.engine.DECISION_COLUMNS
    model_version: str | None  # the version whose response model scored them (None: non-personal)
    personalised: bool
    offers: dict[str, Offer]


class OfferServing:
    """See the module docstring."""

    def __init__(self, state: ServingState, policy: ContactPolicy | None = None,
                 settings: DecisionSettings | None = None, refresh_seconds: float = 30.0) -> None:
        self.state = state
        self.policy = policy or ContactPolicy()
        self.settings = settings or DecisionSettings()
        self.refresh_seconds = refresh_seconds
        self._snapshot: Snapshot | None = None
        self._models: dict[str, ResponseModel | None] = {}
        self._refreshing = threading.Lock()
        self._model_lock = threading.Lock()

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
        store = self.state.store
        inputs = read_inputs(store)
        return Snapshot(offers=inputs.offers, categories=inputs.categories, stats=offer_stats(inputs, utc_now()),
                        taken_at=time.monotonic())

    def decide(self, customer_id: str, n: int, channel: str | None, at: datetime | None = None) -> Answer:
        """Decisions for one customer now (reco.offers.engine.decide_many). An erased id is answered as an
        unknown visitor who opted out of personalisation."""
        snap = self.snapshot()
        service = self.state.service
        version = service.version if service is not None else None
        profiles = self.state.profiles
        store = self.state.store
        inputs = read_inputs(store, customer_ids=[customer_id], offers=snap.offers, categories=snap.categories)
        if profiles is not None and customer_id in profiles.index:
            inputs.scores = profiles.loc[[customer_id]]
        if customer_id in inputs.erased:
            inputs = OfferInputs(offers=snap.offers, purchases=inputs.purchases.iloc[:0],
                                 outcomes=inputs.outcomes.iloc[:0], categories=snap.categories,
                                 customers=pd.DataFrame({"customer_id": [customer_id],
                                                         "consent_personalisation": [False],
                                                         "consent_marketing": [False], "preferred_channel": [None]}))
        model = self.model(version)
        decided = decide_many(inputs, model, self.policy, at or utc_now(), [customer_id], snap.stats,
                              replace(self.settings, n=n, channel=channel))
        row = inputs.customers
        allowed = may_personalise(bool(row["consent_personalisation"].iloc[0]) if len(row) else None)
        return Answer(decided, version if model is not None else None, model is not None and allowed,
                      {o.offer_id: o for o in snap.offers})
