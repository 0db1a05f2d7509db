"""What the API holds in memory: the event store and the loaded, promoted model version."""

from __future__ import annotations

import logging

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
        self._service = service  # one reference swap: requests see the old or the new service, never a mix
        logger.info("serving model version %s", bundle.version)

    @property
    def service(self) -> RecommendationService | None:
        return self._service
