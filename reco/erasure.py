"""Erasure across the store and the model files: complete, final, and retried until done.

The store's part is one transaction (rows deleted, the keyed hash recorded, the erasure noted as
pending: reco.store.erasures). The model files' part (id mappings and score tables of every saved
version) can fail on a damaged file; it is then left pending and ``complete_pending`` retries it,
matching ids by hash so the id is kept nowhere to do so. Jobs that save a version while erasures
happen call ``reapply`` before promoting it, so an id erased during a training or scoring run never
reaches the new files.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from reco.exceptions import ArtifactError
from reco.registry import ModelRegistry, ScrubResult
from reco.store import EventStore
from reco.store.hashing import CustomerHasher

logger = logging.getLogger(__name__)

# Erasures recorded this long before a job started are re-applied too: clocks of processes differ a little.
CLOCK_MARGIN = timedelta(minutes=5)


@dataclass
class ErasureReport:
    """What erasing one customer did. ``pending_versions``: model versions whose files could not be
    scrubbed yet (retried by ``complete_pending``); empty when the erasure is complete."""

    events: int
    marketing: int
    customer: bool
    offer_outcomes: int
    offer_decisions: int
    score_tables_changed: int
    pending_versions: dict[str, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.pending_versions


def _matcher(hashes: Collection[str], hasher: CustomerHasher):  # type: ignore[no-untyped-def]
    wanted = set(hashes)

    def erased(ids: np.ndarray) -> np.ndarray:
        return np.fromiter((any(h in wanted for h in hasher.candidates(str(i))) for i in ids), dtype=bool,
                           count=len(ids))

    return erased


def erase_customer(store: EventStore, registry: ModelRegistry, customer_id: str) -> ErasureReport:
    """Erase a customer from the store and every model version (see the module docstring)."""
    counts = store.erase_customer(customer_id)
    result = registry.erase_customer(customer_id)
    if not result.failed:
        store.erasures.done(store.hasher.candidates(customer_id))
    return ErasureReport(events=counts["events"], marketing=counts["marketing"], customer=bool(counts["customer"]),
                         offer_outcomes=counts["offer_outcomes"], offer_decisions=counts["offer_decisions"],
                         score_tables_changed=result.changed, pending_versions=result.failed)


def complete_pending(store: EventStore, registry: ModelRegistry) -> ScrubResult | None:
    """Scrub every version of the erasures still pending; those done in every version stop being pending.
    None when nothing was pending."""
    pending = store.erasures.pending()
    if not pending:
        return None
    result = registry.scrub(_matcher(pending, store.hasher))
    if result.failed:
        logger.error("%d erasures still pending: model versions %s could not be scrubbed", len(pending),
                     ", ".join(sorted(result.failed)))
    else:
        store.erasures.done(pending)
        logger.info("%d pending erasures completed in every model version", len(pending))
    return result


def reapply(store: EventStore, registry: ModelRegistry, version: str, since: datetime) -> int:
    """Scrub ``version`` of every erasure recorded since ``since`` (a job's start); returns how many there
    were. Raises ArtifactError when the version cannot be scrubbed: it must then not be used."""
    hashes = [h for h, _ in store.erasures_since(since - CLOCK_MARGIN)]
    if not hashes:
        return 0
    result = registry.scrub(_matcher(hashes, store.hasher), versions=[version])
    if result.failed:
        raise ArtifactError(f"model version {version} could not be scrubbed of {len(hashes)} erasures made while "
                            f"the job ran: {result.failed[version]}")
    logger.info("re-applied %d erasures made while the job ran to version %s", len(hashes), version)
    return len(hashes)
