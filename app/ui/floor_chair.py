"""A chair opened from the floor: read-only, from what its station publishes (phase, countdowns, vitals,
alarms with Acknowledge, the plan-vs-pump plot from its readings)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import (
    Qt,
    Signal,
)
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.domain.clock_face import ClockFace
from app.station.floor_messages import (
    ChairMessage,
    ReadingsMessage,
)
from app.ui.floor_model import Key
from app.ui.plot import PLANNED_PEN, PUMP_PEN, ClockFaceAxis
from app.ui.tile import TileView, station_face

log = logging.getLogger(__name__)


class ChairDialog(QDialog):
    """One chair opened from the floor, read-only, from what its station publishes; its alarms can be
    acknowledged from here (the same signed command as the escalated list)."""

    acknowledge = Signal(object, object)  # key, alarm id

    def __init__(self, key: Key, parent: QWidget | None = None, *, controls: bool = True) -> None:
        super().__init__(parent)
        self.key = key
        self.controls = controls
        self.setObjectName("floorChair")
        self.setWindowTitle(f"Chairside: {key[1]}")
        self.setMinimumWidth(520)
        outer = QVBoxLayout(self)
        self.title = QLabel()
        self.title.setObjectName("dialogHeading")
        self.title.setWordWrap(True)
        outer.addWidget(self.title)
        self.lines: dict[str, QLabel] = {}
        for name in ("phase", "protocol", "pump", "next", "vitals", "link", "notice", "as_of"):
            label = QLabel()
            label.setObjectName(f"floorChair_{name}")
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.PlainText)
            label.setStyleSheet("font-size: 13pt;")
            outer.addWidget(label)
            self.lines[name] = label
        self.alarms_box = QVBoxLayout()
        outer.addLayout(self.alarms_box)
        self.face = ClockFace.of(None)  # until the chair's message names its station's zone
        self.time_axis = ClockFaceAxis(self.face)
        self.plot = pg.PlotWidget(axisItems={"bottom": self.time_axis})
        self.plot.setObjectName("floorChairPlot")
        self.plot.setMinimumHeight(220)
        self.plot.setLabel("left", "mL/h")
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.plot.addLegend(offset=(10, 10))
        self.plan_curve = self.plot.plot([], [], name="planned", pen=PLANNED_PEN)
        self.pump_curve = self.plot.plot([], [], name="pump", pen=PUMP_PEN, stepMode=None)
        outer.addWidget(self.plot, 1)
        self.readings: ReadingsMessage | None = None
        self.alarm_rows: list[QWidget] = []
        self.buttons: list[QPushButton] = []
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        outer.addWidget(close, 0, Qt.AlignmentFlag.AlignRight)
        self._shown: tuple[Any, ...] | None = None

    def show_readings(self, readings: ReadingsMessage | None) -> None:
        """The plan-vs-pump plot from the chair's last published readings (at the heartbeat)."""
        if readings is self.readings:
            return
        self.readings = readings
        plan = readings.plan if readings is not None else ()
        pump = readings.pump if readings is not None else ()
        self.plan_curve.setData([t for t, _r in plan], [r for _t, r in plan])
        steps = held(pump)
        self.pump_curve.setData([t for t, _r in steps], [r for _t, r in steps])
        self.plot.setVisible(bool(plan or pump))  # no empty axes before the infusion

    def show_chair(self, chair: ChairMessage, view: TileView, station_name: str, now: datetime) -> None:
        pump = chair.pump
        shown = (chair, view, station_name)
        if shown == self._shown:
            return
        self._shown = shown
        initials = f"  {view.initials}" if view.initials else ""
        self.title.setText(f"{station_name} · {chair.chair}{initials}")
        self.lines["phase"].setText(view.stale_text or view.phase_text)
        self.lines["protocol"].setText(chair.protocol or "")
        volume = f", {pump.volume_ml:g} mL infused" if pump.volume_ml is not None else ""
        self.lines["pump"].setText(f"{view.pump_text}{volume}" if view.pump_text else "")
        self.lines["next"].setText(f"Next: {view.next_text}" if view.next_text else "")
        face = station_face(chair.display_tz)  # the station's zone, as its message names it
        if face != self.face:  # the time axis reads the station's clock too, not this computer's
            self.face = face
            self.time_axis.show_face(face)
        hhmm = face.hhmm
        vitals = chair.vitals
        self.lines["vitals"].setText(
            f"{vitals.label}: {'OVERDUE since' if vitals.overdue else 'at'} {hhmm(vitals.due_at)}"
            if vitals is not None
            else ""
        )
        self.lines["link"].setText(
            f"Pump link: {chair.link.state}"
            + (f" since {hhmm(chair.link.since)}" if chair.link.since else "")
            if chair.link.pump and chair.link.state
            else ""
        )
        self.lines["notice"].setText(f"ℹ {chair.notice}" if chair.notice else "")
        updated = chair.updated_at or chair.published_at
        self.lines["as_of"].setText(
            f"As published by {station_name} at {hhmm(updated)} (read-only here)" if updated else ""
        )
        for label in self.lines.values():
            label.setVisible(bool(label.text()))
        for row in self.alarm_rows:
            row.hide()
            row.deleteLater()
        self.alarm_rows, self.buttons = [], []
        for alarm in chair.alarms if not view.stale else ():
            row = QWidget(self)
            line = QHBoxLayout(row)
            line.setContentsMargins(0, 0, 0, 0)
            state = f" · acknowledged by {alarm.acknowledged_by}" if alarm.acknowledged else ""
            label = QLabel(
                f"{alarm.priority.symbol} {alarm.priority.value.upper()}"
                f"{' ESCALATED' if alarm.escalated else ''}  {alarm.message}{state}"
            )
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.PlainText)
            label.setStyleSheet("font-size: 13pt; font-weight: bold;")
            line.addWidget(label, 1)
            if self.controls and not alarm.acknowledged:
                button = QPushButton("Acknowledge")
                button.setObjectName("primaryButton")
                button.clicked.connect(lambda _=False, a=alarm.id: self.acknowledge.emit(self.key, a))
                line.addWidget(button)
                self.buttons.append(button)
            self.alarms_box.addWidget(row)
            self.alarm_rows.append(row)


def held(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """A pump's published readings as the rate it held: each reading's rate runs until the next one
    (drawn as a step, never a slope between two readings a heartbeat apart)."""
    out: list[tuple[float, float]] = []
    for t, rate in points:
        if out and out[-1][1] != rate:
            out.append((t, out[-1][1]))
        out.append((t, rate))
    return out
