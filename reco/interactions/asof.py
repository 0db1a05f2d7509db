"""The moment a job treats as "now": the end of the shop's history, not blindly its latest event.

Training, tuning, evaluation and scoring all learn from windows that end at "now". Taken as the
latest event, one stray event far after the rest (a live event posted today into a store of 2011
history, a wrong clock) moves every window past the data: no window has labels and nothing learns.
So the default is the end of the bulk of the history: when at most ``TAIL_SHARE`` of the events lie
after a gap longer than ``TAIL_GAP``, those events are a *tail*; the as-of time is the last event
before the gap, and the tail is reported (in the job's result and a warning), never used silently.
``--as-of`` sets the time outright, from the first event to ``TAIL_GAP`` after the end of the bulk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from reco.exceptions import ConfigurationError

TAIL_GAP = pd.Timedelta(days=30)
TAIL_SHARE = 0.001


@dataclass(frozen=True)
class AsOf:
    """``as_of``: the time the job uses; ``last_event``: the latest stored; ``ignored``: events after ``as_of``."""

    as_of: pd.Timestamp
    last_event: pd.Timestamp
    ignored: int
    given: bool

    def describe(self) -> str | None:
        """A plain sentence when events are left out, else None."""
        if not self.ignored:
            return None
        if self.given:
            return f"as of {self.as_of} (given): {self.ignored:,} later event(s) left out"
        one = self.ignored == 1
        events, stand, them, they = (("1 event", "stands", "it", "it is") if one else
                                     (f"{self.ignored:,} events", "stand", "them", "they are"))
        return (f"{events} after {self.as_of} {stand} apart from the rest of the history (the latest on "
                f"{self.last_event:%Y-%m-%d}, more than {TAIL_GAP.days} days after the one before {them}): {they} "
                f"left out and the job runs as of {self.as_of}; give --as-of to choose another time")

    def to_dict(self) -> dict[str, object]:
        return {"as_of": self.as_of.isoformat(), "latest_stored_event": self.last_event.isoformat(),
                "events_after_as_of": self.ignored, "as_of_given": self.given}


def parse_as_of(text: str | None, option: str = "--as-of") -> pd.Timestamp | None:
    """``--as-of`` (or another date ``option``) as a naive UTC timestamp, or a ConfigurationError that repeats
    the value."""
    if text is None:
        return None
    try:
        value = pd.Timestamp(text)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"{option} {text!r} is not a date or time (e.g. 2011-12-01 or "
                                 "2011-12-01T12:00)") from exc
    if value is pd.NaT:
        raise ConfigurationError(f"{option} {text!r} is not a date or time")
    return value.tz_convert("UTC").tz_localize(None) if value.tzinfo is not None else value


def resolve_as_of(timestamps: pd.Series, as_of: pd.Timestamp | str | None = None) -> AsOf:
    """The as-of time for events at ``timestamps`` (see the module docstring); ``as_of`` sets it."""
    ts = np.sort(pd.to_datetime(timestamps).to_numpy(dtype="datetime64[ns]"))
    if not len(ts):
        raise ConfigurationError("no events to take an as-of time from")
    first, last = pd.Timestamp(ts[0]), pd.Timestamp(ts[-1])
    end, ignored = _end_of_bulk(ts)
    if as_of is None:
        return AsOf(end, last, ignored, False)
    given = parse_as_of(as_of) if isinstance(as_of, str) else pd.Timestamp(as_of)
    if given < first:
        raise ConfigurationError(f"--as-of {given} is before the first event ({first}); the history runs "
                                 f"{first} .. {end}")
    if given > end + TAIL_GAP:  # every window would end in days without data: nothing could learn
        raise ConfigurationError(f"--as-of {given} is {(given - end).days} days after the end of the history "
                                 f"({end}); give a time at most {TAIL_GAP.days} days after it")
    return AsOf(given, last, int(len(ts) - np.searchsorted(ts, np.datetime64(given), side="right")), True)


def _end_of_bulk(ts: np.ndarray) -> tuple[pd.Timestamp, int]:
    """(the last event before a lone tail, the tail's size) of sorted timestamps; no tail: (the last, 0)."""
    n = len(ts)
    k = max(1, int(n * TAIL_SHARE))  # the most events a tail may hold
    if n <= k:
        return pd.Timestamp(ts[-1]), 0
    window = ts[n - k - 1:]
    gaps = np.diff(window)
    j = int(np.argmax(gaps))
    if gaps[j] <= TAIL_GAP.to_timedelta64():
        return pd.Timestamp(ts[-1]), 0
    return pd.Timestamp(window[j]), int(len(window) - j - 1)
