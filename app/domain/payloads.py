"""The few payload fields the session timeline reads, in one place.

The typed events (one frozen dataclass per event type, branch `typed`) replace `Event.data`; until they
land, the timeline reads payloads only through these functions, so switching is one edit here.
"""

from __future__ import annotations

from app.domain.events import Event
from app.domain.protocol import ReactionAction


def rate_ml_h(event: Event) -> float:
    """The rate of a start or a rate change."""
    return float(event.data.get("rate_ml_h") or 0.0)


def restart_rate_ml_h(event: Event) -> float | None:
    """A resume after a stop for a reaction restarts at this rate (None: the rate before the stop)."""
    value = event.data.get("restart_rate_ml_h")
    return None if value is None else float(value)


def source(event: Event) -> str:
    """Who documented it: "nurse", "pump", "system"."""
    return str(event.data.get("source") or "nurse")


def reason(event: Event) -> str:
    return str(event.data.get("reason") or "")


def reaction_action(event: Event) -> ReactionAction | None:
    value = event.data.get("action")
    return ReactionAction(value) if value else None


def reaction_grade(event: Event) -> int:
    return int(event.data.get("grade") or 0)


def volume_infused_ml(event: Event) -> float | None:
    value = event.data.get("volume_infused_ml")
    return None if value is None else float(value)


def handed_to(event: Event) -> str:
    """The nurse made responsible by an assignment or a hand-over."""
    return str(event.data.get("nurse") or event.data.get("to_nurse") or "")


def handed_from(event: Event) -> str:
    return str(event.data.get("from_nurse") or "")


def assigned_at_check_in(event: Event) -> str:
    """The nurse a check-in makes responsible (the one who checked in unless another was named)."""
    return str(event.data.get("assigned_nurse") or event.actor)
