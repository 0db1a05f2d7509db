"""Registry: versioned model artifacts on disk, and which version is promoted for serving."""

from reco.registry.artifacts import ModelBundle, ModelRegistry, ScrubResult

__all__ = ["ModelBundle", "ModelRegistry", "ScrubResult"]
