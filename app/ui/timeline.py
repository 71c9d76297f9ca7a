"""The session's event timeline: every journal entry in words, newest first, with who did it."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QListView, QWidget

from app.chairs import ChairController
from app.domain.alarms import ALARM_RULES, AlarmCategory
from app.domain.clock_face import ClockFace
from app.domain.delivery import change_words
from app.domain.events import Event, EventType
from app.domain.timeline import SessionTimeline
from app.station.status_text import rate_text

EventRole = Qt.ItemDataRole.UserRole + 1
_Index = QModelIndex | QPersistentModelIndex


def _volume(value: Any) -> str:
    return "" if value is None else f", {float(value):.0f} mL"


NOTIFICATION_RULES = frozenset(r.id for r in ALARM_RULES if r.category is AlarmCategory.NOTIFICATION)


def describe(event: Event, zone: tzinfo | None = None) -> str:
    """One line: time, what, who. Pump-documented entries say so."""
    d = event.data
    source = " (from the pump)" if d.get("source") == "pump" else ""
    overrides = d.get("overrides") or []
    text: str
    match event.type:
        case EventType.CHECKED_IN:
            text = f"Checked in {d['patient_initials']} ({d['patient_mrn']}), {d['protocol_id']}, bag lot {d['bag']['lot']}"
        case EventType.SCREENING_RECORDED:
            findings = d.get("findings") or []
            text = "Screening: " + (
                "; ".join(f"{f['question']} {f['answer']}" for f in findings) if findings else "no findings"
            )
        case EventType.PREMEDICATION_GIVEN:
            repeat = " (repeat dose)" if d.get("repeat") else ""
            text = f"Premed {d['drug']} {d['dose']} {d['route']}{repeat}"
        case EventType.INFUSION_STARTED:
            text = f"Infusion started at {rate_text(float(d['rate_ml_h']))}"
        case EventType.RATE_CHANGED:
            previous = d.get("previous_rate_ml_h")
            before = f" from {rate_text(float(previous))}" if previous is not None else ""
            text = f"Rate{before} to {rate_text(float(d['rate_ml_h']))}{source}"
        case EventType.INFUSION_PAUSED:
            text = f"Paused: {d.get('reason', '')}{source}"
        case EventType.INFUSION_RESUMED:
            text = f"Resumed{source}"
        case EventType.REACTION_RECORDED:
            signs = ", ".join(d.get("signs", ())) or "no signs ticked"
            action = (d.get("action") or "recorded after the infusion").replace("_", " ")
            text = f"REACTION grade {d['grade']}: {signs}; {action}"
            if d.get("regrades_seq"):
                text = f"REACTION re-graded (#{d['regrades_seq']}) to grade {d['grade']}: {signs}; {action}"
            onset_rate = float(d.get("rate_at_onset_ml_h") or 0.0)
            if onset_rate > 0:
                text += f" (pump {rate_text(onset_rate)} at onset)"
            if d.get("action") == "halve_rate":
                text += f" → {rate_text(float(d['new_rate_ml_h']))}"
            elif d.get("action") == "stop_then_restart":
                text += f" → restart at {rate_text(float(d['restart_rate_ml_h']))}"
        case EventType.VITALS_RECORDED:
            values = d.get("values", {})
            text = "Vitals " + ", ".join(f"{k.split('_')[0]} {v:g}" for k, v in values.items())
            if d.get("alerts"):
                text += " ⚠ " + "; ".join(d["alerts"])
        case EventType.INFUSION_COMPLETED:
            text = f"Infusion complete{_volume(d.get('volume_infused_ml'))}{source}"
        case EventType.DISCHARGED:
            text = "Discharged"
        case EventType.DISCONTINUED:
            text = f"Discontinued: {d.get('reason', '')}"
        case EventType.CORRECTION_RECORDED:
            text = f"Correction of #{d['target_seq']}: {d.get('corrected')} because {d.get('reason')}"
        case EventType.NOTE_ADDED:
            about = f" (on #{d['target_seq']})" if d.get("target_seq") else ""
            text = f"Note{about}: {d.get('text', '')}"
        case EventType.SYMPTOMS_RESOLVED:
            text = "Symptoms resolved" + (f": {d['notes']}" if d.get("notes") else "")
        case EventType.REACTION_NOT_TOLERATED:
            outcome = "pump stopped" if d.get("outcome") == "stop" else "re-graded"
            reason = f": {d['reason']}" if d.get("reason") else ""
            text = f"Reduced rate not tolerated, {outcome}{reason}"
        case EventType.NURSE_ASSIGNED:
            text = f"Responsible nurse: {d.get('nurse')}"
        case EventType.HANDED_OVER:
            notes = f" ({d['notes']})" if d.get("notes") else ""
            text = f"Handed over from {d.get('from_nurse') or 'nobody'} to {d.get('to_nurse')}{notes}"
        case EventType.ALARM_RAISED if d.get("rule") in NOTIFICATION_RULES:
            text = f"ℹ {d.get('message')}"  # news, not an alarm: no priority, no alarm colour
        case EventType.ALARM_RAISED | EventType.ALARM_ACKNOWLEDGED | EventType.ALARM_CLEARED:
            verb = event.type.value.removeprefix("alarm_")
            text = f"Alarm {verb} ({d.get('priority')}): {d.get('message')}"
        case _:
            text = event.type.value
    if overrides:
        text += " [OVERRIDE by " + ", ".join(f"{o['by']}: {o['reason']}" for o in overrides) + "]"
    return f"{ClockFace.of(zone).hhmm(event.at)}  #{event.seq}  {text}  — {event.actor}"


def line(event: Event, timeline: SessionTimeline | None, zone: tzinfo | None = None) -> str:
    """The timeline's line for an entry: `describe`, then what it did to the delivery (the session
    timeline's words: "delivery stopped: stopped by a pump alarm"), as the PDF and CSV say it."""
    text = describe(event, zone)
    words = (
        change_words(timeline.changes_of(event.seq), event.at, ClockFace.of(zone).hhmm)
        if timeline is not None
        else ""
    )
    return f"{text}  [{words}]" if words else text


