"""Recommenders: one base class, many models (see ``model_classes()``)."""

from reco.models.als import ALSRecommender
from reco.models.base import Recommender, model_classes
from reco.models.popularity import PopularityRecommender

__all__ = ["ALSRecommender", "PopularityRecommender", "Recommender", "model_classes"]
