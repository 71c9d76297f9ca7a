"""Shared by the accounts tests and the UI tests that sign in through the real dialog."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.accounts.settings import AccountSettings, ScryptCost
from app.accounts.store import AccountStore
from app.chairs import FloorController
from app.store.journal import Journal

# Real scrypt at a lower cost than the shipped policy, so a test signs in in milliseconds
FAST = replace(AccountSettings.load(), pin_cost=ScryptCost(2**10, 8, 1))
PIN = "482913"


def station_accounts(journal: Journal, *nurses: str) -> AccountStore:
    store = AccountStore(journal, FAST)
    for account_id in nurses:
        store.add(account_id, f"Nurse {account_id}", "nurse", PIN, badge=f"BADGE-{account_id}", by="test")
    return store


def type_into_sign_in(qtbot: QtBot, identifier: str, pin: str) -> None:
    """What the nurse does in the open sign-in dialog: badge scan or ID + Enter, then PIN + Enter."""
    from app.ui.signin import SignInDialog

    dialog = QApplication.activeModalWidget()
    assert isinstance(dialog, SignInDialog), dialog
    try:
        qtbot.keyClicks(dialog.id_entry, identifier)
        qtbot.keyClick(dialog.id_entry, Qt.Key.Key_Return)
        qtbot.keyClicks(dialog.pin_entry, pin)
        qtbot.keyClick(dialog.pin_entry, Qt.Key.Key_Return)
        qtbot.waitUntil(lambda: not dialog.busy, timeout=30000)  # the PIN is checked on a worker thread
    finally:
        if dialog.isVisible():
            dialog.reject()  # never leave a modal dialog waiting for a test that has failed


def sign_in_at(
    qtbot: QtBot, controller: FloorController, button: object, identifier: str, pin: str = PIN
) -> None:
    """Click the station's sign-in button and sign in as `identifier`."""
    QTimer.singleShot(0, lambda: type_into_sign_in(qtbot, identifier, pin))
    with qtbot.waitSignal(controller.nurse_changed, timeout=30000):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)  # type: ignore[arg-type]
