"""The event store: canonical purchase history, catalogue and customers behind SQLAlchemy."""

from reco.store.db import EventStore, make_engine
from reco.store.tables import CHANNELS, EVENT_COLUMNS, EVENT_TYPES, metadata

__all__ = ["CHANNELS", "EVENT_COLUMNS", "EVENT_TYPES", "EventStore", "make_engine", "metadata"]
