"""Names shared by the command line and the library, in a module that imports nothing: the command
line builds its options from these without loading pandas or the database layer (``reco --help`` in
well under a second). The modules that own each concept import them from here; tests check they agree."""

from __future__ import annotations

KINDS: tuple[str, ...] = ("events", "items", "customers", "marketing", "offer-outcomes", "offers")  # a source holds
PRESET_NAMES: tuple[str, ...] = ("dunnhumby", "dunnhumby-products", "online-retail")  # known source layouts
ROLES: tuple[str, ...] = ("site", "marketer", "admin")  # API key roles
OFFER_CHANNELS: tuple[str, ...] = ("email", "sms", "app", "web", "store", "phone")  # where an offer is made
OUTCOMES: tuple[str, ...] = ("sent", "delivered", "opened", "clicked", "redeemed", "declined")  # what came of it
RUN_KINDS: tuple[str, ...] = ("recommendations", "customers", "offers", "all")  # what a training run trains
RUN_PROMOTE: tuple[str, ...] = ("auto", "never")  # auto: through the quality gate; never: a candidate only
RUN_STATES: tuple[str, ...] = ("queued", "running", "succeeded", "failed", "cancelled")
BASELINES: tuple[str, ...] = ("popularity", "recent_popularity", "buy_again")  # one-line recommenders to beat
OFFER_KINDS: tuple[str, ...] = ("percent_off", "amount_off", "points_multiplier", "free_shipping",
                                "product_recommendation")

# The form of an id given by a client (an API path, an offer id): no NUL, and no leading or trailing whitespace,
# which ingest strips from every id it stores (so " 17850" would name nobody). Whitespace is spelt out as
# Python's str.strip() sees it: JSON Schema's \s (ECMA) and Python's differ.
_SPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
ID_PATTERN = rf"^[^{_SPACE}\x00](?:[^\x00]*[^{_SPACE}\x00])?$"
