"""The API's logging: one JSON line per request on ``reco.access``, everything else as plain lines, at
``RECO_LOG_LEVEL``; never a customer id, a query string or a key.

uvicorn's own access log writes the raw request line (``GET /v1/customers/17850/recommendations?
api_key=...``): it is switched off, and ``reco.access`` (serving.metrics) logs the route template
instead (``/v1/customers/{customer_id}/recommendations``), with method, status and time.
"""

from __future__ import annotations

import logging
import sys

from reco.exceptions import ConfigurationError

ACCESS_LOGGER = "reco.access"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_HANDLER_NAME = "reco-serving"


def configure(level: str) -> None:
    """Set up the process's logging for serving (idempotent: each worker calls it at start-up)."""
    value = logging.getLevelName(level.upper())
    if not isinstance(value, int):
        raise ConfigurationError(f"RECO_LOG_LEVEL {level!r} is not a level; valid: DEBUG, INFO, WARNING, ERROR")
    root = logging.getLogger()
    root.setLevel(value)
    if not any(h.get_name() == _HANDLER_NAME for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.set_name(_HANDLER_NAME)
        handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(handler)
    access = logging.getLogger(ACCESS_LOGGER)
    access.setLevel(value)
    if not any(h.get_name() == _HANDLER_NAME for h in access.handlers):
        line = logging.StreamHandler(sys.stderr)
        line.set_name(_HANDLER_NAME)
        line.setFormatter(logging.Formatter("%(message)s"))  # the JSON object alone: one line, machine-readable
        access.addHandler(line)
    access.propagate = False
    uvicorn_access = logging.getLogger("uvicorn.access")
    uvicorn_access.handlers.clear()
    uvicorn_access.propagate = False
    uvicorn_access.disabled = True
