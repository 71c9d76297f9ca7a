"""The station's automatic lock: after the idle time the person signed in is signed out and a lock
screen replaces whatever was shown. It keeps every chair's phase, countdown and alarm (the alarm bar
and the sound are not touched: a locked screen never hides an alarm) and hides patient identifiers.

A badge scan alone acknowledges the top alarm as that person and the station stays locked; unlocking
takes the badge or ID and the PIN. Idle means no keyboard, mouse, wheel or touch input anywhere in the
application (an event filter on QApplication); time comes from the injected clock.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QModelIndex, QObject, QPersistentModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.accounts.authority import NotPermitted
from app.accounts.idle import DEFAULT_IDLE_LOCK_MIN, IdleTimer
from app.accounts.store import AccountError
from app.domain.clock import Clock
from app.domain.decide import CommandRefused
from app.domain.events import EventType
from app.ui.overview import ChairTableModel, Column, OverviewWidget, TileViewRole
from app.ui.signin import SignInDialog

if TYPE_CHECKING:
    from app.chairs import FloorController

log = logging.getLogger(__name__)

_INPUT_EVENTS = {
    QEvent.Type.KeyPress,
    QEvent.Type.MouseButtonPress,
    QEvent.Type.MouseMove,
    QEvent.Type.Wheel,
    QEvent.Type.TouchBegin,
}


class DeidentifiedChairModel(ChairTableModel):
    """The overview without who sits in the chair: phases, countdowns and alarms only."""

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if (
            index.isValid()
            and index.column() == Column.PATIENT
            and role
            in (
                Qt.ItemDataRole.DisplayRole,
                Qt.ItemDataRole.ToolTipRole,
            )
        ):
            return ""
        if role == TileViewRole:  # the compact tiles (more than 8 chairs): the same, without initials
            view = super().data(index, role)
            return dataclasses.replace(view, initials="") if view is not None else None
        return super().data(index, role)


class LockScreen(QWidget):
    badge_scanned = Signal(str)
    unlock_requested = Signal()

    def __init__(self, floor: FloorController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("lockScreen")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        banner = QWidget()
        banner.setObjectName("lockBanner")
        banner.setStyleSheet("#lockBanner { background: #1f2a44; } #lockBanner QLabel { color: white; }")
        head = QHBoxLayout(banner)
        head.setContentsMargins(12, 8, 12, 8)
        title = QLabel("STATION LOCKED")
        title.setObjectName("lockTitle")
        title.setStyleSheet("font-size: 22pt; font-weight: bold;")
        self.hint = QLabel("Scan your badge to acknowledge an alarm. To unlock: badge or ID, then PIN.")
        self.hint.setObjectName("lockHint")
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("font-size: 14pt;")
        self.badge_entry = QLineEdit()
        self.badge_entry.setEchoMode(QLineEdit.EchoMode.Password)  # a scanned code is never shown
        self.badge_entry.setPlaceholderText("scan badge")
        self.badge_entry.setMaximumWidth(220)
        self.badge_entry.returnPressed.connect(self._scanned)
        self.unlock_button = QPushButton("Unlock…")
        self.unlock_button.setObjectName("primaryButton")
        self.unlock_button.clicked.connect(self.unlock_requested)
        head.addWidget(title)
        head.addWidget(self.hint, 1)
        head.addWidget(self.badge_entry)
        head.addWidget(self.unlock_button)
        layout.addWidget(banner)
        self.model = DeidentifiedChairModel(floor)
        self.overview = OverviewWidget(self.model)
        layout.addWidget(self.overview, 1)

    def _scanned(self) -> None:
        code = self.badge_entry.text()
        self.badge_entry.clear()
        if code.strip():
            self.badge_scanned.emit(code)


class ScreenLock(QObject):
    """Watches for idle time and locks `window` (a MainWindow); unlocks through the PIN."""

    locked_changed = Signal(bool)

    def __init__(
        self,
        window: Any,
        idle_lock_min: float = DEFAULT_IDLE_LOCK_MIN,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(window)
        self.window = window
        self.floor: FloorController = window.floor
        self.timer = IdleTimer(clock or self.floor.clock, idle_lock_min)
        self.locked = False
        self.screen = LockScreen(self.floor)
        self.screen.badge_scanned.connect(self.badge_scanned)
        self.screen.unlock_requested.connect(self.ask_unlock)
        window.stack.addWidget(self.screen)
        self._before: QWidget | None = None
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)
        self.floor.ticked.connect(self._tick)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in _INPUT_EVENTS:
            self.timer.input()
        return False

    def _tick(self, now: Any) -> None:
        if not self.locked and self.timer.due(now if now is not None else None):
            self.lock("idle")

    def lock(self, reason: str = "idle") -> None:
        if self.locked:
            return
        self.locked = True
        for widget in QApplication.topLevelWidgets():  # an open form may show a patient's details
            if isinstance(widget, QDialog) and widget.isVisible():
                widget.reject()
        account = self.floor.signed_in
        accounts = self.floor.accounts
        if accounts is not None:
            who = account.id if account is not None else "station"
            accounts.record(EventType.STATION_LOCKED, who, {"account": who, "reason": reason})
        if account is not None:
            self.floor.sign_out()  # the lock ends the session
        self._before = self.window.stack.currentWidget()
        self.window.stack.setCurrentWidget(self.screen)
        self.window.menuBar().setEnabled(False)
        self.window.home_button.setEnabled(False)
        self.window.nurse_bar.setEnabled(False)  # signing in here is unlocking: the lock screen's button
        self.screen.badge_entry.setFocus()
        self.locked_changed.emit(True)

    def unlock(self, account: Any) -> None:
        accounts = self.floor.accounts
        if accounts is not None:
            accounts.record(EventType.STATION_UNLOCKED, account.id, {"account": account.id})
        self.locked = False
        self.timer.input()
        self.floor.sign_in(account)
        self.window.stack.setCurrentWidget(self.window.overview)
        self.window.menuBar().setEnabled(True)
        self.window.home_button.setEnabled(True)
        self.window.nurse_bar.setEnabled(True)
        self.locked_changed.emit(False)

    def ask_unlock(self, prefill_id: str = "") -> None:
        accounts = self.floor.accounts
        if accounts is None:
            return
        dialog = SignInDialog(
            accounts, self.window, heading="Unlock the station", purpose="unlock", prefill_id=prefill_id
        )
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.account is not None:
            self.unlock(dialog.account)

    def badge_scanned(self, code: str) -> str:
        """A badge alone: acknowledge the top unacknowledged alarm as its holder; the station stays
        locked. With no alarm waiting, the holder is asked for the PIN to unlock. Returns what was said."""
        accounts = self.floor.accounts
        if accounts is None:
            return ""
        try:
            account = accounts.badge_only(code, purpose="acknowledge alarm")
        except AccountError as refused:
            return self._say(f"⚠ {refused}")
        waiting = [
            (alarm.priority.rank, alarm.raised_at, chair, alarm)
            for chair in self.floor.chairs
            for alarm in chair.active_alarms
            if not alarm.acknowledged
        ]
        if not waiting:
            self.ask_unlock(account.id)
            return self._say("")
        _rank, _raised, chair, alarm = min(waiting, key=lambda w: (-w[0], w[1]))
        try:
            with self.floor.acting_as(account):
                chair.acknowledge(alarm.id)
        except NotPermitted as refused:
            return self._say(f"⚠ Not acknowledged: {refused}")
        except CommandRefused as refused:
            return self._say(f"⚠ Not acknowledged: {refused}")
        return self._say(f"{chair.name}: alarm acknowledged by {account.id}. The station stays locked.")

    def _say(self, text: str) -> str:
        base = "Scan your badge to acknowledge an alarm. To unlock: badge or ID, then PIN."
        self.screen.hint.setText(f"{text}\n{base}" if text else base)
        return text
