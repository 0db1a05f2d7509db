"""The registry's history: who promoted which version, when and why; rollbacks, the quality gate's
refusals and pruned versions. One JSON object per line in ``MODEL_DIR/history.jsonl``, appended under an
exclusive lock (``MODEL_DIR/.lock``) that also covers the promoted pointer, so two processes promoting at
once (the API, a worker, the shell) are serialised and never lose an entry.

The rollback target is read off the history: the versions promoted, in order, form a stack (a promotion
pushes, a rollback pops), so a rollback returns to the version promoted before the current one, and a
second rollback to the one before that.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from reco.clock import utc_now
from reco.exceptions import ArtifactError

logger = logging.getLogger(__name__)

HISTORY_FILE = "history.jsonl"
LOCK_FILE = ".lock"
ACTIONS: tuple[str, ...] = ("promote", "rollback", "refuse", "prune")  # what an entry records


class RegistryHistory:
    """Appends to and reads the history of one registry directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @contextmanager
    def locked(self) -> Iterator[None]:
        """An exclusive lock over the registry's pointer and history (blocks until the holder is done)."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / LOCK_FILE, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def append(self, action: str, version: str, by: str, reason: str = "", **extra: Any) -> dict[str, Any]:
        """Record one entry (one write of one line, flushed to disk) and return it."""
        if action not in ACTIONS:
            raise ValueError(f"unknown history action {action!r}; valid: {', '.join(ACTIONS)}")
        entry = {"at": utc_now().isoformat(timespec="seconds") + "+00:00", "action": action, "version": version,
                 "by": by, "reason": reason, **extra}
        line = (json.dumps(entry, sort_keys=True, default=str) + "\n").encode("utf-8")
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / HISTORY_FILE, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        return entry

    def entries(self) -> list[dict[str, Any]]:
        """Every entry, oldest first. A line that does not parse (a disk that filled mid-line) is skipped with
        a warning rather than hiding the rest."""
        path = self.root / HISTORY_FILE
        if not path.exists():
            return []
        out: list[dict[str, Any]] = []
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ArtifactError(f"cannot read {path}: {exc}") from exc
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                logger.warning("registry history %s line %d is not JSON; skipped", path, number)
                continue
            if isinstance(entry, dict):
                out.append(entry)
        return out

    def promoted_stack(self, current: str | None) -> list[str]:
        """The versions promoted in turn, the current one last (see the module docstring). A pointer moved
        outside the history (an older reco) counts as a promotion of it."""
        stack: list[str] = []

        def push(version: Any) -> None:  # a version promoted again stays one entry
            if version and (not stack or stack[-1] != version):
                stack.append(str(version))

        for entry in self.entries():
            if entry.get("action") == "promote":
                push(entry.get("previous"))  # a pointer moved outside the history
                push(entry.get("version"))
            elif entry.get("action") == "rollback":
                if stack:
                    stack.pop()
                push(entry.get("version"))
        push(current)
        return stack
