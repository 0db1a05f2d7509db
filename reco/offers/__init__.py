"""Offers: the catalogue of proactive offers and their eligibility rules (decisions come in later parts)."""

from reco.offers.catalogue import OFFER_CHANNELS, OFFER_KINDS, Offer, Scope, validate_offers
from reco.offers.rules import ATTRIBUTES, Condition

__all__ = ["ATTRIBUTES", "OFFER_CHANNELS", "OFFER_KINDS", "Condition", "Offer", "Scope", "validate_offers"]
