"""The tune job: choose hyperparameters on a validation window and record them for train/evaluate.

The validation window is the ``holdout_days`` just before the test window that ``reco evaluate``
holds out, so neither the choice nor the later evaluation ever sees the test window during tuning.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from reco.atomic import write_json
from reco.evaluation import tune_model, validation_split
from reco.exceptions import ArtifactError
from reco.store import EventStore
from training.choices import TUNED_MODELS
from training.history import purchase_history

logger = logging.getLogger(__name__)

TUNED_FILE = "tuned.json"


def tune(
    store: EventStore, model_dir: Path, models: Sequence[str] = TUNED_MODELS, holdout_days: float = 30.0,
    k: int = 10, as_of: pd.Timestamp | str | None = None,
) -> dict[str, Any]:
    """Tune each model on the validation window before the as-of time's test window and write
    ``model_dir/tuned.json`` atomically."""
    events, when = purchase_history(store, "tune", as_of)
    split = validation_split(events, holdout_days)
    results = {}
    for name in models:
        result = tune_model(events, name, holdout_days=holdout_days, k=k, split=split)
        logger.info("tuned %s in %.1fs (%d trials): %s", name, result.seconds, result.trials, result.validation)
        results[name] = result.to_dict()
    payload = {"created_at": datetime.now(UTC).isoformat(timespec="seconds"), "holdout_days": holdout_days,
               "k": k, **when.to_dict(), "models": results}
    write_json(model_dir / TUNED_FILE, payload)
    return payload


def load_tuned(model_dir: Path) -> dict[str, Any] | None:
    """The last tuning result, or None if `reco tune` has not run."""
    path = model_dir / TUNED_FILE
    if not path.exists():
        return None
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"cannot read {path}: {exc}; run 'reco tune' again") from exc
