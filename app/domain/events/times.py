"""How a moment is written in the journal: UTC, ISO 8601 (the one wire form of a time in an entry)."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"time without a timezone: {text!r}")
    return moment.astimezone(UTC)


def format_time(moment: datetime) -> str:
    if moment.tzinfo is UTC:  # an event's time always is (app.domain.events.Event)
        return moment.isoformat()
    return moment.astimezone(UTC).isoformat()
