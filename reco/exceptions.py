"""Every exception reco raises, in one place, so callers can catch by kind.

Importing this module loads nothing heavy: ``NotFittedError`` (a subclass of scikit-learn's, so either
``except`` catches it) is made on first use, which kept scikit-learn (0.7 s) out of ``reco --help``.
"""

from __future__ import annotations

from typing import Any


class RecoError(Exception):
    """Base class for all errors raised by reco."""


class InputError(RecoError, ValueError):
    """Unusable input: names the source, the column and, where it applies, the row and value."""

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        column: str | None = None,
        row: int | None = None,
        value: object = None,
    ) -> None:
        self.source = source
        self.column = column
        self.row = row
        self.value = value
        parts = []
        if source is not None:
            parts.append(f"{source}")
        if row is not None:
            parts.append(f"row {row}")
        if column is not None:
            parts.append(f"column {column!r}")
        where = ", ".join(parts)
        detail = f"{where}: {message}" if where else message
        if value is not None:
            detail += f" (value: {value!r})"
        super().__init__(detail)


class ConfigurationError(RecoError, ValueError):
    """A setting, option or hyperparameter has a value reco cannot use."""


class ModelNotFoundError(RecoError, LookupError):
    """The registry holds no model version of that name, or none is promoted yet."""


class ArtifactError(RecoError):
    """A saved model artifact is incomplete, corrupt or of an unknown format."""


class UnknownItemError(RecoError, KeyError):
    """An item id is not in the model's catalogue."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown item"


class TrainingError(RecoError):
    """A job ran but what it learned cannot be used (e.g. a model part had nothing to learn from); the
    message says what happened and what to do."""


class PromotionError(RecoError):
    """A promotion or rollback the registry's history does not allow (nothing to roll back to, a target
    that was pruned); the message says which version and why."""


class ErasedCustomerError(RecoError, LookupError):
    """The customer was erased: their id is never stored or personalised again."""


class RunCancelledError(RecoError):
    """A training run's cancellation was asked for while it ran (its worker checks between steps)."""


class StoreError(RecoError):
    """The event store could not be reached or is in an unusable state."""


class StoreBusyError(StoreError):
    """Another write held the store for longer than this write may wait: retry later (the API's 503)."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def __getattr__(name: str) -> Any:
    if name == "NotFittedError":
        from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

        class NotFittedError(_SklearnNotFittedError, RecoError):
            """A model method that needs learned state was called before fit (or load)."""

        NotFittedError.__module__ = __name__
        globals()["NotFittedError"] = NotFittedError
        return NotFittedError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
