"""Registry: versioned model artifacts on disk, which version is promoted for serving, and its history."""

from reco.registry.artifacts import ModelBundle, ModelRegistry, ScrubResult
from reco.registry.overview import versions_overview

__all__ = ["ModelBundle", "ModelRegistry", "ScrubResult", "versions_overview"]
