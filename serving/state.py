"""What the API holds in memory: the event store, the loaded promoted model version and its customer scores."""

from __future__ import annotations

import logging
import threading
import time

import pandas as pd

from reco.exceptions import ModelNotFoundError, RecoError
from reco.registry import ModelRegistry
from reco.service import RecommendationService
from reco.store import EventStore
from serving import metrics

logger = logging.getLogger(__name__)


class ServingState:
    """The store plus the recommendation service of the promoted version (None until one exists)."""

    def __init__(self, store: EventStore, registry: ModelRegistry, cache_size: int = 0,
                 cache_seconds: float = 300.0) -> None:
        self.store = store
        self.registry = registry
        self.cache_size = cache_size
        self.cache_seconds = cache_seconds
        self._service: RecommendationService | None = None
        self._profiles: pd.DataFrame | None = None
        self._checked = 0.0
        self._loading = threading.Lock()
        self._failed: str | None = None  # a promoted version that failed to load is not retried

    def load(self) -> None:
        """Load the promoted version; on failure keep whatever was serving before."""
        version: str | None = None
        try:
            version = self.registry.promoted()
            bundle = self.registry.load(version)
            service = RecommendationService(bundle, self.store.items(), cache_size=self.cache_size,
                                            cache_seconds=self.cache_seconds)
        except ModelNotFoundError as exc:
            logger.warning("no model to serve yet: %s", exc)
            return
        except RecoError as exc:
            logger.error("model version failed to load, keeping the current one: %s", exc)
            self._failed = version  # the version that failed, read once (not the pointer again)
            return
        try:
            profiles: pd.DataFrame | None = self.registry.customer_scores(bundle.version).set_index("customer_id")
        except ModelNotFoundError:
            logger.info("model version %s has no customer scores; profiles are off until 'reco score customers'",
                        bundle.version)
            profiles = None
        except RecoError as exc:
            logger.error("customer scores of %s failed to load; profiles are off: %s", bundle.version, exc)
            profiles = None
        previous = self._service.version if self._service is not None else None
        self._service, self._profiles = service, profiles  # swapped together: never a mix of two versions
        metrics.set_model_version(bundle.version, previous)
        logger.info("serving model version %s", bundle.version)

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

    def _load_and_release(self) -> None:
        try:
            self.load()
        finally:
            self._loading.release()

    @property
    def service(self) -> RecommendationService | None:
        return self._service

    @property
    def profiles(self) -> pd.DataFrame | None:
        """Customer scores of the serving version, indexed by customer_id (None when it has none)."""
        return self._profiles

    def forget(self, customer_id: str) -> None:
        """Drop an erased customer's scores and cached top lists from memory (a new frame, swapped in one
        reference). Other worker processes never serve theirs (erased customers get non-personal
        results) and drop them within ``cache_seconds``."""
        if self._service is not None:
            self._service.forget(customer_id)
        profiles = self._profiles
        if profiles is not None and customer_id in profiles.index:
            self._profiles = profiles.drop(index=customer_id)
