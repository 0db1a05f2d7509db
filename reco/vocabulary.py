"""Names shared by the command line and the library, in a module that imports nothing: the command
line builds its options from these without loading pandas or the database layer (``reco --help`` in
well under a second). The modules that own each concept import them from here; tests check they agree."""

from __future__ import annotations

KINDS: tuple[str, ...] = ("events", "items", "customers", "marketing", "offers")  # what an ingest source holds
PRESET_NAMES: tuple[str, ...] = ("dunnhumby", "dunnhumby-products", "online-retail")  # known source layouts
ROLES: tuple[str, ...] = ("site", "marketer", "admin")  # API key roles