_COLOURS = {
    EventType.REACTION_RECORDED: "#b00020",
    EventType.ALARM_RAISED: "#8a4b00",
    EventType.CORRECTION_RECORDED: "#5b2a86",
    EventType.NOTE_ADDED: "#33475b",
}


class TimelineModel(QAbstractListModel):
    """The chair's current session's entries, newest first. Alarm acknowledge/clear lines are kept
    out of the nurse's view (they are in the alarm history); raised alarms stay."""

    HIDDEN = (EventType.ALARM_ACKNOWLEDGED, EventType.ALARM_CLEARED)

    def __init__(self, chair: ChairController) -> None:
        super().__init__(chair)
        self._chair = chair
        self._zone = chair.session.host.display_tz  # the configured display zone
        self._events: list[Event] = []
        self._timeline: SessionTimeline | None = None
        chair.changed.connect(self.reload)
        self.reload()

    def reload(self) -> None:
        state = self._chair.state
        events = [e for e in state.events if e.type not in self.HIDDEN] if state is not None else []
        events.reverse()
        if [e.seq for e in events] == [e.seq for e in self._events]:
            return
        self.beginResetModel()
        self._timeline = SessionTimeline.of(state) if state is not None else None
        self._events = events
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._events)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._events):
            return None
        event = self._events[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return line(event, self._timeline, self._zone)
        if role == EventRole:
            return event
        if role == Qt.ItemDataRole.ForegroundRole and event.data.get("rule") in NOTIFICATION_RULES:
            return None
        if role == Qt.ItemDataRole.ForegroundRole and event.type in _COLOURS:
            return QBrush(QColor(_COLOURS[event.type]))
        return None

    def event_at(self, row: int) -> Event:
        return self._events[row]

    def texts(self) -> list[str]:
        return [line(e, self._timeline, self._zone) for e in self._events]


class TimelineView(QListView):
    def __init__(self, model: TimelineModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setModel(model)
        self.setObjectName("timeline")
        self.setWordWrap(True)
        self.setUniformItemSizes(False)
        self.setAlternatingRowColors(True)

    def selected_event(self) -> Event | None:
        indexes = self.selectedIndexes()
        if not indexes:
            return None
        event: Event = indexes[0].data(EventRole)
        return event
