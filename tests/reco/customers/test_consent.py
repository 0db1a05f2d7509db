"""The one consent rule: who may be personalised, who may be contacted, and who is in an export's audience."""

from __future__ import annotations

import pandas as pd
import pytest

from reco.customers.consent import in_audience, may_contact, may_personalise
from reco.exceptions import ConfigurationError


def test_defaults_and_erasure() -> None:
    assert may_personalise(None) is True and may_contact(None) is False  # no stored row: the defaults
    assert may_personalise(True) and not may_personalise(False)
    assert may_contact(True) and not may_contact(False)
    assert not may_personalise(True, erased=True) and not may_contact(True, erased=True)


def test_audiences() -> None:
    customers = pd.DataFrame({"customer_id": ["a", "b", "c", "d"],
                              "consent_personalisation": [True, True, False, False],
                              "consent_marketing": [True, False, True, False]})
    assert in_audience(customers).tolist() == [True, False, False, False]  # marketing: both consents
    assert in_audience(customers, "personalised").tolist() == [True, True, False, False]
    with pytest.raises(ConfigurationError, match="'all' is not valid; valid: marketing, personalised"):
        in_audience(customers, "all")
