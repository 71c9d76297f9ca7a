"""Signing in at the real main window: badge and PIN, ID and PIN, the lock-out, a co-signed entry and
the first start of a station without an administrator. Real widgets offscreen, a real SQLite file."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QLabel
from pytestqt.qtbot import QtBot

from app.accounts.store import STREAM
from app.chairs import FloorController
from app.domain.clock import ManualClock
from app.domain.commands import Discontinue
from app.floor import Floor
from app.store.journal import Journal
from app.ui.main_window import MainWindow
from app.ui.signin import FirstAdministratorDialog, SignInDialog, with_cosign
from tests.accounts.support import PIN, sign_in_at, station_accounts
from tests.ui.helpers import check_in_command

pytestmark = pytest.mark.qt_log_ignore("does not support propagateSizeHints")


@pytest.fixture
def window(qtbot: QtBot, floor: Floor, clock: ManualClock) -> MainWindow:
    accounts = station_accounts(floor.journal, "RN-AB")
    accounts.add("CN-EF", "Eve Fox", "charge", PIN, badge="BADGE-CN-EF", by="test")
    controller = FloorController(floor, 2, clock, accounts=accounts)
    window = MainWindow(controller)
    qtbot.addWidget(window)
    window.resize(1366, 768)
    window.show()
    return window


def test_there_is_no_initials_box_only_sign_in(window: MainWindow) -> None:
    assert not hasattr(window.nurse_bar, "entry")
    assert window.nurse_bar.label.text() == "⚠ Nobody signed in"
    assert window.nurse_bar.sign_in_button.isVisible()


@pytest.mark.parametrize("identifier", ["BADGE-RN-AB", "rn-ab"])
def test_badge_or_id_then_pin(qtbot: QtBot, window: MainWindow, identifier: str) -> None:
    sign_in_at(qtbot, window.floor, window.nurse_bar.sign_in_button, identifier)
    assert window.floor.nurse == "RN-AB"
    assert window.nurse_bar.label.text() == "Nurse: RN-AB (nurse)"
    (entry,) = [e for e in window.floor.floor.journal.entries(STREAM) if e.type == "signed_in"]
    assert entry.actor == "RN-AB" and "BADGE" not in entry.payload_text and PIN not in entry.payload_text
    qtbot.mouseClick(window.nurse_bar.sign_out_button, Qt.MouseButton.LeftButton)
    assert window.floor.nurse == ""
    assert [e.type for e in window.floor.floor.journal.entries(STREAM)][-1] == "signed_out"


def test_five_wrong_pins_lock_the_account_in_the_dialog(qtbot: QtBot, window: MainWindow) -> None:
    accounts = window.floor.accounts
    assert accounts is not None
    dialog = SignInDialog(accounts, window)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.id_entry, "BADGE-RN-AB")
    qtbot.keyClick(dialog.id_entry, Qt.Key.Key_Return)
    assert dialog.id_entry.text() == "RN-AB", "the scanned code is replaced by the ID"
    for _ in range(5):
        qtbot.keyClicks(dialog.pin_entry, "000000")
        qtbot.keyClick(dialog.pin_entry, Qt.Key.Key_Return)
        assert dialog.pin_entry.text() == ""
        qtbot.waitUntil(lambda: not dialog.busy, timeout=30000)  # checked on a worker thread
    assert "now locked for 5 minutes" in dialog.problem.text()
    qtbot.keyClicks(dialog.pin_entry, PIN)
    qtbot.keyClick(dialog.pin_entry, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not dialog.busy, timeout=30000)
    assert "is locked" in dialog.problem.text() and dialog.account is None and dialog.isVisible()
    types = [e.type for e in accounts.journal.entries(STREAM)]
    assert types.count("sign_in_failed") == 6 and types.count("account_locked") == 1


def test_a_charge_nurse_co_signs_there_and_then(qtbot: QtBot, window: MainWindow, clock: ManualClock) -> None:
    floor = window.floor
    floor.set_nurse("RN-AB")
    chair = floor.chair(1)
    chair.check_in(check_in_command(chair.name, clock))

    def charge_nurse_signs() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, SignInDialog)
        assert "RN-AB (nurse) may not discontinue a protocol alone" in dialog.explanation.text()
        qtbot.keyClicks(dialog.id_entry, "BADGE-CN-EF")
        qtbot.keyClick(dialog.id_entry, Qt.Key.Key_Return)
        qtbot.keyClicks(dialog.pin_entry, PIN)
        qtbot.keyClick(dialog.pin_entry, Qt.Key.Key_Return)

    QTimer.singleShot(0, charge_nurse_signs)
    with_cosign(window, floor, lambda c: chair.execute(Discontinue("patient declined"), c))
    last = list(floor.floor.journal.entries())[-1]
    assert (last.type, last.actor, last.payload["cosigned_by"]) == ("discontinued", "RN-AB", "CN-EF")


def test_first_start_creates_the_administrator(qtbot: QtBot, floor: Floor) -> None:
    accounts = station_accounts(floor.journal)
    assert not accounts.has_admin()
    dialog = FirstAdministratorDialog(accounts)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.id_entry, "ADM-1")
    qtbot.keyClicks(dialog.name_entry, "Ann Admin")
    qtbot.keyClicks(dialog.pin_entry, "123")
    qtbot.keyClicks(dialog.pin_again, "123")
    qtbot.mouseClick(dialog.create_button, Qt.MouseButton.LeftButton)
    assert "at least 6 digits" in dialog.problem.text() and not accounts.has_admin()
    qtbot.keyClicks(dialog.pin_entry, "736251")
    qtbot.keyClicks(dialog.pin_again, "736251")
    qtbot.mouseClick(dialog.create_button, Qt.MouseButton.LeftButton)
    assert accounts.has_admin() and accounts.require("ADM-1").role.key == "admin"
    assert [e.actor for e in accounts.journal.entries(STREAM)] == ["first start"]


def test_the_pin_check_leaves_the_screen_live(qtbot: QtBot, journal: Journal) -> None:
    """With the real PIN cost (scrypt, about half a second) the event loop keeps running during the
    check: a 10 ms timer keeps firing. On the GUI thread it could not fire until the check was done."""
    from app.accounts.settings import AccountSettings
    from app.accounts.store import AccountStore

    accounts = AccountStore(journal, AccountSettings.load())
    accounts.add("RN-AB", "Alice Brown", "nurse", PIN, by="admin")
    dialog = SignInDialog(accounts)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.id_entry, "RN-AB")
    qtbot.keyClick(dialog.id_entry, Qt.Key.Key_Return)
    ticks: list[int] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(1) if dialog.busy else None)
    timer.start()
    qtbot.keyClicks(dialog.pin_entry, PIN)
    qtbot.keyClick(dialog.pin_entry, Qt.Key.Key_Return)
    assert dialog.busy and not dialog.pin_entry.isEnabled()
    qtbot.waitUntil(lambda: not dialog.busy, timeout=30000)
    timer.stop()
    assert dialog.account is not None and dialog.account.id == "RN-AB"
    assert len(ticks) >= 3, ticks  # the screen was live while the PIN was checked


@pytest.mark.parametrize(
    "heading", ["Sign in", "A second nurse co-signs the release", "A charge nurse must sign"]
)
def test_the_heading_is_read_whole_at_the_dialogs_width(qtbot: QtBot, journal: Journal, heading: str) -> None:
    """The co-signing headings are longer than the dialog is wide: they wrap, never cut off."""
    from app.accounts.settings import AccountSettings
    from app.accounts.store import AccountStore

    dialog = SignInDialog(AccountStore(journal, AccountSettings.load()), heading=heading)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    title = dialog.findChild(QLabel, "signInHeading")
    assert title is not None and title.text() == heading
    assert title.minimumSizeHint().width() <= title.width()  # no line wider than the label
    assert title.height() >= title.heightForWidth(title.width())  # and every line shown
