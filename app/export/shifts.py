"""Shift boundaries and the local time zone the shift log is shown in.

The journal stores UTC; people read local wall-clock time. Shifts are configured in
resources/shifts.toml as local start/end times (a shift whose end is not after its start runs past
midnight). Local time is either a named IANA zone or, when none is configured, this computer's zone
(through the C library, so daylight-saving changes are honoured for every moment separately).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.domain.clock_face import ClockFace, machine_zone, offset_text
from app.resources import resource_path


class ShiftError(ValueError):
    """A shift or range the user asked for does not make sense (message says why)."""


@dataclass(frozen=True)
class LocalTime:
    """Converts between UTC and the clinic's wall-clock time."""

    zone: tzinfo | None = None  # None: the computer's local zone

    @classmethod
    def named(cls, name: str) -> LocalTime:
        if not name or name == "local":
            return cls(None)
        fixed = _FIXED.match(name)
        if fixed:
            sign = -1 if fixed.group(1) == "-" else 1
            offset = timedelta(hours=int(fixed.group(2)), minutes=int(fixed.group(3)))
            return cls(timezone(sign * offset))
        try:
            return cls(ZoneInfo(name))
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ShiftError(f"unknown time zone {name!r} (use an IANA name such as Europe/Zurich)") from exc

    @property
    def key(self) -> str:
        """The zone's IANA name (or UTC+HH:MM for a fixed offset), or "local" for this computer's zone
        (exports record `resolved().key`, never "local")."""
        if isinstance(self.zone, timezone):
            return "UTC" + offset_text(self.zone.utcoffset(None))
        key = getattr(self.zone, "key", None) if self.zone is not None else None
        return str(key) if key else "local"

    def resolved(self) -> LocalTime:
        """This zone, with "the computer's zone" replaced by its IANA name (or its current fixed offset
        when the system does not say), so an export reads the same on a computer in another zone."""
        return self if self.zone is not None else LocalTime(machine_zone())

    @property
    def face(self) -> ClockFace:
        """The clock face every time of the export is read on (app.domain.clock_face)."""
        return ClockFace.of(self.zone)

    def offsets(self, since: datetime, until: datetime) -> list[str]:
        """The UTC offsets in use between two moments (two across a daylight-saving change)."""
        found: list[str] = []
        moment = since
        while True:
            text = offset_text(self.to_local(moment).utcoffset() or timedelta(0))
            if text not in found:
                found.append(text)
            if moment >= until:
                return found
            moment = min(until, moment + timedelta(hours=1))

    def to_local(self, moment: datetime) -> datetime:
        return self.face.local(moment)

    def localize(self, wall: datetime) -> datetime:
        """A naive wall-clock time in this zone as an aware datetime."""
        return self.face.wall(wall).astimezone(self.face.zone)

    def iso(self, moment: datetime | None) -> str:
        """ISO 8601 with the local offset, to the second: 2026-01-05T09:00:00+01:00."""
        return self.face.iso(moment)

    def hhmm(self, moment: datetime | None) -> str:
        return self.face.hhmm(moment, missing="")

    def stamp(self, moment: datetime | None) -> str:
        """Readable date, time and offset: 2026-01-05 09:00 +01:00."""
        return self.face.stamp(moment)


@dataclass(frozen=True)
class Shift:
    name: str
    start: time
    end: time

    def window(self, day: date, local: LocalTime) -> tuple[datetime, datetime]:
        start = local.localize(datetime.combine(day, self.start))
        end_day = day if self.end > self.start else day + timedelta(days=1)
        return start, local.localize(datetime.combine(end_day, self.end))


@dataclass(frozen=True)
class ExportRange:
    """A half-open range [since, until) of journal recording times, with a label for people."""

    since: datetime
    until: datetime
    label: str

    def __post_init__(self) -> None:
        if self.since.tzinfo is None or self.until.tzinfo is None:
            raise ShiftError("range times need a time zone")
        if self.until <= self.since:
            raise ShiftError(
                f"the range ends ({self.until.isoformat()}) before it starts ({self.since.isoformat()})"
            )


