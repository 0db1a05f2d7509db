"""Recommenders: one base class, many models (see ``model_classes()``)."""

from reco.config import DEFAULT_MODEL  # what `reco train` fits and serving uses unless told otherwise
from reco.models.als import ALSRecommender
from reco.models.base import Recommender, model_classes
from reco.models.bpr import BPRRecommender
from reco.models.buy_again import BuyAgainRecommender
from reco.models.complements import ComplementsRecommender
from reco.models.ease import DLAERecommender, EASERecommender
from reco.models.hybrid import HybridRecommender
from reco.models.item_knn import ItemKNNRecommender
from reco.models.popularity import PopularityRecommender, RecentPopularityRecommender
from reco.models.ranker import RankerRecommender
from reco.models.tifu_knn import TifuKnnRecommender

__all__ = [
    "DEFAULT_MODEL",
    "ALSRecommender",
    "BPRRecommender",
    "BuyAgainRecommender",
    "ComplementsRecommender",
    "DLAERecommender",
    "EASERecommender",
    "HybridRecommender",
    "ItemKNNRecommender",
    "PopularityRecommender",
    "RankerRecommender",
    "RecentPopularityRecommender",
    "Recommender",
    "TifuKnnRecommender",
    "model_classes",
]
