"""Evaluation: a temporal holdout, ranking metrics at k, and a table of models side by side."""

from reco.evaluation.classification import calibration_table, classification_metrics
from reco.evaluation.harness import Evaluation, evaluate_models, format_table
from reco.evaluation.metrics import ranking_metrics
from reco.evaluation.split import TASKS, TemporalSplit, temporal_split
from reco.evaluation.tuning import DEFAULT_GRIDS, TuneResult, tune_model, validation_split

__all__ = [
           "DEFAULT_GRIDS",
           "TASKS",
           "Evaluation",
           "TemporalSplit",
           "TuneResult",
           "calibration_table",
           "classification_metrics",
           "evaluate_models",
           "format_table",
           "ranking_metrics",
           "temporal_split",
           "tune_model",
           "validation_split",
]
