"""Time for the domain comes from a clock object, never from the system directly.

Tests inject a `ManualClock` so that a four-hour infusion runs in milliseconds. The station runs on a
`StationClock`: UTC taken from the wall clock once, then advanced by the monotonic clock, so that a
wall-clock step never moves a countdown. Screens show local time through app.domain.clock_face, with the
time-zone rules of the moment shown (daylight saving included); the journal stores UTC.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

log = logging.getLogger("chairside.clock")

DIVERGENCE_TOLERANCE_S = 120.0


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


def _wall_utc() -> datetime:
    return datetime.now(UTC)


class StationClock:
    """The station's time: the wall clock's UTC read once, at start, then advanced by `time.monotonic()`.

    Every duration the nurse relies on (a step-up due in 12 min, the 60 min of observation, the link
    quiet time, an alarm's escalation delay) is a difference of two readings of this clock. The
    monotonic clock is never stepped, so when the computer's wall clock jumps (an NTP correction after a
    bad start, an administrator, a flat CMOS battery) by an hour mid-infusion, no countdown moves and no
    step-up comes early or late.

    Journal times are this clock's UTC, too. In the journal, the time between two entries is then the
    time that really passed, and entries never go backwards. If the wall clock was wrong when the
    station started and is corrected later, the entries are off by that constant amount until the
    station restarts: `now()` logs a WARNING with both readings as soon as the two differ by more than
    `tolerance_s`, and an INFO once they agree again, so that the station log says by how much and from
    when. For an audit record this is the right trade: a constant offset that the log states can be
    corrected afterwards; entries that jump an hour back and forth cannot (their order, the real length
    of an observation, "rate changed 30 min after start" would no longer be provable).

    `wall` and `monotonic` are injectable (tests move them by hand). Daylight saving is not a jump: UTC
    goes on, only the local time shown changes (see app.domain.clock_face).
    """

    def __init__(
        self,
        *,
        wall: Callable[[], datetime] = _wall_utc,
        monotonic: Callable[[], float] = time.monotonic,
        tolerance_s: float = DIVERGENCE_TOLERANCE_S,
    ) -> None:
        self._wall = wall
        self._monotonic = monotonic
        self.tolerance_s = tolerance_s
        start = wall()
        if start.tzinfo is None:
            raise ValueError("the wall clock must give timezone-aware times")
        self._anchor_utc = start.astimezone(UTC)
        self._anchor_mono = monotonic()
        self._diverged = False

    def now(self) -> datetime:
        moment = self._anchor_utc + timedelta(seconds=self._monotonic() - self._anchor_mono)
        self._watch(moment)
        return moment

    def divergence_s(self) -> float:
        """Wall clock minus station clock, in seconds (positive: the wall clock is ahead)."""
        return (self._wall() - self.now()).total_seconds()

    def _watch(self, moment: datetime) -> None:
        wall = self._wall()
        gap = (wall - moment).total_seconds()
        if abs(gap) > self.tolerance_s and not self._diverged:
            self._diverged = True
            log.warning(
                "the wall clock (%s) differs from the station clock (%s) by %+.0f s; countdowns and journal "
                "times keep the station clock (restart the station between infusions to take the wall clock)",
                wall.isoformat(timespec="seconds"),
                moment.isoformat(timespec="seconds"),
                gap,
            )
        elif abs(gap) <= self.tolerance_s and self._diverged:
            self._diverged = False
            log.info("the wall clock agrees with the station clock again (%+.0f s)", gap)


SystemClock = StationClock
"""The name most callers know: the station clock with the system's own sources."""


class ManualClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start if start is not None else datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start time")

    def now(self) -> datetime:
        return self._now

    def advance(self, *, minutes: float = 0.0, seconds: float = 0.0) -> datetime:
        self._now += timedelta(minutes=minutes, seconds=seconds)
        return self._now

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("ManualClock needs timezone-aware times")
        self._now = moment


def minutes_between(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 60.0


def machine_zone_name() -> str:
    """This computer's IANA zone name (``TZ``, then /etc/localtime, then /etc/timezone), else "UTC"."""
    candidates: list[str] = []
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz:
        candidates.append(tz)
    with contextlib.suppress(OSError):
        target = os.path.realpath("/etc/localtime")
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    with contextlib.suppress(OSError):
        candidates.append(Path("/etc/timezone").read_text(encoding="utf-8").strip())
    for name in candidates:
        if is_zone_name(name):
            return name
    return "UTC"


def is_zone_name(name: str) -> bool:
    if not name or name.startswith("/") or ".." in name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True
