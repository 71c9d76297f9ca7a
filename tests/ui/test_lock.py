"""The automatic lock on the real main window: idle time from the injected clock, input through the
application's event filter, patient identifiers gone, alarms still shown and sounding, a badge alone
acknowledging an alarm, the PIN unlocking."""

from __future__ import annotations

from dataclasses import replace

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QLabel, QWidget
from pytestqt.qtbot import QtBot

from app.accounts.store import STREAM
from app.chairs import FloorController
from app.domain.clock import ManualClock
from app.domain.commands import GivePremedication, RecordScreening, RecordVitals, StartInfusion
from app.floor import Floor
from app.station.sound import station_sounding
from app.ui.main_window import MainWindow
from tests.accounts.support import PIN, station_accounts, type_into_sign_in
from tests.ui.helpers import check_in_command

pytestmark = pytest.mark.qt_log_ignore("does not support propagateSizeHints")

PATIENT_INITIALS = "QZ"


@pytest.fixture
def window(qtbot: QtBot, floor: Floor, clock: ManualClock) -> MainWindow:
    accounts = station_accounts(floor.journal, "RN-AB")
    controller = FloorController(floor, 2, clock, accounts=accounts)
    window = MainWindow(controller)  # the shipped idle time: 5 minutes
    qtbot.addWidget(window)
    window.resize(1366, 768)
    window.show()
    controller.set_nurse("RN-AB")
    chair = controller.chair(1)
    chair.check_in(replace(check_in_command(chair.name, clock), patient_initials=PATIENT_INITIALS))
    state = chair.state
    assert state is not None and state.protocol is not None
    chair.execute(RecordVitals({"systolic_mmhg": 124, "heart_rate_bpm": 72}))  # baseline
    chair.execute(RecordScreening({i.id: i.acceptable_answer for i in state.protocol.screening}))
    for premed in state.protocol.premedications:
        chair.execute(GivePremedication(premed.drug, premed.suggested_dose, premed.suggested_route))
    clock.advance(minutes=31)
    qtbot.keyClick(window, Qt.Key.Key_Shift)  # the nurse at work: not idle
    chair.execute(StartInfusion())
    window.open_chair(chair.name)
    controller.tick()
    return window


def visible_texts(root: QWidget) -> str:
    return "\n".join(
        label.text() for label in root.findChildren(QLabel) if label.isVisible() and label.text()
    )


def test_idle_locks_and_an_alarm_raised_while_locked_is_shown_and_sounding(
    qtbot: QtBot, window: MainWindow, clock: ManualClock
) -> None:
    floor = window.floor
    chair = floor.chair(1)
    assert PATIENT_INITIALS in visible_texts(window)
    lock = window.screen_lock
    assert lock is not None
    clock.advance(minutes=4)
    qtbot.keyClick(window, Qt.Key.Key_Shift)  # somebody touched the keyboard: the idle time restarts
    clock.advance(minutes=4.9)
    floor.tick()
    assert not lock.locked
    clock.advance(minutes=0.2)
    floor.tick()
    assert lock.locked and floor.nurse == ""
    texts = visible_texts(window)
    assert PATIENT_INITIALS not in texts and "STATION LOCKED" in texts
    assert "Infusing" in texts or "INFUSING" in texts.upper()

    # No one at the station while the step-up falls due and its alarm is raised
    while not chair.active_alarms:
        clock.advance(minutes=1)
        floor.tick()
    alarm = chair.active_alarms[0]
    assert lock.locked
    shown = [row for row in window.alarm_bar.rows if row.isVisible()]
    assert shown and alarm.message in shown[0].message.text()
    assert window.alarm_bar.isVisible()
    assert station_sounding([c.alarm_board for c in floor.chairs], clock.now()) is alarm.priority
    assert PATIENT_INITIALS not in visible_texts(window)
    types = [e.type for e in floor.floor.journal.entries(STREAM)]
    assert types[-2:] == ["station_locked", "signed_out"] or "station_locked" in types


def test_a_badge_alone_acknowledges_and_the_station_stays_locked(
    qtbot: QtBot, window: MainWindow, clock: ManualClock
) -> None:
    floor = window.floor
    chair = floor.chair(1)
    lock = window.screen_lock
    assert lock is not None
    lock.lock()
    while not chair.active_alarms:
        clock.advance(minutes=1)
        floor.tick()
    alarm = chair.active_alarms[0]
    qtbot.keyClicks(lock.screen.badge_entry, "BADGE-RN-AB")
    qtbot.keyClick(lock.screen.badge_entry, Qt.Key.Key_Return)
    assert chair.active_alarms == [] or chair.active_alarms[0].acknowledged
    acked = [e for e in chair.state.events if e.type == "alarm_acknowledged"]  # type: ignore[union-attr]
    assert acked and acked[-1].actor == "RN-AB" and acked[-1].data["alarm_id"] == alarm.id
    assert lock.locked and floor.nurse == "" and "stays locked" in lock.screen.hint.text()
    assert chair.alarm_board.sounding(clock.now()) is None


def test_the_pin_unlocks(qtbot: QtBot, window: MainWindow) -> None:
    lock = window.screen_lock
    assert lock is not None
    lock.lock()
    QTimer.singleShot(0, lambda: type_into_sign_in(qtbot, "BADGE-RN-AB", PIN))
    with qtbot.waitSignal(lock.locked_changed, timeout=30000):
        qtbot.mouseClick(lock.screen.unlock_button, Qt.MouseButton.LeftButton)
    assert not lock.locked and window.floor.nurse == "RN-AB"
    assert PATIENT_INITIALS in visible_texts(window)
    types = [e.type for e in window.floor.floor.journal.entries(STREAM)]
    assert types[-2:] == ["station_unlocked", "signed_in"] or types[-2:] == ["signed_in", "station_unlocked"]


@pytest.mark.parametrize("chairs", [5, 12, 48])
def test_the_lock_screen_shows_no_patient_initials_in_any_layout(
    qtbot: QtBot, floor: Floor, clock: ManualClock, chairs: int
) -> None:
    """Big tiles up to 8 chairs, compact tiles beyond: locked, neither shows who sits in a chair."""
    accounts = station_accounts(floor.journal, "RN-AB")
    controller = FloorController(floor, chairs, clock, accounts=accounts)
    window = MainWindow(controller)
    qtbot.addWidget(window)
    window.resize(1920, 1080)
    window.show()
    controller.set_nurse("RN-AB")
    initials = ["QZ", "XW", "VK"]
    for n, patient in zip((1, 2, chairs), initials, strict=True):
        chair = controller.chair(n)
        chair.check_in(replace(check_in_command(chair.name, clock), patient_initials=patient))
    controller.tick()
    texts = visible_texts(window)
    assert all(patient in texts for patient in initials), "the unlocked station shows who sits where"
    lock = window.screen_lock
    assert lock is not None
    clock.advance(minutes=5.1)
    controller.tick()
    assert lock.locked
    qtbot.waitUntil(lambda: lock.screen.isVisible())
    texts = visible_texts(window)
    assert "STATION LOCKED" in texts and "Chair 1" in texts
    assert not [patient for patient in initials if patient in texts], texts
