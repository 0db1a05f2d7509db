"""Model names the jobs and the command line share, kept free of heavy imports (``reco --help`` starts
without loading any model library)."""

from __future__ import annotations

from reco.config import DEFAULT_MODEL

BASELINES: tuple[str, ...] = ("popularity", "recent_popularity", "buy_again")
TUNED_MODELS: tuple[str, ...] = (*BASELINES, DEFAULT_MODEL)
EVALUATED_MODELS: tuple[str, ...] = (*BASELINES, "als", DEFAULT_MODEL)
