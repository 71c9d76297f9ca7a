"""The few facts of an entry the delivery and the session timeline read, through the typed payloads.

One frozen dataclass per event type (app.domain.events.payloads) carries them; these readers say which
kinds carry a rate, a source, a reason, so app.domain.delivery and app.domain.timeline ask one question
each ("the rate of this entry") instead of matching payload types in every rule.
"""

from __future__ import annotations

from app.domain.events import (
    CheckedIn,
    Discontinued,
    Event,
    HandedOver,
    InfusionCompleted,
    InfusionPaused,
    InfusionResumed,
    InfusionStarted,
    NurseAssigned,
    RateChanged,
    ReactionRecorded,
)
from app.domain.protocol import ReactionAction


def rate_ml_h(event: Event) -> float:
    """The rate of a start or a rate change (0 for other entries)."""
    payload = event.payload
    return float(payload.rate_ml_h) if isinstance(payload, InfusionStarted | RateChanged) else 0.0


def restart_rate_ml_h(event: Event) -> float | None:
    """A resume after a stop for a reaction restarts at this rate (None: the rate before the stop)."""
    payload = event.payload
    if isinstance(payload, InfusionResumed) and payload.restart_rate_ml_h is not None:
        return float(payload.restart_rate_ml_h)
    return None


def source(event: Event) -> str:
    """Who documented it: "nurse", "pump", "system"."""
    payload = event.payload
    if isinstance(payload, RateChanged | InfusionPaused | InfusionResumed | InfusionCompleted):
        return payload.source or "nurse"
    return "nurse"


def reason(event: Event) -> str:
    payload = event.payload
    if isinstance(payload, RateChanged | InfusionPaused | InfusionCompleted | Discontinued):
        return payload.reason
    return ""


def reaction_action(event: Event) -> ReactionAction | None:
    payload = event.payload
    return payload.action if isinstance(payload, ReactionRecorded) else None


def reaction_grade(event: Event) -> int:
    payload = event.payload
    return int(payload.grade) if isinstance(payload, ReactionRecorded) else 0


def volume_infused_ml(event: Event) -> float | None:
    payload = event.payload
    if isinstance(payload, InfusionCompleted) and payload.volume_infused_ml is not None:
        return float(payload.volume_infused_ml)
    return None


def handed_to(event: Event) -> str:
    """The nurse made responsible by an assignment or a hand-over."""
    payload = event.payload
    if isinstance(payload, NurseAssigned):
        return payload.nurse
    return payload.to_nurse if isinstance(payload, HandedOver) else ""


def handed_from(event: Event) -> str:
    payload = event.payload
    return payload.from_nurse if isinstance(payload, HandedOver) else ""


def assigned_at_check_in(event: Event) -> str:
    """The nurse a check-in makes responsible (the one who checked in unless another was named)."""
    payload = event.payload
    named = payload.assigned_nurse if isinstance(payload, CheckedIn) else ""
    return named or event.actor
