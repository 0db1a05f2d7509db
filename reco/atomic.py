"""Write a file so that readers see the old content or the new, never a half-written one."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_with(path: str | Path, write: Callable[[Path], object]) -> None:
    """Let ``write`` fill a temp file beside ``path``, then rename it into place (atomic on one file system);
    on any failure the temp file goes and ``path`` keeps its old content."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> None:
    write_with(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: str | Path, payload: Any, indent: int | None = 2) -> None:
    write_text(path, json.dumps(payload, indent=indent, default=str) + "\n")
