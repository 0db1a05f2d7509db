"""Who may be personalised and who may be contacted: the one rule that every path applies.

- **Personalise** (personal recommendations, profiles, scores): unless the customer opted out of
  personalisation. A customer the store has no row for gets the defaults (personalisation yes).
- **Contact** (anything sent to them: emails, SMS, a CRM campaign): only with marketing consent, which
  defaults to no.
- An erased customer is neither, whatever a row says.

Exports choose an *audience* from these. Outbound marketing, the default, needs both: the content is
personal and it is sent to the customer. ``personalised`` widens it to everyone who allows
personalisation, for uses that contact nobody (e.g. on-site lists), and must be asked for by name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reco.exceptions import ConfigurationError

if TYPE_CHECKING:  # pandas is loaded by whoever passes a frame; the command line imports this without it
    import pandas as pd

DEFAULT_PERSONALISATION = True
DEFAULT_MARKETING = False

# audience -> (needs personalisation consent, needs marketing consent)
AUDIENCES: dict[str, tuple[bool, bool]] = {
    "marketing": (True, True),
    "personalised": (True, False),
}
DEFAULT_AUDIENCE = "marketing"
AUDIENCE_RULES: dict[str, str] = {
    "marketing": "customers who allow personalisation and gave marketing consent (outbound marketing)",
    "personalised": "customers who allow personalisation, with or without marketing consent (no outbound contact)",
}


def may_personalise(personalisation: bool | None, erased: bool = False) -> bool:
    """Whether a customer may get personal results (``personalisation`` None: no stored row, the default)."""
    if erased:
        return False
    return DEFAULT_PERSONALISATION if personalisation is None else bool(personalisation)


def may_contact(marketing: bool | None, erased: bool = False) -> bool:
    """Whether a customer may be contacted with marketing (``marketing`` None: no stored row, the default)."""
    if erased:
        return False
    return DEFAULT_MARKETING if marketing is None else bool(marketing)


def check_audience(audience: str) -> str:
    if audience not in AUDIENCES:
        raise ConfigurationError(f"audience {audience!r} is not valid; valid: {', '.join(AUDIENCES)}")
    return audience


def in_audience(customers: pd.DataFrame, audience: str = DEFAULT_AUDIENCE) -> pd.Series:
    """For each row of a customer table (``consent_personalisation``, ``consent_marketing``; erased
    customers have no row), whether it belongs to ``audience``: ``may_personalise`` and ``may_contact``
    row by row, as the audience asks."""
    personal, contact = AUDIENCES[check_audience(audience)]
    keep = customers["customer_id"].notna()
    if personal:
        keep &= customers["consent_personalisation"].map(may_personalise).astype(bool)
    if contact:
        keep &= customers["consent_marketing"].map(may_contact).astype(bool)
    return keep
