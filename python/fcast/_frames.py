"""pandas <-> engine conversion of time stamps.

The engine reads time stamps as seconds since the epoch of the *wall clock* (the calendar
features Kronos reads, and the business-day / trading-session continuation of future stamps,
are local-time notions), as `fcast predict` does with a CSV's stamps. Time-zone-aware stamps
are therefore passed as their local wall-clock time and the zone is put back on the way out.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def wall_seconds(stamps, what="timestamps"):
    """(int64 seconds of the wall clock, time zone or None) of datetime-like `stamps`."""
    try:
        idx = pd.DatetimeIndex(pd.to_datetime(stamps))
    except (TypeError, ValueError) as e:
        raise ValueError(f"{what}: cannot read as date-times ({e})") from None
    if idx.hasnans:
        raise ValueError(f"{what}: {int(idx.isna().sum())} missing time stamp(s) (NaT)")
    tz = idx.tz
    if tz is not None:
        idx = idx.tz_localize(None)
    secs = idx.asi8 // 1_000_000_000
    return np.asarray(secs, dtype=np.int64), tz


def from_wall_seconds(secs, tz=None):
    """A DatetimeIndex of wall-clock seconds, in time zone `tz` when given."""
    idx = pd.DatetimeIndex(pd.to_datetime(np.asarray(secs, dtype=np.int64), unit="s"))
    if tz is not None:
        idx = idx.tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward")
    return idx
