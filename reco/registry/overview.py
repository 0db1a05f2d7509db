"""The versions of a registry side by side, as the shell (``reco models``), the API (``GET /v1/models``)
and the dashboard show them: data range, what serves each mode, the guard's figures, the quality gate's
verdict, and which version is promoted and which a rollback would return to."""

from __future__ import annotations

from typing import Any

from reco.exceptions import ArtifactError
from reco.registry.artifacts import ModelRegistry

DATA_FIELDS = ("events", "customers", "items", "first_event", "last_event", "as_of")


def version_summary(registry: ModelRegistry, version: str, promoted: str | None, previous: str | None
                    ) -> dict[str, Any]:
    """One version's row; a version whose metadata cannot be read says so instead of failing the list."""
    try:
        meta = registry.metadata(version)
    except ArtifactError as exc:
        return {"version": version, "promoted": version == promoted, "previous": version == previous,
                "problem": str(exc), "serving": {}, "data": {}, "metrics": {}, "gate": None}
    guard = meta.get("guard") or {}
    return {
        "version": version,
        "created_at": meta.get("created_at"),
        "model": meta.get("default_model"),
        "promoted": version == promoted,
        "previous": version == previous,
        "serving": meta.get("serving", {mode: meta.get("default_model") for mode in ("all", "new")}),
        "data": {k: v for k, v in (meta.get("data") or {}).items() if k in DATA_FIELDS},
        # nDCG@10 per mode of each model on the version's own latest window (the guard's measurement)
        "metrics": guard.get("scores", {}),
        "window": {k: guard[k] for k in ("window_days", "cut", "end") if k in guard},
        "gate": meta.get("gate"),
        "problem": None,
    }


def versions_overview(registry: ModelRegistry) -> dict[str, Any]:
    """Every version, newest first, with the promoted one and the rollback target named."""
    promoted = registry.promoted_or_none()
    previous = registry.rollback_target()
    versions = [version_summary(registry, v, promoted, previous) for v in reversed(registry.versions())]
    return {"promoted": promoted, "rollback_to": previous, "versions": versions}
