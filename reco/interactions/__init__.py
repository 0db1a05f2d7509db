"""Interactions: purchase events -> a weighted user x item matrix with its id mapping."""

from reco.interactions.idmapping import IdMapping
from reco.interactions.matrix import WEIGHTINGS, build_user_items, user_rows

__all__ = ["WEIGHTINGS", "IdMapping", "build_user_items", "user_rows"]
