"""What the API holds in memory: the event store, the loaded promoted model version and its customer scores."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime

import pandas as pd
from sqlalchemy.exc import SQLAlchemyError

from reco.erasure import complete_pending
from reco.exceptions import ArtifactError, ModelNotFoundError, RecoError
from reco.registry import ModelRegistry
from reco.service import (
    MODES,
    CustomerHistory,
    Filters,
    Recommendations,
    RecommendationService,
    history_fingerprint,
    history_fingerprints,
)
from reco.store import EventStore
from reco.store.db import key_hash
from serving import metrics
from serving.freshness import FreshCustomers

logger = logging.getLogger(__name__)

WARM_BATCH = 1_000  # customers whose lists one warm-up step computes (bounds its memory and GIL hold)


class ServingState:
    """The store plus the recommendation service of the promoted version (None until one exists)."""

    def __init__(self, store: EventStore, registry: ModelRegistry, cache_size: int = 0,
                 cache_seconds: float = 86_400.0, warm: bool = False) -> None:
        self.store = store
        watcher = store.change_watcher() if cache_size else None
        # Customers whose consent and history this process knows to be current (see serving.freshness).
        self.fresh = FreshCustomers(watcher, cache_size, store.hasher) if watcher is not None else None
        self.registry = registry
        self.cache_size = cache_size
        self.cache_seconds = cache_seconds
        self.warm = warm
        self.warming: threading.Thread | None = None
        self._erasures_seen = self._latest_erasure()  # before the first load: later erasures are swept
        self._erased: set[str] = set()
        self._keys: dict[str, str] = {}  # API key hash -> role, as of the last sync
        self._synced = float("-inf")
        self._service: RecommendationService | None = None
        self._profiles: pd.DataFrame | None = None
        self._checked = 0.0
        self._loading = threading.Lock()
        self._scrubbing = threading.Lock()  # held while pending erasures are retried
        self._swap = threading.Lock()  # held while the service or the profiles are replaced
        self._failed: str | None = None  # a promoted version that failed to load is not retried
        self.problem: str | None = None  # what /ready reports when the promoted version is not the one serving
        self.profiles_version: str | None = None  # the version whose scores ``profiles`` holds
        self._scores_stamp: tuple[int, int] | None = None
        self._closing = False

    def load(self) -> None:
        """Load the promoted version. If it fails to load, keep whatever was serving before; with nothing
        serving yet (start-up), serve the newest other version that loads, and say so (``problem``, /ready,
        an ERROR line): a damaged promoted version never takes the API down."""
        try:
            version = self.registry.promoted()
        except ModelNotFoundError as exc:
            logger.warning("no model to serve yet: %s", exc)
            return
        except RecoError as exc:
            logger.error("the promoted pointer cannot be read: %s", exc)
            return
        try:
            service = self._service_of(version)
        except RecoError as exc:
            self._failed = version  # the version that failed, read once (not the pointer again)
            self.problem = f"promoted model version {version} failed to load: {exc}"
            if self._service is not None:
                logger.error("%s; still serving version %s", self.problem, self._service.version)
                return
            service = self._fallback(version)
            if service is None:
                logger.error("%s; no older version loads either: nothing to serve", self.problem)
                return
            self.problem += f"; serving {service.version}, the newest other version that loads"
            logger.error("%s", self.problem)
        else:
            self.problem = None
        bundle = service.bundle
        stamp = self.registry.scores_stamp(bundle.version)
        profiles, scored = self._read_profiles(bundle.version), bundle.version
        if profiles is None and self._profiles is not None:
            profiles, scored = self._profiles, self.profiles_version  # until the new version's scores exist
            logger.warning("model version %s has no customer scores yet; profiles keep those of %s until "
                           "'reco score customers' writes them", bundle.version, scored)
        previous = self._service.version if self._service is not None else None
        with self._swap:  # swapped together: never a mix of two versions
            self._service, self._profiles, self.profiles_version = service, profiles, scored
            self._scores_stamp = stamp
        metrics.set_model_version(bundle.version, previous)
        logger.info("serving model version %s", bundle.version)
        if self.warm and service.cache is not None:
            self.warming = threading.Thread(target=self._warm, args=(service,), name="reco-warm", daemon=True)
            self.warming.start()

    def _service_of(self, version: str) -> RecommendationService:
        bundle = self.registry.load(version)
        try:
            return RecommendationService(bundle, self.store.items(), cache_size=self.cache_size,
                                         cache_seconds=self.cache_seconds)
        except (KeyError, ValueError, IndexError) as exc:  # a bundle that loads but cannot serve
            raise ArtifactError(f"model version {version} cannot serve: {exc!r}") from exc

    def _read_profiles(self, version: str) -> pd.DataFrame | None:
        """``version``'s customer scores by customer_id, or None (not scored yet, or unreadable: logged)."""
        try:
            return self.registry.customer_scores(version).set_index("customer_id")
        except ModelNotFoundError:
            logger.info("model version %s has no customer scores; profiles wait for 'reco score customers'", version)
        except RecoError as exc:
            logger.error("customer scores of %s failed to load: %s", version, exc)
        return None

    def _reload_profiles(self, version: str, stamp: tuple[int, int] | None) -> None:
        """Swap in scores written for the serving version after it loaded (reco score customers)."""
        try:
            profiles = self._read_profiles(version)
            with self._swap:
                self._scores_stamp = stamp
                if profiles is not None and self._service is not None and self._service.version == version:
                    self._profiles, self.profiles_version = profiles, version
                    logger.info("customer scores of model version %s picked up", version)
        finally:
            self._loading.release()

    def _fallback(self, failed: str) -> RecommendationService | None:
        """The newest other version that loads, or None."""
        for version in reversed(self.registry.versions()):
            if version == failed:
                continue
            try:
                return self._service_of(version)
            except RecoError as exc:
                logger.error("model version %s does not load either: %s", version, exc)
        return None

    def _warm(self, service: RecommendationService) -> None:
        """Fill a new version's top-list cache with the most recent customers' lists, in batches, while it
        serves (requests for customers not reached yet are computed as usual). Stops if the version is
        swapped out; a failure leaves the cache as far as it got."""
        assert service.cache is not None
        started = time.perf_counter()
        try:
            customers = self.store.recent_customers(service.cache.size // len(MODES))
            cached = 0
            for start in range(0, len(customers), WARM_BATCH):
                if self._service is not service or self._closing:
                    logger.info("cache warm-up of %s stopped: %s", service.version,
                                "shutting down" if self._closing else "another version is serving")
                    return
                batch = customers[start:start + WARM_BATCH]
                since = self.fresh.begin() if self.fresh is not None else 0
                history = self.store.customers_events(batch)
                fingerprints = history_fingerprints(history)
                cached += service.warm(history, fingerprints)
                if self.fresh is not None:
                    self._remember_batch(batch, fingerprints, since)
                logger.info("cache warm-up of %s: %d of %d customers read, %d cached (%.1fs)", service.version,
                            min(start + WARM_BATCH, len(customers)), len(customers), cached,
                            time.perf_counter() - started)
        except Exception:
            logger.exception("cache warm-up of %s failed; lists are computed on request", service.version)

    def _remember_batch(self, customers: list[str], fingerprints: dict[str, bytes], since: int) -> None:
        """``FreshCustomers.remember`` for a warm-up batch: their consent read at once, their histories'
        fingerprints as read."""
        assert self.fresh is not None
        denied = self.store.personalisation_denied(customers)
        for customer in customers:
            allowed = customer not in denied
            self.fresh.remember(customer, (allowed, fingerprints.get(customer) if allowed else None), since)

    def _latest_erasure(self) -> datetime | None:
        try:
            return self.store.latest_erasure()
        except (RecoError, SQLAlchemyError) as exc:
            logger.warning("cannot read erasures: %s", exc)
            return None

    def sweep_erasures(self) -> set[str]:
        """Erasures recorded by any process (another worker's DELETE) since the last sweep, as hashes; their
        cached lists and scores are dropped from this process's memory by ``forget_erased``."""
        erased = [(key, when) for key, when in self.store.erasures_since(self._erasures_seen)
                  if key not in self._erased]
        if erased:
            self._erasures_seen = max(when for _, when in erased)
        self._erased.update(key for key, _ in erased)  # read again next time (at or after): not new then
        return {key for key, _ in erased}

    def forget_erased(self, hashes: set[str]) -> None:
        """``forget`` for customers known only by their erasure hash: every cached id is hashed, so this
        runs off the event loop (a background thread) when the sweep finds any."""
        service = self._service
        if service is not None and service.cache is not None:
            hasher = self.store.hasher
            service.cache.forget_where(lambda customer: hasher(customer) in hashes)
        with self._swap:
            profiles = self._profiles
            if profiles is not None:
                gone = [c for c in profiles.index if self.store.hasher(str(c)) in hashes]
                if gone:
                    self._profiles = profiles.drop(index=gone)

    def maybe_sync(self, every_seconds: float) -> None:
        """At most every ``every_seconds``, catch up with what other processes changed in the store: API keys
        added or revoked (``role_for_key`` answers from memory) and erasures (``sweep_erasures``)."""
        now = time.monotonic()
        if now - self._synced < every_seconds:
            return
        self._synced = now
        try:
            self._keys = self.store.api_key_roles()
            erased = self.sweep_erasures()
        except (RecoError, SQLAlchemyError) as exc:
            logger.warning("cannot read API keys or erasures: %s", exc)
            return
        if erased:
            threading.Thread(target=self.forget_erased, args=(erased,), name="reco-erase", daemon=True).start()
        if self._scrubbing.acquire(blocking=False):
            threading.Thread(target=self._complete_pending, name="reco-scrub", daemon=True).start()

    def _complete_pending(self) -> None:
        """Retry erasures whose model files are not scrubbed yet (reco.erasure.complete_pending)."""
        try:
            complete_pending(self.store, self.registry)
        except (RecoError, SQLAlchemyError, OSError) as exc:
            logger.warning("cannot complete pending erasures yet: %s", exc)
        finally:
            self._scrubbing.release()

    def role_for_key(self, key: str) -> str | None:
        """The role of an API key, from the keys read at the last sync; a key added since is looked up in
        the store (and kept). A revoked key stops working at the next sync, within RECO_SYNC_SECONDS."""
        hashed = key_hash(key)
        role = self._keys.get(hashed)
        if role is None:
            role = self.store.role_for_key(key)
            if role is not None:
                self._keys = {**self._keys, hashed: role}
        return role

    def maybe_reload(self, every_seconds: float) -> None:
        """At most every ``every_seconds``, look at the promoted pointer; if it moved, load the new version in a
        background thread while requests keep being served by the current one (a failed load keeps it)."""
        now = time.monotonic()
        if every_seconds <= 0 or now - self._checked < every_seconds:
            return
        self._checked = now
        try:
            promoted = self.registry.promoted()
        except RecoError:
            return  # nothing promoted yet, or the pointer unreadable: keep serving
        current = self._service.version if self._service is not None else None
        if promoted not in (current, self._failed) and self._loading.acquire(blocking=False):
            threading.Thread(target=self._load_and_release, name="reco-reload", daemon=True).start()
        elif current is not None:
            stamp = self.registry.scores_stamp(current)  # one stat: scores written since it loaded?
            if stamp is not None and stamp != self._scores_stamp and self._loading.acquire(blocking=False):
                threading.Thread(target=self._reload_profiles, args=(current, stamp), name="reco-scores",
                                 daemon=True).start()

    def _load_and_release(self) -> None:
        try:
            self.load()
        finally:
            self._loading.release()

    def close(self, timeout: float = 30.0) -> None:
        """Stop a running warm-up (after its current batch) before the store goes away."""
        self._closing = True
        if self.warming is not None:
            self.warming.join(timeout)
        if self.fresh is not None:
            self.fresh.watcher.close()

    @property
    def answers_on_loop(self) -> bool:
        """Whether ``cached_recommendations`` may run on the event loop: its change poll waits on no network."""
        return self.fresh is not None and not self.fresh.watcher.waits_on_network

    def cached_recommendations(self, customer_id: str, n: int, mode: str, filters: Filters | None
                               ) -> Recommendations | None:
        """The personal answer from memory alone, when this process knows the customer's consent and
        history are unchanged since it read them and has their top list; else None. Reads no table
        (only polls the change feed; see ``answers_on_loop``)."""
        if self.fresh is None:
            return None
        self.fresh.refresh()
        return self._from_memory(customer_id, n, mode, filters)

    def _from_memory(self, customer_id: str, n: int, mode: str, filters: Filters | None) -> Recommendations | None:
        service = self._service
        known = self.fresh.get(customer_id) if self.fresh is not None else None
        if service is None or known is None or not known[0] or known[1] is None:
            return None
        return service.cached(customer_id, known[1], n, mode, filters)

    def recommendations(self, customer_id: str, n: int, mode: str, filters: Filters | None) -> Recommendations:
        """The answer from memory when it is current, else read the customer's consent and history and
        recommend (blocking: run it in a worker thread); what was read is remembered until the change
        feed names the customer."""
        service = self._service
        if service is None:
            raise ModelNotFoundError("no model is loaded yet; run 'reco train' and retry")
        since = self.fresh.begin() if self.fresh is not None else 0
        answer = self._from_memory(customer_id, n, mode, filters)
        if answer is not None:
            return answer
        allowed = self.store.personalisation_allowed(customer_id)
        history = CustomerHistory(*self.store.customer_event_arrays(customer_id)) if allowed else None
        result = service.recommend(customer_id, history, n=n, personalise=allowed, mode=mode, filters=filters)
        if self.fresh is not None:
            fingerprint = history_fingerprint(history) if history is not None and len(history) else None
            self.fresh.remember(customer_id, (allowed, fingerprint), since)
        return result

    def basket_recommendations(self, customer_id: str, basket: list[str], n: int, filters: Filters | None
                               ) -> Recommendations:
        """Items completing ``basket`` for the customer (reco.service.RecommendationService.basket), with their
        consent and history read fresh (blocking: run it in a worker thread)."""
        service = self._service
        if service is None:
            raise ModelNotFoundError("no model is loaded yet; run 'reco train' and retry")
        allowed = self.store.personalisation_allowed(customer_id)
        history = CustomerHistory(*self.store.customer_event_arrays(customer_id)) if allowed else None
        return service.basket(customer_id, history, basket, n=n, personalise=allowed, filters=filters)

    @property
    def cache_warming(self) -> bool:
        """True while a loaded version's cache warm-up runs."""
        return self.warming is not None and self.warming.is_alive()

    @property
    def service(self) -> RecommendationService | None:
        return self._service

    @property
    def profiles(self) -> pd.DataFrame | None:
        """Customer scores of the serving version, indexed by customer_id (None when it has none)."""
        return self._profiles

    def forget(self, customer_id: str) -> None:
        """Drop an erased customer's scores, cached top lists and remembered consent from memory (a new
        frame, swapped in one reference). Other worker processes never serve theirs (the change feed
        names the customer before their next answer) and drop them at their next ``sweep_erasures``,
        within RECO_SYNC_SECONDS."""
        if self._service is not None:
            self._service.forget(customer_id)
        if self.fresh is not None:
            self.fresh.forget(customer_id)
        with self._swap:
            profiles = self._profiles
            if profiles is not None and customer_id in profiles.index:
                self._profiles = profiles.drop(index=customer_id)
