"""Names shared by the command line and the library, in a module that imports nothing: the command
line builds its options from these without loading pandas or the database layer (``reco --help`` in
well under a second). The modules that own each concept import them from here; tests check they agree."""

from __future__ import annotations

KINDS: tuple[str, ...] = ("events", "items", "customers", "marketing", "offer-outcomes", "offers")  # a source holds
PRESET_NAMES: tuple[str, ...] = ("dunnhumby", "dunnhumby-products", "online-retail")  # known source layouts
ROLES: tuple[str, ...] = ("site", "marketer", "admin")  # API key roles
OFFER_CHANNELS: tuple[str, ...] = ("email", "sms", "app", "web", "store", "phone")  # where an offer is made
OUTCOMES: tuple[str, ...] = ("sent", "delivered", "opened", "clicked", "redeemed", "declined")  # what came of it
