"""What can happen at a chair, as recorded facts. The journal stores these; state is a fold of them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    CHECKED_IN = "checked_in"
    SCREENING_RECORDED = "screening_recorded"
    PREMEDICATION_GIVEN = "premedication_given"
    INFUSION_STARTED = "infusion_started"
    RATE_CHANGED = "rate_changed"
    INFUSION_PAUSED = "infusion_paused"
    INFUSION_RESUMED = "infusion_resumed"
    REACTION_RECORDED = "reaction_recorded"
    SYMPTOMS_RESOLVED = "symptoms_resolved"
    REACTION_NOT_TOLERATED = "reaction_not_tolerated"
    VITALS_RECORDED = "vitals_recorded"
    INFUSION_COMPLETED = "infusion_completed"
    DISCHARGED = "discharged"
    DISCONTINUED = "discontinued"
    CORRECTION_RECORDED = "correction_recorded"
    NOTE_ADDED = "note_added"
    NURSE_ASSIGNED = "nurse_assigned"
    HANDED_OVER = "handed_over"
    ALARM_RAISED = "alarm_raised"
    ALARM_ACKNOWLEDGED = "alarm_acknowledged"
    ALARM_CLEARED = "alarm_cleared"
    # Who is at the station (the accounts stream, app.accounts; never part of a chair session)
    ACCOUNT_ADDED = "account_added"
    ACCOUNT_DISABLED = "account_disabled"
    ACCOUNT_PIN_RESET = "account_pin_reset"
    ACCOUNT_LOCKED = "account_locked"
    SIGN_IN_FAILED = "sign_in_failed"
    SIGNED_IN = "signed_in"
    SIGNED_OUT = "signed_out"
    STATION_LOCKED = "station_locked"
    STATION_UNLOCKED = "station_unlocked"
    # The station signed its journal's head (app.export.seals): the chain records when anchors were made
    JOURNAL_ANCHORED = "journal_anchored"


@dataclass(frozen=True)
class Event:
    """One fact about one chair session.

    `at` is when it happened at the chair (a premed given at 09:10 and entered at 09:20 has at=09:10);
    the journal adds the session, the sequence number and when it was recorded. `data` is plain JSON.
    """

    type: EventType
    at: datetime
    actor: str
    data: Mapping[str, Any] = field(default_factory=dict)
    seq: int = 0  # assigned by the journal; 0 until recorded

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("event times must be timezone-aware")
