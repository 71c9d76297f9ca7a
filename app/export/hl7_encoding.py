"""HL7 v2 encoding for the messages the export and the feed build: escaped text, times, segments."""

from __future__ import annotations

import re
from datetime import datetime

from app.export.shifts import LocalTime

_SPECIALS = {
    "\\": "\\E\\",
    "|": "\\F\\",
    "^": "\\S\\",
    "&": "\\T\\",
    "~": "\\R\\",
    "\r": "\\X0D\\",
    "\n": "\\X0A\\",
}
_SPECIAL_RE = re.compile(r"[\\|^&~\r\n]")


def text(value: object) -> str:
    """A value made safe for one HL7 component (delimiters escaped as HL7 escape sequences)."""
    return _SPECIAL_RE.sub(lambda m: _SPECIALS[m.group(0)], str(value))


def hl7_time(local: LocalTime, moment: datetime) -> str:
    return local.to_local(moment).strftime("%Y%m%d%H%M%S%z")


def segment(name: str, *fields: str) -> str:
    """One segment: fields joined by |, trailing empty fields dropped."""
    values = list(fields)
    while values and not values[-1]:
        values.pop()
    return "|".join((name, *values))
