"""reco: purchase history in; recommendations, customer models and offers out.

Data flows through the sub-packages in this order:
ingest -> store -> interactions -> models -> registry -> (serving | export).
"""

__version__ = "0.1.0"
