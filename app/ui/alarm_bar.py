"""The alarm bar: a chair's (or the whole floor's) active alarms, shown per IEC 60601-1-8.

High priority is red and flashes at about 2 Hz, medium is yellow at about 0.5 Hz, low is cyan and steady
(rates and duty cycle from resources/alarms.toml). Colour is never alone: every row carries the
priority's symbol and word, and says whether the alarm is clinical or technical (technical rows also
have a dashed frame). Only the background flashes, the text stays readable. Acknowledged alarms stay
on the bar, steady, until their condition clears.

Flashing runs from a QTimer that only ticks while something flashes; `advance_flash(ms)` moves the
flash phase by hand, so tests drive it without waiting. A row is restyled only when it turns on or off,
not on every tick.

On a short screen (a 1366x768 station) the bar goes compact (`set_compact`): one line per alarm with
the message cut to fit (the whole text in its tooltip), at most two rows, so the chair view below keeps
its room. Symbol, priority word and category stay on every row.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.domain.alarms import Alarm, AlarmCategory, AlarmPolicy, Priority
from app.domain.decide import CommandRefused
from app.ui.elided import ElidedLabel, set_style_sheet
from app.ui.signin import with_cosign

FLASH_TICK_MS = 50
MAX_ROWS = 4
COMPACT_ROWS = 2

# IEC colour names -> colours that keep black or white text legible
LIT = {
    Priority.HIGH: ("#d0021b", "#ffffff"),
    Priority.MEDIUM: ("#ffd400", "#000000"),
    Priority.LOW: ("#00c8e0", "#000000"),
}
UNLIT = {Priority.HIGH: "#fbe3e6", Priority.MEDIUM: "#fff7cc", Priority.LOW: "#e0f8fb"}
EDGE = {Priority.HIGH: "#7a0016", Priority.MEDIUM: "#8a7300", Priority.LOW: "#00707d"}
CALM = "QFrame#alarmRow { background: #f4f6f8; border: 1px solid #d0d5da; border-radius: 6px; }"


def format_countdown(seconds: float) -> str:
    whole = max(0, int(seconds + 0.999))  # 119.2 s left shows 2:00
    return f"{whole // 60}:{whole % 60:02d}"


_ACK_STYLE = {
    False: "font-size: 16pt; font-weight: bold; padding: 10px 18px;",
    True: "font-size: 14pt; font-weight: bold; padding: 3px 14px;",
}
_PAUSE_STYLE = {False: "font-size: 15pt; padding: 10px 18px;", True: "font-size: 13pt; padding: 3px 14px;"}
_CALM_STYLE = {False: "font-size: 15pt; color: #3c4148;", True: "font-size: 13pt; color: #3c4148;"}


@dataclass(frozen=True)
class _Entry:
    chair: str  # "" when the bar shows one chair
    alarm: Alarm
    escalated: bool = False

    @property
    def key(self) -> str:
        return f"{self.chair}/{self.alarm.id}"


class AlarmRow(QFrame):
    clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("alarmRow")
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(10, 6, 10, 6)
        self.symbol = QLabel()
        self.symbol.setObjectName("alarmSymbol")
        self.symbol.setMinimumWidth(70)
        self.tag = QLabel()
        self.tag.setObjectName("alarmTag")
        self.message = ElidedLabel()
        self.message.setObjectName("alarmMessage")
        self.message.set_eliding(False)
        self._layout.addWidget(self.symbol)
        self._layout.addWidget(self.tag)
        self._layout.addWidget(self.message, 1)
        self.entry: _Entry | None = None
        self.lit = True
        self.compact = False

    def set_compact(self, compact: bool) -> None:
        if compact == self.compact:
            return
        self.compact = compact
        self._layout.setContentsMargins(*((8, 2, 8, 2) if compact else (10, 6, 10, 6)))
        self.symbol.setMinimumWidth(48 if compact else 70)
        self.message.set_eliding(compact)
        if self.entry is not None:
            self.show_entry(self.entry)
            self.set_lit(self.lit)

    def show_entry(self, entry: _Entry) -> None:
        self.entry = entry
        alarm = entry.alarm
        self.symbol.setText(alarm.priority.symbol)
        category = alarm.category.value.upper()  # CLINICAL, TECHNICAL or NOTIFICATION
        tags = [f"{alarm.priority.label.upper()} · {category}"]
        if entry.escalated:
            tags.append("ESCALATED")
        self.tag.setText((" · " if self.compact else "\n").join(tags))
        text = alarm.message
        if alarm.acknowledged:
            text += f"  (acknowledged by {alarm.acknowledged_by})"
        elif not alarm.condition_active:
            text += "  (over; acknowledge to clear)"
        self.message.setText(text)

    def set_lit(self, lit: bool) -> None:
        if self.entry is None:
            return
        self.lit = lit
        priority = self.entry.alarm.priority
        background, text = LIT[priority] if lit else (UNLIT[priority], "#000000")
        style = "dashed" if self.entry.alarm.category is AlarmCategory.TECHNICAL else "solid"
        sizes = (20, 11, 15) if self.compact else (24, 12, 17)
        set_style_sheet(
            self,
            f"QFrame#alarmRow {{ background: {background}; border: 3px {style} {EDGE[priority]};"
            f" border-radius: 6px; }}"
            f" QLabel {{ color: {text}; background: transparent; }}"
            f" QLabel#alarmSymbol {{ font-size: {sizes[0]}pt; font-weight: bold; }}"
            f" QLabel#alarmTag {{ font-size: {sizes[1]}pt; font-weight: bold; }}"
            f" QLabel#alarmMessage {{ font-size: {sizes[2]}pt; font-weight: bold; }}",
        )

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.clicked.emit()
        super().mousePressEvent(event)


class AlarmBar(QWidget):
    """`AlarmBar(parent)` for one chair (feed it with `show_alarms`), or `AlarmBar(floor_controller)`
    to watch every chair of an app.chairs.FloorController by itself."""

    acknowledge_requested = Signal(str)  # alarm id
    pause_audio_requested = Signal()
    chair_activated = Signal(str)  # floor mode: a row was clicked

    def __init__(self, parent: Any = None, *, policy: AlarmPolicy | None = None, floor: Any = None) -> None:
        if parent is not None and not isinstance(parent, QWidget) and hasattr(parent, "chairs"):
            floor, parent = parent, None
        super().__init__(parent)
        self.setObjectName("alarmBar")
        chosen = policy or (floor.alarm_policy if floor is not None else None)
        if chosen is None:
            raise TypeError("an alarm bar is handed the station's policy, or the floor it shows")
        self.policy: AlarmPolicy = chosen
        self._floor: Any = None
        self._entries: list[_Entry] = []
        self._paused_s = 0.0
        self._phase_ms = 0
        self.compact = False
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        rows = QVBoxLayout()
        rows.setSpacing(4)
        self.calm_label = QLabel("No active alarms")
        self.calm_label.setObjectName("alarmCalm")
        self.calm_label.setStyleSheet(_CALM_STYLE[False])
        rows.addWidget(self.calm_label)
        self.rows: list[AlarmRow] = []
        for _ in range(MAX_ROWS):
            row = AlarmRow(self)
            row.clicked.connect(lambda row=row: self._row_clicked(row))
            row.hide()
            rows.addWidget(row)
            self.rows.append(row)
        self.more_label = QLabel()
        self.more_label.setStyleSheet("font-size: 13pt; font-weight: bold;")
        self.more_label.hide()
        rows.addWidget(self.more_label)
        layout.addLayout(rows, 1)
        buttons = QVBoxLayout()
        buttons.setSpacing(4)
        self.acknowledge_button = QPushButton("Acknowledge")
        self.acknowledge_button.setObjectName("acknowledgeButton")
        self.acknowledge_button.setStyleSheet(_ACK_STYLE[False])
        self.acknowledge_button.clicked.connect(self._acknowledge_clicked)
        self.pause_button = QPushButton()
        self.pause_button.setObjectName("pauseAudioButton")
        self.pause_button.setStyleSheet(_PAUSE_STYLE[False])
        self.pause_button.clicked.connect(self._pause_clicked)
        buttons.addWidget(self.acknowledge_button)
        buttons.addWidget(self.pause_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.flash_timer = QTimer(self)
        self.flash_timer.setInterval(FLASH_TICK_MS)
        self.flash_timer.timeout.connect(lambda: self.advance_flash(FLASH_TICK_MS))
        self._show([], 0.0)
        if floor is not None:
            self.bind_floor(floor)

    # ------------------------------------------------------------------------------------------
    # Showing

    @property
    def visible_rows(self) -> int:
        return COMPACT_ROWS if self.compact else MAX_ROWS

    def set_compact(self, compact: bool) -> None:
        """One line per alarm and at most two rows (short screens); False for the full bar."""
        if compact == self.compact:
            return
        self.compact = compact
        layout = self.layout()
        if layout is not None:
            layout.setContentsMargins(*((6, 2, 6, 2) if compact else (6, 6, 6, 6)))
        for row in self.rows:
            row.set_compact(compact)
        self.acknowledge_button.setStyleSheet(_ACK_STYLE[compact])
        self.pause_button.setStyleSheet(_PAUSE_STYLE[compact])
        self.calm_label.setStyleSheet(_CALM_STYLE[compact])
        self._show(self._entries, self._paused_s)

    def show_alarms(self, alarms: Sequence[Alarm], audio_paused_remaining_s: float) -> None:
        """One chair's active alarms (most urgent first, as AlarmBoard.active() gives them)."""
        self._show([_Entry("", a) for a in alarms], audio_paused_remaining_s)

    def _show(self, entries: list[_Entry], paused_s: float) -> None:
        self._entries = entries
        self._paused_s = paused_s
        self.calm_label.setVisible(not entries)
        shown = self.rows[: self.visible_rows]
        for row, entry in zip(shown, entries, strict=False):
            row.show_entry(entry)
            row.show()
        for row in self.rows[min(len(entries), len(shown)) :]:
            row.entry = None
            row.hide()
        hidden = len(entries) - len(shown)
        self.more_label.setVisible(hidden > 0)
        self.more_label.setText(f"+{hidden} more alarm{'s' if hidden > 1 else ''}")
        self.acknowledge_button.setEnabled(self._to_acknowledge() is not None)
        if paused_s > 0:
            self.pause_button.setText(f"Audio paused {format_countdown(paused_s)}")
        else:
            self.pause_button.setText(f"Pause audio {format_countdown(self.policy.audio_pause_s)}")
        self._apply_flash()
        flashing = any(self._flash_hz(e.alarm) > 0 for e in entries)
        if flashing and not self.flash_timer.isActive():
            self.flash_timer.start()
        elif not flashing:
            self.flash_timer.stop()

    def _flash_hz(self, alarm: Alarm) -> float:
        return 0.0 if alarm.acknowledged else self.policy.flash_hz[alarm.priority]

    def flash_period_ms(self, priority: Priority) -> float | None:
        """None for a steady priority."""
        hz = self.policy.flash_hz[priority]
        return 1000.0 / hz if hz > 0 else None

    def advance_flash(self, ms: int) -> None:
        """Move the flash phase on by `ms` (the timer does this; tests call it directly)."""
        self._phase_ms += ms
        self._apply_flash()

    def _apply_flash(self) -> None:
        for row in self.rows:
            if row.entry is None:
                continue
            hz = self._flash_hz(row.entry.alarm)
            if hz <= 0:
                row.set_lit(True)
                continue
            period = 1000.0 / hz
            row.set_lit((self._phase_ms % period) < period * self.policy.flash_duty_percent / 100.0)

    def row_lit(self, index: int) -> bool:
        return self.rows[index].isVisibleTo(self) and self.rows[index].lit

    def row_texts(self) -> list[str]:
        return [
            f"{row.symbol.text()} {row.tag.text()} {row.message.text()}".replace("\n", " ")
            for row in self.rows
            if row.entry is not None
        ]

    # ------------------------------------------------------------------------------------------
    # Buttons

    def _to_acknowledge(self) -> _Entry | None:
        return next((e for e in self._entries if not e.alarm.acknowledged), None)

    def _acknowledge_clicked(self) -> None:
        entry = self._to_acknowledge()
        if entry is None:
            return
        self.acknowledge_requested.emit(entry.alarm.id)
        if self._floor is not None:
            with contextlib.suppress(CommandRefused):  # nobody identified: the chair says so itself
                chair = self._floor.chair(entry.chair)
                with_cosign(self, self._floor, lambda c: chair.acknowledge(entry.alarm.id, c))

    def _pause_clicked(self) -> None:
        self.pause_audio_requested.emit()
        if self._floor is not None:
            for chair in self._floor.chairs:
                chair.pause_audio()

    def _row_clicked(self, row: AlarmRow) -> None:
        if row.entry is not None and row.entry.chair:
            self.chair_activated.emit(row.entry.chair)

    # ------------------------------------------------------------------------------------------
    # Floor mode

    def bind_floor(self, floor: Any) -> None:
        """Watch every chair of an app.chairs.FloorController: refresh on its tick and on alarm changes."""
        self._floor = floor
        floor.ticked.connect(self._refresh_from_floor)
        for chair in floor.chairs:
            chair.alarms_changed.connect(self._refresh_from_floor)
        self._refresh_from_floor()

    def _refresh_from_floor(self, now: datetime | None = None) -> None:
        floor = self._floor
        if floor is None:
            return
        now = now or floor.now()
        entries: list[_Entry] = []
        paused = 0.0
        for chair in floor.chairs:
            escalated = {a.id for a in chair.escalated_alarms(now)}
            # notifications ("infusion complete") are news on the tile and in the record, not alarms
            alarms = [a for a in chair.active_alarms if a.category.is_alarm]
            entries += [_Entry(chair.name, a, a.id in escalated) for a in alarms]
            paused = max(paused, chair.alarm_board.audio_paused_remaining_s(now))
        entries.sort(key=lambda e: (-e.alarm.priority.rank, e.alarm.acknowledged, e.alarm.raised_at))
        self._show(entries, paused)
