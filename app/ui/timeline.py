"""The session's event timeline: every journal entry in words, newest first, with who did it."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QListView, QWidget

from app.chairs import ChairController
from app.domain.clock_face import ClockFace
from app.domain.delivery import change_words
from app.domain.describe import Audience, is_notification
from app.domain.describe import describe as describe_entry
from app.domain.events import Event, EventType
from app.domain.timeline import SessionTimeline

EventRole = Qt.ItemDataRole.UserRole + 1
_Index = QModelIndex | QPersistentModelIndex


def describe(event: Event, zone: tzinfo | None = None) -> str:
    """One timeline line: time, entry number, what (app.domain.describe, for the screen), who."""
    return f"{ClockFace.of(zone).hhmm(event.at)}  #{event.seq}  {describe_entry(event, Audience.SCREEN)}  — {event.actor}"


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
        if role == Qt.ItemDataRole.ForegroundRole and is_notification(event):
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
