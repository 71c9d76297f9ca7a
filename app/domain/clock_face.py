"""The one clock face: every time a person reads, in the station's display zone.

The journal stores UTC; people read the wall clock of the clinic. A `ClockFace` is that wall clock: a
zone (the station's configured `display_tz`, by default this computer's zone under its IANA name) whose
rules are applied to each moment separately, so a time on the far side of a daylight-saving change shows
that side's offset. A time that is not on today's date carries the day ("tomorrow 06:54"); what a person
types into a date/time field is read on the same face (`wall`), so "05:15" means 05:15 in the clinic,
whatever zone the computer itself runs in. This computer's own zone never appears unless it is the
configured one.

Screens, dialogs, chart axes, tiles, the floor overview, the lock screen, refusals, alarm texts, the
PDF, CSV summaries and `chairside status` all format through this module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

from app.domain.clock import is_zone_name, machine_zone_name

MISSING = "--:--"
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def machine_zone() -> tzinfo:
    """This computer's zone under its IANA name (its daylight-saving rules for every moment); when the
    system names none but runs at an offset, that fixed offset (never silently UTC)."""
    name = machine_zone_name()
    offset = datetime.now().astimezone().utcoffset() or timedelta(0)
    if name == "UTC" and offset:
        return timezone(offset)
    return ZoneInfo(name)


def zone_name(zone: tzinfo) -> str:
    """The zone's IANA name, or UTC+HH:MM for a fixed offset."""
    key = getattr(zone, "key", None)
    if key:
        return str(key)
    if zone is UTC:
        return "UTC"
    return "UTC" + offset_text(zone.utcoffset(None))


def offset_text(offset: timedelta | None) -> str:
    """+13:00, -05:00."""
    minutes = int((offset or timedelta(0)).total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def duration_text(delta: timedelta) -> str:
    """'in 12 min', '1 h 05 min ago', beyond a day 'in 25 h'. Rounds towards the deadline: 'now' inside
    a minute."""
    seconds = delta.total_seconds()
    if abs(seconds) < 60:
        return "now"
    minutes = math.ceil(abs(seconds) / 60) if seconds > 0 else math.floor(abs(seconds) / 60)
    hours, mins = divmod(minutes, 60)
    text = f"{hours} h" if hours >= 24 else f"{hours} h {mins:02d} min" if hours else f"{mins} min"
    return f"in {text}" if seconds > 0 else f"{text} ago"


@dataclass(frozen=True)
class ClockFace:
    """A wall clock in one zone. Build it with `ClockFace.of(...)`."""

    zone: tzinfo

    @classmethod
    def of(cls, zone: tzinfo | str | None = None) -> ClockFace:
        """The face for `zone`: a tzinfo, an IANA name, or None for this computer's zone."""
        if zone is None or zone == "" or zone == "local":
            return cls(machine_zone())
        if isinstance(zone, str):
            if not is_zone_name(zone):
                raise ValueError(f"{zone!r} is not an IANA time zone name (e.g. 'Europe/Zurich')")
            return cls(ZoneInfo(zone))
        return cls(zone)

    @property
    def name(self) -> str:
        return zone_name(self.zone)

    # -- reading the journal's UTC as a person does ------------------------------------------------

    def local(self, moment: datetime) -> datetime:
        """`moment` on this wall clock, with the zone's rules at that moment."""
        return moment.astimezone(self.zone)

    def day(self, moment: datetime) -> date:
        """The clinic's date of `moment` (what "today" means at the chair)."""
        return self.local(moment).date()

    def hhmm(self, moment: datetime | None, missing: str = MISSING) -> str:
        """HH:MM only: for a reader that shows the day elsewhere (a chart of one session, a dated row)."""
        return missing if moment is None else f"{self.local(moment):%H:%M}"

    def at(self, moment: datetime | None, now: datetime, missing: str = MISSING) -> str:
        """HH:MM on today's date, else with its day: "tomorrow 06:54", "yesterday 23:10", "Tue 08.12. 06:54"."""
        if moment is None:
            return missing
        days = (self.day(moment) - self.day(now)).days
        clock = self.hhmm(moment)
        if days == 0:
            return clock
        if days == 1:
            return f"tomorrow {clock}"
        if days == -1:
            return f"yesterday {clock}"
        local = self.local(moment)
        if local.year != self.local(now).year:
            return f"{local:%d.%m.%Y} {clock}"
        return f"{_WEEKDAYS[local.weekday()]} {local:%d.%m.} {clock}"

    def date_text(self, day: date | datetime) -> str:
        """A date as the clinic writes it: 07.12.2026 (a datetime is first put on this clock)."""
        if isinstance(day, datetime):
            day = self.day(day)
        return f"{day:%d.%m.%Y}"

    def stamp(self, moment: datetime | None) -> str:
        """Date, time and this zone's offset at that moment: 2026-12-07 19:54 +13:00."""
        if moment is None:
            return ""
        local = self.local(moment)
        return f"{local:%Y-%m-%d %H:%M} {offset_text(local.utcoffset())}"

    def iso(self, moment: datetime | None) -> str:
        """ISO 8601 with this zone's offset, to the second: 2026-12-07T19:54:00+13:00."""
        return "" if moment is None else self.local(moment).isoformat(timespec="seconds")

    def relative(self, moment: datetime, now: datetime) -> str:
        """'in 12 min', '1 h 05 min ago', beyond a day 'in 25 h'; inside a minute 'now'."""
        return duration_text(moment - now)

    # -- what a person types ------------------------------------------------------------------------

    def wall(self, typed: datetime) -> datetime:
        """A wall-clock time typed on this face (naive) as the UTC instant it names. In the hour a
        daylight-saving change repeats, the first (earlier) of the two; in the hour it skips, the time
        the clocks showed after the jump (02:30 on a spring-forward night reads as 03:30)."""
        if typed.tzinfo is not None:
            return typed.astimezone(UTC)
        # fold=0 takes the offset in force before the change: the earlier of a repeated hour, and for
        # a skipped hour the instant the clocks had already jumped past (PEP 495).
        return typed.replace(tzinfo=self.zone, fold=0).astimezone(UTC)

    def typed(self, moment: datetime) -> datetime:
        """`moment` as an editor shows it: the naive wall-clock time on this face (the inverse of `wall`)."""
        return self.local(moment).replace(tzinfo=None)
