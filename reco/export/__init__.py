"""Export: batch next-best recommendations and customer scores for CRM systems, written atomically."""

from reco.export.customers import CUSTOMER_EXPORT_COLUMNS, export_customer_scores
from reco.export.recommendations import EXPORT_COLUMNS, export_recommendations, write_recommendations

__all__ = [
    "CUSTOMER_EXPORT_COLUMNS",
    "EXPORT_COLUMNS",
    "export_customer_scores",
    "export_recommendations",
    "write_recommendations",
]
