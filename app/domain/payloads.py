"""The few payload fields the session timeline reads, as named questions: each answered from the typed
payloads (app.domain.events), so the timeline never reads an entry's JSON."""

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
    ReactionNotTolerated,
    ReactionRecorded,
)
from app.domain.protocol import ReactionAction


def rate_ml_h(event: Event) -> float:
    """The rate of a start or a rate change."""
    p = event.payload
    return float(p.rate_ml_h) if isinstance(p, InfusionStarted | RateChanged) else 0.0


def restart_rate_ml_h(event: Event) -> float | None:
    """A resume after a stop for a reaction restarts at this rate (None: the rate before the stop)."""
    p = event.payload
    if isinstance(p, InfusionResumed) and p.restart_rate_ml_h is not None:
        return float(p.restart_rate_ml_h)
    return None


def source(event: Event) -> str:
    """Who documented it: "nurse", "pump", "system"."""
    p = event.payload
    if isinstance(p, RateChanged | InfusionPaused | InfusionResumed | InfusionCompleted):
        return p.source or "nurse"
    return "nurse"


def reason(event: Event) -> str:
    p = event.payload
    if isinstance(p, RateChanged | InfusionPaused | InfusionCompleted | Discontinued | ReactionNotTolerated):
        return p.reason
    return ""


def reaction_action(event: Event) -> ReactionAction | None:
    p = event.payload
    return p.action if isinstance(p, ReactionRecorded) else None


def reaction_grade(event: Event) -> int:
    p = event.payload
    return int(p.grade) if isinstance(p, ReactionRecorded) else 0


def volume_infused_ml(event: Event) -> float | None:
    p = event.payload
    if isinstance(p, InfusionCompleted) and p.volume_infused_ml is not None:
        return float(p.volume_infused_ml)
    return None


def handed_to(event: Event) -> str:
    """The nurse made responsible by an assignment or a hand-over."""
    p = event.payload
    if isinstance(p, NurseAssigned):
        return p.nurse
    return p.to_nurse if isinstance(p, HandedOver) else ""


def handed_from(event: Event) -> str:
    p = event.payload
    return p.from_nurse if isinstance(p, HandedOver) else ""


def assigned_at_check_in(event: Event) -> str:
    """The nurse a check-in makes responsible (the one who checked in unless another was named)."""
    p = event.payload
    return (p.assigned_nurse if isinstance(p, CheckedIn) else "") or event.actor
