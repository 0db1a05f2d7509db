"""Versioned artifacts: ``MODEL_DIR/<version>/`` holds every model, the id mapping and metadata.

A version directory is written under a temporary name and renamed into place, and the promoted
pointer is replaced atomically, so a reader never sees a half-written version.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reco.atomic import write_json, write_text, write_with
from reco.exceptions import ArtifactError, ConfigurationError, ModelNotFoundError, PromotionError
from reco.interactions import IdMapping
from reco.models import Recommender
from reco.registry.history import RegistryHistory

logger = logging.getLogger(__name__)

PROMOTED_FILE = "PROMOTED"
CUSTOMERS_DIR = "customers"  # per-version customer scores (reco score customers)
OFFERS_DIR = "offers"  # per-version offer-response model (reco train offers)
PARTS = (CUSTOMERS_DIR, OFFERS_DIR)
VERSION_PATTERN = r"^\d{8}T\d{6}Z-[0-9a-f]{4}$"  # a version's name: its UTC second and a random suffix
_VERSION = re.compile(VERSION_PATTERN)


@dataclass
class ModelBundle:
    """Everything one trained version serves with."""

    version: str
    models: dict[str, Recommender]
    mapping: IdMapping
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def default_model(self) -> str:
        return str(self.metadata.get("default_model", "als"))

    @property
    def fallback_model(self) -> str:
        return str(self.metadata.get("fallback_model", "popularity"))

    def serving_model(self, mode: str) -> str:
        """The model serving ``mode``: the default, unless the guard of ``reco train`` found a baseline better
        on the version's validation window for that mode (``metadata["serving"]``)."""
        name = str(self.metadata.get("serving", {}).get(mode, self.default_model))
        if name not in self.models:
            raise ArtifactError(f"model version {self.version} serves mode {mode!r} with {name!r}, which it does not "
                                f"hold; it holds {', '.join(sorted(self.models))}")
        return name


