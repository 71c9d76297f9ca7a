"""The station's main window: who is at the station, the floor's overview, and one chair at a time."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QCloseEvent, QResizeEvent
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QLayout,
    QMainWindow,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.accounts.authority import NotPermitted
from app.accounts.idle import DEFAULT_IDLE_LOCK_MIN
from app.accounts.roles import Action
from app.accounts.store import Account
from app.chairs import FloorController
from app.domain.clock import Clock
from app.station.config import load_hl7_settings
from app.ui.alarm_bar import AlarmBar
from app.ui.chair_view import ChairView
from app.ui.dialogs.pumps import open_pumps_dialog
from app.ui.export_dialog import open_export_dialog
from app.ui.lock import ScreenLock
from app.ui.overview import ChairTableModel, OverviewWidget
from app.ui.signin import SignInDialog, with_cosign

log = logging.getLogger(__name__)

# Below this window height (a 1366x768 station) the alarm bar goes to one line per alarm, two rows
COMPACT_BELOW_HEIGHT_PX = 900


class NurseBar(QWidget):
    """Who is at the station: the signed-in account signs every entry. Sign in (badge or ID, then PIN)
    or sign out; signing in as someone else is how nurses switch."""

    def __init__(self, floor: FloorController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._floor = floor
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel()
        self.label.setObjectName("nurseLabel")
        self.sign_in_button = QPushButton("Sign in…")
        self.sign_in_button.clicked.connect(self.sign_in)
        self.sign_out_button = QPushButton("Sign out")
        self.sign_out_button.clicked.connect(floor.sign_out)
        layout.addWidget(self.label)
        layout.addWidget(self.sign_in_button)
        layout.addWidget(self.sign_out_button)
        self.sign_in_button.setVisible(floor.accounts is not None)
        floor.nurse_changed.connect(self._show)
        self._show(floor.nurse)

    def sign_in(self) -> Account | None:
        if self._floor.accounts is None:
            return None
        dialog = SignInDialog(self._floor.accounts, self.window())
        if dialog.exec() != QDialog.DialogCode.Accepted or dialog.account is None:
            return None
        self._floor.sign_in(dialog.account)
        return dialog.account

    def _show(self, nurse: str) -> None:
        account = self._floor.signed_in
        self.sign_out_button.setVisible(bool(nurse) and self._floor.accounts is not None)
        if account is not None:
            self.label.setText(f"Nurse: {account.id} ({account.role.label})")
            self.label.setStyleSheet("")
        elif nurse:
            self.label.setText(f"Nurse: {nurse}")
            self.label.setStyleSheet("")
        else:
            self.label.setText("⚠ Nobody signed in")
            self.label.setStyleSheet("color:#b00020;")


class MainWindow(QMainWindow):
    def __init__(
        self,
        floor: FloorController,
        parent: QWidget | None = None,
        *,
        config_path: Path | None = None,
        idle_lock_min: float = DEFAULT_IDLE_LOCK_MIN,
        idle_clock: Clock | None = None,
    ) -> None:
        super().__init__(parent)
        self.floor = floor
        self.config_path = config_path
        """The station configuration file Station > Pumps… edits; None: started without one."""
        self.chair_views: dict[str, ChairView] = {}
        self.setWindowTitle("Chairside")
        central = QWidget()
        layout = QVBoxLayout(central)
        # The station's screen decides the size (1366x768 laptops too): squeeze, never grow past it
        layout.setSizeConstraint(QLayout.SizeConstraint.SetNoConstraint)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(4)

        top = QHBoxLayout()
        self.home_button = QPushButton("Overview")
        self.home_button.clicked.connect(self.show_overview)
        self.clock_label = QLabel()
        self.clock_label.setObjectName("clockLabel")
        self.nurse_bar = NurseBar(floor)
        self.message_label = QLabel()
        self.message_label.setObjectName("floorMessage")
        self.message_label.setWordWrap(True)
        top.addWidget(self.home_button)
        top.addWidget(self.clock_label)
        top.addWidget(self.message_label, 1)
        top.addWidget(self.nurse_bar)
        layout.addLayout(top)

        self.alarm_bar = self._make_alarm_bar()
        layout.addWidget(self.alarm_bar)

        self.stack = QStackedWidget()
        self.model = ChairTableModel(floor)
        self.overview = OverviewWidget(self.model)
        self.overview.chair_activated.connect(self.open_chair)
        self.stack.addWidget(self.overview)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)
        window_layout = self.layout()
        if window_layout is not None:
            window_layout.setSizeConstraint(QLayout.SizeConstraint.SetNoConstraint)

        self._build_menu()
        # The station's services (the HL7 feed) say here what needs someone to see it; hidden otherwise
        self.service_label = QLabel()
        self.service_label.setObjectName("serviceWarning")
        self.service_label.setStyleSheet("color: #6e0f0f; font-weight: bold;")
        self.statusBar().addWidget(self.service_label, 1)
        self.statusBar().setVisible(False)
        floor.ticked.connect(lambda _now: self._update_clock())
        floor.ticked.connect(lambda _now: self._update_service_warnings())
        floor.message.connect(self.show_message)
        self._update_clock()
        # A station with accounts locks itself when nobody touches it (app.ui.lock)
        self.screen_lock = ScreenLock(self, idle_lock_min, idle_clock) if floor.accounts is not None else None

    def _make_alarm_bar(self) -> AlarmBar:
        bar = AlarmBar(self.floor)
        bar.chair_activated.connect(self.open_chair)
        return bar

    def _build_menu(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.export_action = QAction("Export shift log…", self)
        self.export_action.triggered.connect(self.export_shift_log)
        file_menu.addAction(self.export_action)
        file_menu.addSeparator()
        quit_action = QAction("Quit", self)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        view_menu = self.menuBar().addMenu("&View")
        overview_action = QAction("Overview", self)
        overview_action.setShortcut("F1")
        overview_action.triggered.connect(self.show_overview)
        view_menu.addAction(overview_action)
        station_menu = self.menuBar().addMenu("&Station")
        self.pumps_action = QAction("Pumps…", self)
        self.pumps_action.triggered.connect(self.edit_pumps)
        station_menu.addAction(self.pumps_action)

    def edit_pumps(self) -> None:
        """The Pumps dialog is the administrator's (app.accounts.roles.POLICY)."""
        try:
            self.floor.authorize([Action.EDIT_PUMPS])
        except NotPermitted as refused:
            self.show_message(f"Pumps not opened: {refused}")
            return
        open_pumps_dialog(self, self.config_path)

    def export_shift_log(self) -> None:
        try:
            with_cosign(self, self.floor, lambda c: self.floor.authorize([Action.EXPORT], c))
        except NotPermitted as refused:
            self.show_message(f"Not exported: {refused}")
            return
        open_export_dialog(self, self.floor.floor, hl7_settings=lambda: load_hl7_settings(None))

    def _update_clock(self) -> None:
        self.clock_label.setText(self.floor.station.face.hhmm(self.floor.now()))

    def _update_service_warnings(self) -> None:
        text = "   ".join(sorted(self.floor.station.service_warnings.values()))
        if text != self.service_label.text():
            self.service_label.setText(text)
            self.statusBar().setVisible(bool(text))

    def show_message(self, text: str) -> None:
        self.message_label.setText(text)

    def open_chair(self, name: str) -> ChairView:
        view = self.chair_views.get(name)
        if view is None:
            view = ChairView(self.floor.chair(name))
            view.set_compact(self.compact)
            view.back_requested.connect(self.show_overview)
            self.chair_views[name] = view
            self.stack.addWidget(view)
        self.stack.setCurrentWidget(view)
        view.refresh()
        return view

    def show_overview(self) -> None:
        self.stack.setCurrentWidget(self.overview)

    def current_chair_view(self) -> ChairView | None:
        widget = self.stack.currentWidget()
        return widget if isinstance(widget, ChairView) else None

    @property
    def compact(self) -> bool:
        return self.height() < COMPACT_BELOW_HEIGHT_PX

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if hasattr(self, "alarm_bar"):  # Qt may resize before __init__ has built it
            self.alarm_bar.set_compact(self.compact)
        for view in self.chair_views.values():
            view.set_compact(self.compact)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.floor.stop()
        super().closeEvent(event)

    def keyPressEvent(self, event: object) -> None:  # Esc: back to the overview
        from PySide6.QtGui import QKeyEvent

        if isinstance(event, QKeyEvent) and event.key() == Qt.Key.Key_Escape:
            self.show_overview()
            return
        super().keyPressEvent(event)  # type: ignore[arg-type]
