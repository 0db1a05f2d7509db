"""Model names the jobs and the command line share, kept free of heavy imports (``reco --help`` starts
without loading any model library)."""

from __future__ import annotations

from reco.config import DEFAULT_MODEL
from reco.vocabulary import BASELINES  # named in reco, which serving reads; the jobs import it from here

# Published peers the default must beat too: tuned per task like the baselines, but not in the train
# guard (TIFU-KNN compares every customer with every other: fine for a harness, not for every retrain).
PEERS: tuple[str, ...] = ("tifu_knn",)
TUNED_MODELS: tuple[str, ...] = (*BASELINES, *PEERS, DEFAULT_MODEL)
EVALUATED_MODELS: tuple[str, ...] = (*BASELINES, *PEERS, "als", DEFAULT_MODEL)