class ModelRegistry:
    """Model versions under one directory (``RECO_MODEL_DIR``)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.history = RegistryHistory(self.root)

    def _path(self, version: str) -> Path:
        if not _VERSION.match(version):
            raise ConfigurationError(
                f"{version!r} is not a model version; versions look like 20261122T183000Z-1a2b"
            )
        return self.root / version

    def save(
        self, models: dict[str, Recommender], mapping: IdMapping, metadata: dict[str, Any]
    ) -> str:
        """Write a new version and return its name (not promoted; see ``promote``)."""
        now = datetime.now(UTC)
        version = f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".tmp-{version}"
        tmp.mkdir()
        try:
            for name, model in models.items():
                model.save(tmp / name)
            mapping.save(tmp / "id_mapping.json")
            meta = {**metadata, "version": version, "created_at": now.isoformat(timespec="seconds"),
                    "models": sorted(models)}
            write_json(tmp / "metadata.json", meta)
            os.replace(tmp, self.root / version)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        logger.info("saved model version %s under %s", version, self.root)
        return version

    def versions(self) -> list[str]:
        """All complete versions, oldest first (names order by the second they were made; within one second,
        the time their metadata was written decides, not the random suffix)."""
        if not self.root.is_dir():
            return []
        found = [(p.name[:16], (p / "metadata.json").stat().st_mtime_ns, p.name) for p in self.root.iterdir()
                 if p.is_dir() and _VERSION.match(p.name) and (p / "metadata.json").exists()]
        return [name for _, _, name in sorted(found)]

    def metadata(self, version: str) -> dict[str, Any]:
        path = self._path(version) / "metadata.json"
        if not path.exists():
            raise ModelNotFoundError(f"no model version {version!r} under {self.root}; "
                                     f"available: {', '.join(self.versions()) or 'none'}")
        try:
            with open(path, encoding="utf-8") as fh:
                return dict(json.load(fh))
        except (OSError, ValueError) as exc:
            raise ArtifactError(f"cannot read {path}: {exc}") from exc

    def promote(self, version: str, *, by: str = "shell", reason: str = "") -> dict[str, Any]:
        """Make ``version`` the one serving and export use (atomic pointer replace), recording who, when and
        why in the history. Returns the history entry."""
        self.metadata(version)
        with self.history.locked():
            previous = self.promoted_or_none()
            write_text(self.root / PROMOTED_FILE, version + "\n")
            entry = self.history.append("promote", version, by, reason, previous=previous)
        logger.info("promoted model version %s (by %s)", version, by)
        return entry

    def rollback(self, *, by: str = "shell", reason: str = "") -> dict[str, Any]:
        """Promote again the version promoted before the current one (one step back in the history)."""
        with self.history.locked():
            current = self.promoted_or_none()
            stack = self.history.promoted_stack(current)
            if len(stack) < 2:
                raise PromotionError(f"nothing to roll back to: {current} is the only version ever promoted under "
                                     f"{self.root}" if current else f"nothing to roll back to: no version is "
                                     f"promoted under {self.root}")
            target = stack[-2]
            if not (self.root / target / "metadata.json").exists():
                raise PromotionError(f"cannot roll back to {target}, promoted before {current}: it no longer exists "
                                     f"(pruned or deleted); promote another version instead")
            write_text(self.root / PROMOTED_FILE, target + "\n")
            entry = self.history.append("rollback", target, by, reason, previous=current)
        logger.info("rolled back from model version %s to %s (by %s)", current, target, by)
        return entry

    def rollback_target(self) -> str | None:
        """The version a rollback would promote (None when there is none)."""
        stack = self.history.promoted_stack(self.promoted_or_none())
        return stack[-2] if len(stack) >= 2 else None

    def refuse(self, version: str, *, by: str, reason: str, **details: Any) -> dict[str, Any]:
        """Record that ``version`` was kept as a candidate, not promoted (the quality gate's verdict)."""
        self.metadata(version)
        return self.history.append("refuse", version, by, reason, **details)

    def prune(self, keep: int, *, by: str = "shell") -> list[str]:
        """Delete the oldest versions beyond the ``keep`` newest, never the promoted one or the rollback
        target (the one promoted before it). Returns the versions deleted, each recorded in the history."""
        if not isinstance(keep, int) or isinstance(keep, bool) or keep < 2:
            raise ConfigurationError(f"versions to keep must be an integer >= 2 (the promoted one and the one "
                                     f"before it), got {keep!r}")
        removed: list[str] = []
        with self.history.locked():
            current = self.promoted_or_none()
            stack = self.history.promoted_stack(current)
            protected = set(stack[-2:])
            versions = self.versions()
            excess = len(versions) - keep
            for version in versions:
                if excess <= 0:
                    break
                if version in protected:
                    continue
                shutil.rmtree(self._path(version), ignore_errors=True)
                self.history.append("prune", version, by, f"more than {keep} versions kept")
                removed.append(version)
                excess -= 1
        if removed:
            logger.info("pruned %d model version(s) beyond the %d kept", len(removed), keep)
        return removed

    def promoted_or_none(self) -> str | None:
        """The promoted version, None when none is."""
        try:
            return self.promoted()
        except ModelNotFoundError:
            return None

    def promoted(self) -> str:
        path = self.root / PROMOTED_FILE
        if not path.exists():
            raise ModelNotFoundError(
                f"no promoted model under {self.root}; train one with 'reco train'"
            )
        return path.read_text(encoding="utf-8").strip()

    def load(self, version: str | None = None) -> ModelBundle:
        """Load ``version`` (default: the promoted one) with all its models and id mapping."""
        version = version or self.promoted()
        meta = self.metadata(version)
        path = self._path(version)
        if not meta.get("models"):
            raise ArtifactError(f"model version {version} lists no models in its metadata")
        models = {name: Recommender.load(path / name) for name in meta["models"]}
        mapping = IdMapping.load(path / "id_mapping.json")
        for name, model in models.items():
            if model.n_items_ != mapping.n_items:
                raise ArtifactError(f"model {name!r} of version {version} has {model.n_items_} items; "
                                    f"its id mapping has {mapping.n_items}")
        return ModelBundle(version=version, models=models, mapping=mapping, metadata=meta)

    def _scores_path(self, version: str) -> Path:
        return self._path(version) / CUSTOMERS_DIR / "scores.parquet"

    def save_customers(self, version: str, write: Callable[[Path], None]) -> Path:
        """Store customer scores with ``version``: ``write`` fills a fresh folder that then replaces the old one."""
        return self.save_part(version, CUSTOMERS_DIR, write)

    def save_part(self, version: str, part: str, write: Callable[[Path], None]) -> Path:
        """Store a part trained later for ``version`` (customer scores, the offer-response model) in
        ``version/part``: ``write`` fills a fresh folder that then replaces the old one, so a reader sees the
        old part or the new, never half of one."""
        self.metadata(version)
        if part not in PARTS:
            raise ConfigurationError(f"unknown version part {part!r}; valid: {', '.join(PARTS)}")
        path = self._path(version)
        tmp = path / f".tmp-{part}-{secrets.token_hex(4)}"
        tmp.mkdir()
        old = path / f".old-{part}-{secrets.token_hex(4)}"
        try:
            write(tmp)
            if (path / part).exists():
                os.replace(path / part, old)
            os.replace(tmp, path / part)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            if old.exists() and not (path / part).exists():
                os.replace(old, path / part)
            raise
        shutil.rmtree(old, ignore_errors=True)
        logger.info("saved %s for version %s", part, version)
        return path / part

    def part_path(self, version: str, part: str) -> Path:
        """Where ``version``'s part lives (ModelNotFoundError when it was never saved)."""
        path = self._path(version) / part
        if not path.is_dir():
            raise ModelNotFoundError(f"model version {version} has no {part}; train it (e.g. reco train offers)")
        return path

    def scores_stamp(self, version: str) -> tuple[int, int] | None:
        """(modification time in ns, size) of ``version``'s customer scores, None when it has none: what a
        server compares to pick up scores written after it loaded the version."""
        try:
            stat = self._scores_path(version).stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def customer_scores(self, version: str | None = None) -> pd.DataFrame:
        """The customer table of ``version`` (default: the promoted one); ModelNotFoundError if never scored."""
        version = version or self.promoted()
        path = self._scores_path(version)
        if not path.exists():
            raise ModelNotFoundError(f"model version {version} has no customer scores; run 'reco score customers'")
        try:
            return pd.read_parquet(path)
        except (OSError, ValueError) as exc:
            raise ArtifactError(f"cannot read {path}: {exc}") from exc

    def erase_customer(self, customer_id: str, versions: Sequence[str] | None = None) -> ScrubResult:
        """``scrub`` of one customer id."""
        return self.scrub(lambda ids: ids == customer_id, versions)

    def scrub(self, erased: Callable[[np.ndarray], np.ndarray], versions: Sequence[str] | None = None
              ) -> ScrubResult:
        """Unlink erased customers from ``versions`` (default: every one): ``erased`` marks, for an array of
        customer ids, which were erased. Their ids in a saved id mapping become anonymous placeholders
        (their learned factors can no longer be found by id, until retraining drops them), and their rows
        leave the customer scores. Every version is tried, also after one fails: what failed is reported."""
        result = ScrubResult()
        for version in self.versions() if versions is None else versions:
            try:
                if self._scrub_version(version, erased):
                    result.changed += 1
            except (OSError, ValueError, ArtifactError) as exc:
                result.failed[version] = str(exc)
                logger.error("could not scrub erased customers from model version %s: %s", version, exc)
        return result

    def _scrub_version(self, version: str, erased: Callable[[np.ndarray], np.ndarray]) -> bool:
        """Scrub one version; whether its score table held any of them."""
        mapping_path = self._path(version) / "id_mapping.json"
        mapping = IdMapping.load(mapping_path)
        gone = np.flatnonzero(erased(mapping.user_ids))
        if len(gone):
            users = mapping.user_ids.copy()
            users[gone] = [f"\u0000erased-{position}" for position in gone]
            IdMapping(users, mapping.item_ids).save(mapping_path)
        path = self._scores_path(version)
        if not path.exists():
            return False
        try:
            table = pd.read_parquet(path)
        except (OSError, ValueError) as exc:
            raise ArtifactError(f"cannot read {path}: {exc}") from exc
        keep = ~erased(table["customer_id"].astype(str).to_numpy(dtype=object))
        if keep.all():
            return False
        write_with(path, lambda tmp, rest=table[keep]: rest.to_parquet(tmp, index=False))
        return True

    def discard(self, version: str) -> None:
        """Delete a version that must not be kept (never the promoted one)."""
        if version == self.promoted_or_none():
            raise ConfigurationError(f"version {version} is the promoted one; promote another before discarding it")
        shutil.rmtree(self._path(version), ignore_errors=True)


@dataclass
class ScrubResult:
    """What a scrub of erased customers did: score tables changed, and versions that failed (version -> why)."""

    changed: int = 0
    failed: dict[str, str] = field(default_factory=dict)
