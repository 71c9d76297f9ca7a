"""How the exports read a session's alarms: which are alarms and which are notifications (the rule's
category, app.domain.alarms), and when each ended: when it was cleared, or at the patient's discharge
at the latest (a discharged patient has no active alarm, whatever the station journaled last). The
PDF and the HL7 ACM messages both ask here, so the printed log and the interface engine agree."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.domain.alarms import RULES_BY_ID, AlarmCategory
from app.domain.chair import AlarmRecord, ChairState
from app.domain.timeline import SessionTimeline


def is_notification(rule: str) -> bool:
    """News for the nurse (infusion complete, observation complete), not an alarm."""
    found = RULES_BY_ID.get(rule)
    return found is not None and found.category is AlarmCategory.NOTIFICATION


@dataclass(frozen=True)
class AlarmEnd:
    at: datetime | None  # None: still active
    how: str  # "cleared", "discharge" or "active"


def alarm_end(state: ChairState, alarm: AlarmRecord) -> AlarmEnd:
    """The session timeline's end of the alarm (app.domain.timeline), and how it came."""
    ended = SessionTimeline.of(state).alarm_ended_at(alarm)
    if ended is None:
        return AlarmEnd(None, "active")
    return AlarmEnd(ended, "cleared" if alarm.cleared_at is not None else "discharge")


def active_alarms(state: ChairState) -> list[AlarmRecord]:
    """The alarms (not notifications) still active in this session, in the order they were raised."""
    return [a for a in SessionTimeline.of(state).open_alarms if not is_notification(a.rule)]
