"""What the API holds in memory: the event store, the loaded promoted model version and its customer scores."""

from __future__ import annotations

import logging

import pandas as pd

from reco.exceptions import ModelNotFoundError, RecoError
from reco.registry import ModelRegistry
from reco.service import RecommendationService
from reco.store import EventStore

logger = logging.getLogger(__name__)


class ServingState:
    """The store plus the recommendation service of the promoted version (None until one exists)."""

    def __init__(self, store: EventStore, registry: ModelRegistry) -> None:
        self.store = store
        self.registry = registry
        self._service: RecommendationService | None = None
        self._profiles: pd.DataFrame | None = None

    def load(self) -> None:
        """Load the promoted version; on failure keep whatever was serving before."""
        try:
            bundle = self.registry.load()
            service = RecommendationService(bundle, self.store.items())
        except ModelNotFoundError as exc:
            logger.warning("no model to serve yet: %s", exc)
            return
        except RecoError as exc:
            logger.error("model version failed to load, keeping the current one: %s", exc)
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
        self._service, self._profiles = service, profiles  # swapped together: never a mix of two versions
        logger.info("serving model version %s", bundle.version)

    @property
    def service(self) -> RecommendationService | None:
        return self._service

    @property
    def profiles(self) -> pd.DataFrame | None:
        """Customer scores of the serving version, indexed by customer_id (None when it has none)."""
        return self._profiles

    def forget(self, customer_id: str) -> None:
        """Drop an erased customer's scores from memory (a new frame, swapped in one reference)."""
        profiles = self._profiles
        if profiles is not None and customer_id in profiles.index:
            self._profiles = profiles.drop(index=customer_id)
