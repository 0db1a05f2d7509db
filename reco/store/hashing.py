"""Keyed one-way hashes of customer ids: how the store remembers an erasure, and names a changed customer
in the change feed, without keeping the id.

An unkeyed hash of a short id is no protection: every 5-digit id is recovered from it in half a second
by hashing all of them. So the hash is keyed (BLAKE2b in keyed mode, a MAC) with a secret that lives
outside the database, in the file ``RECO_SECRET_FILE`` (default ``var/reco.secret``, created with mode
0600 the first time any command or the API opens the store). A copy of the database alone cannot be
reversed; every process of one deployment must read the same file (mount it on every machine).

Rotation (``reco secret rotate``) puts a new secret first in the file and keeps the older ones after
it: new erasures are hashed with the newest, and an id is looked up under every secret, so no erasure
is forgotten. Losing the file forgets which customers were erased (their rows could come back with a
later ingest): back it up with the database, but never in it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

from reco.atomic import write_with
from reco.exceptions import ConfigurationError

logger = logging.getLogger(__name__)

SECRET_BYTES = 32
_PERSON = b"reco-customer"


class CustomerHasher:
    """Hashes customer ids under a list of secrets, the newest first."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ConfigurationError("a customer hasher needs at least one secret")
        self.keys = tuple(keys)

    def __call__(self, customer_id: str) -> str:
        """The hash under the newest secret: what is written."""
        return _digest(self.keys[0], customer_id)

    def candidates(self, customer_id: str) -> list[str]:
        """The hash under every secret, newest first: what a lookup matches (one per secret ever used)."""
        return [_digest(key, customer_id) for key in self.keys]


def _digest(key: bytes, customer_id: str) -> str:
    return hashlib.blake2b(customer_id.encode("utf-8"), key=key, person=_PERSON, digest_size=32).hexdigest()


def _read_keys(path: Path) -> list[bytes]:
    try:
        lines = [line.strip() for line in path.read_text(encoding="ascii").splitlines() if line.strip()]
        keys = [bytes.fromhex(line) for line in lines]
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigurationError(f"cannot read the secret file {path} (RECO_SECRET_FILE): {exc}; it holds one hex "
                                 "secret a line, the newest first") from exc
    if not keys or any(len(k) < 16 for k in keys):
        raise ConfigurationError(f"the secret file {path} (RECO_SECRET_FILE) holds no usable secret: one hex secret "
                                 f"of at least 16 bytes a line")
    return keys


def load_hasher(path: str | Path) -> CustomerHasher:
    """The hasher of the secret file at ``path``, created with a fresh secret if it does not exist."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.new-{os.getpid()}-{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_hex(SECRET_BYTES) + "\n")
        try:
            os.link(tmp, path)  # complete when it appears; of processes racing here, exactly one wins
            logger.info("created a new secret for customer hashes at %s; back it up, outside the database", path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return CustomerHasher(_read_keys(path))


def rotate_secret(path: str | Path) -> int:
    """Put a new secret first in the file at ``path``, keeping the older ones; returns how many it holds."""
    path = Path(path)
    keys = _read_keys(path) if path.exists() else []
    lines = [secrets.token_hex(SECRET_BYTES), *(k.hex() for k in keys)]

    def write(tmp: Path) -> None:
        tmp.write_text("\n".join(lines) + "\n", encoding="ascii")
        os.chmod(tmp, 0o600)

    write_with(path, write)
    return len(lines)
