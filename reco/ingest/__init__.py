"""Ingest: any purchase log (CSV, Parquet, SQL) mapped onto the canonical schema and stored atomically."""

from reco.ingest.pipeline import (
    DEMO_DATA,
    DEMO_OFFERS,
    KINDS,
    IngestReport,
    ingest,
    parse_mappings,
    record_events,
    record_outcomes,
)
from reco.ingest.presets import PRESETS, Preset, get_preset

__all__ = [
    "DEMO_DATA",
    "DEMO_OFFERS",
    "KINDS",
    "PRESETS",
    "IngestReport",
    "Preset",
    "get_preset",
    "ingest",
    "parse_mappings",
    "record_events",
    "record_outcomes",
]
