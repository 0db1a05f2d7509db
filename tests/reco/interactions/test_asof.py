"""The as-of time: the end of the bulk of the history; a lone tail of late events is reported, not used."""

from __future__ import annotations

import pandas as pd
import pytest

from reco.exceptions import ConfigurationError
from reco.interactions.asof import resolve_as_of


def _days(start: str, n: int) -> list[pd.Timestamp]:
    return list(pd.date_range(start, periods=n, freq="D"))


def test_without_a_tail_it_is_the_last_event() -> None:
    when = resolve_as_of(pd.Series(_days("2011-01-01", 300)))
    assert when.as_of == pd.Timestamp("2011-10-27") and when.ignored == 0 and when.describe() is None


def test_a_lone_late_event_is_left_out_and_reported() -> None:
    stamps = pd.Series(_days("2011-01-01", 300) * 10 + [pd.Timestamp("2026-11-30 12:00")])
    when = resolve_as_of(stamps)
    assert when.as_of == pd.Timestamp("2011-10-27") and when.ignored == 1
    assert when.last_event == pd.Timestamp("2026-11-30 12:00")
    assert "1 event after 2011-10-27" in when.describe() and "--as-of" in when.describe()
    assert when.to_dict()["events_after_as_of"] == 1


def test_a_real_restart_after_a_pause_is_kept() -> None:
    # 5% of the events after a 60-day pause: that is trading, not a tail (the tail holds at most 0.1%)
    stamps = pd.Series(_days("2011-01-01", 200) * 10 + _days("2011-09-18", 100))
    when = resolve_as_of(stamps)
    assert when.as_of == pd.Timestamp("2011-12-26") and when.ignored == 0


def test_given_as_of() -> None:
    stamps = pd.Series(_days("2011-01-01", 300))
    when = resolve_as_of(stamps, "2011-06-30")
    assert when.given and when.as_of == pd.Timestamp("2011-06-30") and when.ignored == 119
    assert resolve_as_of(stamps, "2011-06-30T12:00+02:00").as_of == pd.Timestamp("2011-06-30 10:00")
    with pytest.raises(ConfigurationError, match="'soon' is not a date"):
        resolve_as_of(stamps, "soon")
    with pytest.raises(ConfigurationError, match="before the first event"):
        resolve_as_of(stamps, "2010-01-01")
    assert resolve_as_of(stamps, "2011-11-26").ignored == 0  # up to 30 days after the last event
    with pytest.raises(ConfigurationError, match="is 66 days after the end of the history"):
        resolve_as_of(stamps, "2012-01-01")