@dataclass(frozen=True)
class ShiftConfig:
    shifts: tuple[Shift, ...]
    local: LocalTime

    @classmethod
    def load(cls, path: Path | None = None) -> ShiftConfig:
        path = path or resource_path("shifts.toml")
        try:
            with path.open("rb") as handle:
                data = tomllib.load(handle)
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ShiftError(f"cannot read the shift configuration {path}: {exc}") from exc
        raw_shifts = data.get("shifts", [])
        if not isinstance(raw_shifts, list):
            raise ShiftError(f"{path.name}: shifts must be [[shifts]] tables, not {raw_shifts!r}")
        shifts = []
        for number, raw in enumerate(raw_shifts, start=1):
            try:
                shifts.append(Shift(str(raw["name"]), _clock_time(raw["start"]), _clock_time(raw["end"])))
            except (KeyError, ValueError, TypeError) as exc:
                raise ShiftError(
                    f"{path.name}: shift {number} needs name, start and end as HH:MM ({exc})"
                ) from exc
        if not shifts:
            raise ShiftError(f"{path.name} defines no [[shifts]]")
        return cls(tuple(shifts), LocalTime.named(str(data.get("timezone", ""))))

    def at_station(self, zone: tzinfo | str | None) -> ShiftConfig:
        """These shifts in the station's display zone `zone`, unless the shift file names its own zone
        (an empty `timezone` leaves it to the station; None: no station zone known)."""
        if zone is None or self.local.zone is not None:
            return self
        return replace(self, local=LocalTime.named(zone) if isinstance(zone, str) else LocalTime(zone))

    def shift(self, name: str) -> Shift:
        for shift in self.shifts:
            if shift.name == name:
                return shift
        known = ", ".join(s.name for s in self.shifts)
        raise ShiftError(f"no shift called {name!r} (configured: {known})")

    def range_for(self, day: date, name: str | None = None) -> ExportRange:
        """One named shift starting on `day`, or (no name) every shift starting that day."""
        if name:
            since, until = self.shift(name).window(day, self.local)
            return ExportRange(since, until, f"{day.isoformat()} {name} shift")
        windows = [s.window(day, self.local) for s in self.shifts]
        since = min(w[0] for w in windows)
        until = max(w[1] for w in windows)
        return ExportRange(since, until, f"{day.isoformat()} (all shifts)")

    def current(self, now: datetime) -> ExportRange:
        """The shift `now` falls in (the default for the GUI's export)."""
        today = self.local.to_local(now).date()
        for day in (today, today - timedelta(days=1)):
            for shift in self.shifts:
                since, until = shift.window(day, self.local)
                if since <= now < until:
                    return ExportRange(since, until, f"{day.isoformat()} {shift.name} shift")
        return self.range_for(today)

    def parse_shift(self, text: str) -> ExportRange:
        """DATE or DATE/NAME, e.g. 2026-01-05/night."""
        day_text, _, name = text.partition("/")
        try:
            day = date.fromisoformat(day_text)
        except ValueError as exc:
            raise ShiftError(f"--shift {text!r}: use YYYY-MM-DD or YYYY-MM-DD/NAME") from exc
        return self.range_for(day, name or None)

    def parse_moment(self, text: str) -> datetime:
        """An ISO time; without an offset it is local time."""
        try:
            moment = datetime.fromisoformat(text)
        except ValueError as exc:
            raise ShiftError(
                f"{text!r} is not an ISO 8601 time (e.g. 2026-01-05T07:00 or ...+01:00)"
            ) from exc
        return self.local.localize(moment) if moment.tzinfo is None else moment


_HHMM = re.compile(r"^(\d{1,2}):(\d{2})$")
_FIXED = re.compile(r"^UTC([+-])(\d{2}):(\d{2})$")


def _clock_time(text: object) -> time:
    match = _HHMM.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not HH:MM")
    return time(int(match.group(1)), int(match.group(2)))
