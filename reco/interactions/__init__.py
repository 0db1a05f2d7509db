"""Interactions: purchase events -> a weighted user x item matrix with its id mapping."""

from reco.interactions.idmapping import IdMapping
from reco.interactions.matrix import WEIGHTINGS, MatrixSpec, build_user_items

__all__ = ["WEIGHTINGS", "IdMapping", "MatrixSpec", "build_user_items"]
