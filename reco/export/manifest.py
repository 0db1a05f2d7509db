"""The manifest written beside every CRM export (``FILE.manifest.json``): what the file holds, from which
model version, and which consent rule chose its customers, so a CRM (and an auditor) can tell an export
meant for outbound marketing from one that is not."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from reco.atomic import write_json
from reco.customers.consent import AUDIENCE_RULES, in_audience


@dataclass(frozen=True)
class Audience:
    """Who an export is for, and how many customers the consent rule left out and why."""

    name: str
    rule: str
    customers: list[str]
    without_personalisation_consent: int
    without_marketing_consent: int


def choose_audience(customers: pd.DataFrame, audience: str) -> Audience:
    """The customers of ``customers`` (the store's table) in ``audience`` (see reco.customers.consent)."""
    keep = in_audience(customers, audience)
    personal = in_audience(customers, "personalised")
    return Audience(
        name=audience, rule=AUDIENCE_RULES[audience],
        customers=customers.loc[keep, "customer_id"].astype(str).tolist(),
        without_personalisation_consent=int((~personal).sum()),
        without_marketing_consent=int((personal & ~keep).sum()),
    )


@dataclass(frozen=True)
class ExportManifest:
    kind: str  # "recommendations" or "customer_scores"
    file: str
    format: str
    rows: int
    customers: int
    model_version: str
    audience: str
    audience_rule: str
    excluded: dict[str, int]
    columns: list[str]
    parameters: dict[str, object] = field(default_factory=dict)
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def manifest_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".manifest.json")


def write_manifest(out: str | Path, manifest: ExportManifest) -> Path:
    """Write the manifest beside ``out`` atomically (after the export itself: a manifest names a whole file)."""
    path = manifest_path(out)
    write_json(path, manifest.to_dict())
    return path


def audience_excluded(audience: Audience) -> dict[str, int]:
    return {"without_personalisation_consent": audience.without_personalisation_consent,
            "without_marketing_consent": audience.without_marketing_consent}
