"""What the floor says about alarms beyond the tiles: the escalated list (a patient's first, wrapping,
each with its Acknowledge button; a summary line on the wall board) and the medium-priority sound while
a station is offline."""

from __future__ import annotations

import logging

from PySide6.QtCore import (
    Qt,
    Signal,
)
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.domain.alarms import Priority as AlarmPriority
from app.domain.alarms import alarm_name
from app.domain.clock_face import ClockFace
from app.station.floor_messages import (
    ChairAlarm,
)
from app.station.sound import Speaker, load_alarm_sounds
from app.ui.elided import FittedLabel
from app.ui.floor_model import Key

log = logging.getLogger(__name__)


def alarm_line(
    names: dict[str, str], key: Key, alarm: ChairAlarm, faces: dict[str, ClockFace] | None = None
) -> str:
    """`faces`: each station's clock face (its alarms' times are said in its zone)."""
    since = ((faces or {}).get(key[0]) or ClockFace.of()).hhmm(alarm.raised_at)
    message = alarm.message.replace(f"{key[1]}: ", "", 1)
    marker = alarm.priority.symbol
    return (
        f"{marker} {alarm.priority.value.upper()}  {names.get(key[0], key[0])} · {key[1]}:  "
        f"{message}  (since {since})"
    )


def escalated_by_chair(alarms: list[tuple[Key, ChairAlarm]], names: dict[str, str]) -> list[tuple[str, int]]:
    """Each chair once, in the order of its first alarm, with each of its alarms named: ("Pod B ·
    Chair 07: HIGH link lost, HIGH occlusion", 2)."""
    chairs: dict[Key, list[ChairAlarm]] = {}
    for key, alarm in alarms:
        chairs.setdefault(key, []).append(alarm)
    return [
        (
            f"{names.get(key[0], key[0])} · {key[1]}: "
            + ", ".join(f"{a.priority.value.upper()} {alarm_name(a.rule)}" for a in found),
            len(found),
        )
        for key, found in chairs.items()
    ]


class SummaryLine(FittedLabel):
    """One line that never wraps nor widens its window: a head and as many entries as fit its width,
    then how many alarms it leaves out ("+3 more"); every entry is its tooltip."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(1)
        self._head = ""
        self._entries: list[tuple[str, int]] = []
        self._fitting = False
        """Shows entries (`show_entries`), not a text of its own (`setText`, which may wrap)."""

    def show_entries(self, head: str, entries: list[tuple[str, int]]) -> None:
        self._head, self._entries, self._fitting = head, entries, True
        self.setToolTip("\n".join(text for text, _count in entries))
        self._fit()

    def _fit(self) -> None:
        if not self._fitting:
            return
        metrics = self.fontMetrics()
        width = self.contentsRect().width()
        total = sum(count for _text, count in self._entries)
        shown = self._head
        for n in range(len(self._entries), -1, -1):
            left = total - sum(count for _text, count in self._entries[:n])
            text = (
                self._head + ", ".join(t for t, _c in self._entries[:n]) + (f" +{left} more" if left else "")
            )
            shown = text
            if metrics.horizontalAdvance(text) <= width:
                break
        else:  # not even the head and the count: cut, the tooltip has it all
            shown = metrics.elidedText(shown, Qt.TextElideMode.ElideRight, width)
        if self.text() != shown:
            self.setText(shown)


class EscalatedPanel(QFrame):
    """The escalated alarms, a patient's first, each on wrapping lines with its Acknowledge button
    (no buttons on the wall board)."""

    acknowledge = Signal(object, object)  # key, alarm id

    MAX_LINES = 3

    def __init__(self, parent: QWidget | None = None, *, controls: bool = True) -> None:
        super().__init__(parent)
        self.setObjectName("escalatedPanel")
        self.controls = controls
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(8, 4, 8, 4)
        self._layout.setSpacing(2)
        self.summary = SummaryLine()
        self.summary.setText("No escalated alarms")
        self.summary.setObjectName("escalatedLine")
        self.summary.setWordWrap(controls)  # the wall board's: one line, the rest counted
        self._layout.addWidget(self.summary)
        self._rows: list[QWidget] = []
        self._shown: list[tuple[Key, str, str]] = []
        self.buttons: list[QPushButton] = []
        self.lines: list[QLabel] = []

    def show_alarms(
        self,
        alarms: list[tuple[Key, ChairAlarm]],
        names: dict[str, str],
        faces: dict[str, ClockFace] | None = None,
    ) -> None:
        """`faces`: each station's clock face (its alarms' times are said in its zone)."""
        shown = [(key, alarm.id, alarm_line(names, key, alarm, faces)) for key, alarm in alarms]
        if shown == self._shown:
            return
        self._shown = shown
        for row in self._rows:
            row.hide()
            row.deleteLater()
        self._rows, self.buttons, self.lines = [], [], []
        if not self.controls:  # the wall board: one line naming each chair's alarms, the tiles say the rest
            if alarms:
                self.summary.show_entries(f"⚠ {len(alarms)} ESCALATED: ", escalated_by_chair(alarms, names))
            else:
                self.summary.show_entries("No escalated alarms", [])
            return
        more = len(alarms) - self.MAX_LINES
        self.summary.setText(
            "No escalated alarms"
            if not alarms
            else f"⚠ {len(alarms)} escalated alarm{'s' if len(alarms) > 1 else ''}"
            + (": acknowledge to tell the station" if self.controls else "")
            + (f" ({more} more on the tiles below)" if more > 0 else "")
        )
        for key, alarm_id, text in shown[: self.MAX_LINES]:
            row = QWidget(self)
            line = QHBoxLayout(row)
            line.setContentsMargins(0, 0, 0, 0)
            label = QLabel(text)
            label.setObjectName("escalatedLine")
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.PlainText)
            line.addWidget(label, 1)
            if self.controls:
                button = QPushButton("Acknowledge")
                button.setObjectName("primaryButton")
                button.clicked.connect(lambda _=False, k=key, a=alarm_id: self.acknowledge.emit(k, a))
                line.addWidget(button)
                self.buttons.append(button)
            self._layout.addWidget(row)
            self._rows.append(row)
            self.lines.append(label)


class OfflineSound:
    """The medium-priority alarm sound while a station is offline (app.station.sound's patterns)."""

    def __init__(self, speaker: Speaker | None) -> None:
        self.speaker = speaker
        self.playing = False
        self._pcm = load_alarm_sounds().pcm(AlarmPriority.MEDIUM) if speaker is not None else b""

    def update(self, offline: bool) -> None:
        if offline == self.playing:
            return
        self.playing = offline
        if self.speaker is None:
            return
        if offline:
            self.speaker.play(AlarmPriority.MEDIUM.value, self._pcm)
        else:
            self.speaker.stop()

    def close(self) -> None:
        if self.speaker is not None:
            self.speaker.close()
