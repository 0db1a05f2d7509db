"""Export: batch next-best recommendations for CRM systems, written atomically."""

from reco.export.recommendations import EXPORT_COLUMNS, export_recommendations, write_recommendations

__all__ = ["EXPORT_COLUMNS", "export_recommendations", "write_recommendations"]
