"""Signing in at the station: a badge scan (the scanner types the code and Enter) or the ID, then the PIN.

The same dialog asks a charge nurse to co-sign an action a nurse may not do alone, and, on a station
without an administrator, walks through creating one. A PIN or badge code is never shown or logged:
once the badge has been recognised, the field shows the account ID instead of the scanned code.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.accounts.authority import NotPermitted
from app.accounts.roles import Role
from app.accounts.store import Account, AccountError, AccountStore, PinCheck

if TYPE_CHECKING:
    from app.chairs import FloorController

T = TypeVar("T")


class SignInDialog(QDialog):
    """The PIN's slow hash is checked on a worker thread (half a second of scrypt): the screen, the
    alarms and their sound stay live meanwhile; the journal is written back on this thread."""

    pin_checked = Signal(object, bool)  # (PinCheck, the PIN matched), from the worker thread

    def __init__(
        self,
        accounts: AccountStore,
        parent: QWidget | None = None,
        *,
        heading: str = "Sign in",
        explanation: str = "Scan your badge, or type your ID and press Enter. Then type your PIN.",
        purpose: str = "sign-in",
        prefill_id: str = "",
    ) -> None:
        super().__init__(parent)
        self.accounts = accounts
        self.purpose = purpose
        self.account: Account | None = None
        self._identifier = ""
        self.busy = False  # a PIN is being checked
        self.pin_checked.connect(self._pin_checked)
        self.setWindowTitle(f"Chairside: {heading.lower()}")
        self.setMinimumWidth(560)
        outer = QVBoxLayout(self)
        title = QLabel(heading)
        title.setObjectName("signInHeading")
        title.setStyleSheet("font-size: 20pt; font-weight: bold;")
        title.setWordWrap(True)  # a co-signing heading is wider than the dialog: a second line, never cut
        outer.addWidget(title)
        self.explanation = QLabel(explanation)
        self.explanation.setWordWrap(True)
        self.explanation.setStyleSheet("font-size: 13pt;")
        outer.addWidget(self.explanation)
        form = QFormLayout()
        self.id_entry = QLineEdit(prefill_id)
        self.id_entry.setPlaceholderText("badge scan or ID, Enter")
        self.id_entry.returnPressed.connect(self.identify)
        self.pin_entry = QLineEdit()
        self.pin_entry.setEchoMode(QLineEdit.EchoMode.Password)
        self.pin_entry.setPlaceholderText("PIN (6 digits or more), Enter")
        self.pin_entry.returnPressed.connect(self.submit)
        for entry in (self.id_entry, self.pin_entry):
            entry.setStyleSheet("font-size: 16pt; padding: 4px;")
            entry.setMinimumHeight(entry.fontMetrics().height() * 2 + 12)
        form.addRow("Badge or ID", self.id_entry)
        form.addRow("PIN", self.pin_entry)
        outer.addLayout(form)
        self.who = QLabel("")
        self.who.setObjectName("signInWho")
        self.who.setStyleSheet("font-size: 14pt;")
        outer.addWidget(self.who)
        self.problem = QLabel("")
        self.problem.setObjectName("signInProblem")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #b00020; font-size: 14pt; font-weight: bold;")
        outer.addWidget(self.problem)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.reject)
        self.sign_in_button = QPushButton("Sign in")
        self.sign_in_button.setObjectName("primaryButton")
        self.sign_in_button.clicked.connect(self.submit)
        for button in (self.cancel_button, self.sign_in_button):
            button.setAutoDefault(False)  # Enter belongs to the fields (a scanner ends with Enter)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.sign_in_button)
        outer.addLayout(buttons)
        self.id_entry.setFocus()

    def identify(self) -> None:
        text = self.id_entry.text().strip()
        if not text:
            return
        account = self.accounts.identify(text)
        self._identifier = account.id if account is not None else text
        if account is not None:
            self.id_entry.setText(account.id)  # never leave a scanned badge code on the screen
            self.who.setText(f"{account.name}, {account.role.label}")
        else:
            self.who.setText("")
        self.problem.setText("")
        self.pin_entry.setFocus()

    def submit(self) -> None:
        if not self._identifier or self.id_entry.text().strip() != self._identifier:
            self.identify()
        pin = self.pin_entry.text()
        self.pin_entry.clear()
        if not self._identifier:
            self.problem.setText("Scan your badge or type your ID first.")
            self.id_entry.setFocus()
            return
        if self.busy:
            return
        try:
            check = self.accounts.prepare_sign_in(self._identifier)
        except AccountError as refused:
            self.problem.setText(f"⚠ {refused}")
            self.pin_entry.setFocus()
            return
        self._set_busy(True)
        threading.Thread(target=self._check_pin, args=(check, pin), name="PIN check", daemon=True).start()

    def _check_pin(self, check: PinCheck, pin: str) -> None:
        """On the worker thread: only the hash; the answer goes back as a queued signal."""
        matched = check.verify(pin)
        with contextlib.suppress(RuntimeError):  # the dialog was closed meanwhile: nobody to tell
            self.pin_checked.emit(check, matched)

    def _pin_checked(self, check: PinCheck, matched: bool) -> None:
        self._set_busy(False)
        try:
            self.account = self.accounts.finish_sign_in(check, matched, purpose=self.purpose)
        except AccountError as refused:
            self.problem.setText(f"⚠ {refused}")
            self.pin_entry.setFocus()
            return
        self.accept()

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        for widget in (self.id_entry, self.pin_entry, self.sign_in_button):
            widget.setEnabled(not busy)
        if busy:
            self.problem.setText("Checking the PIN…")


def ask_signer(
    parent: QWidget | None,
    accounts: AccountStore,
    *,
    heading: str,
    explanation: str,
    refusal: Callable[[Account], str | None],
    purpose: str = "co-sign",
) -> Account | None:
    """A second person signs in there and then (badge or ID, then PIN: the same dialog, lock-out and
    PIN check off the GUI thread as any sign-in) to sign for an entry. `refusal` says in one line why
    the one who signed in may not (None: they may); the dialog stays open for someone who may.
    None: cancelled."""
    dialog = SignInDialog(accounts, parent, heading=heading, explanation=explanation, purpose=purpose)
    while dialog.exec() == QDialog.DialogCode.Accepted and dialog.account is not None:
        refused = refusal(dialog.account)
        if refused is None:
            return dialog.account
        dialog.problem.setText(f"⚠ {refused}")
        dialog.account = None
        dialog.id_entry.clear()  # ready for the next badge scan
        dialog.who.clear()
        dialog.id_entry.setFocus()
    return None


def ask_cosigner(parent: QWidget | None, accounts: AccountStore, refused: NotPermitted) -> Account | None:
    """The refusal, and the option of someone with the role signing for it there and then."""

    def may_not(account: Account) -> str | None:
        if account.role >= refused.needed and refused.who is not None and account.id != refused.who.id:
            return None
        return f"{account.id} is not a {refused.needed.label}: ask one to sign."

    return ask_signer(
        parent,
        accounts,
        heading=f"A {refused.needed.label} must sign",
        explanation=f"{refused}.\n\nA {refused.needed.label} can sign for it now with their badge or ID "
        "and PIN; the entry will carry both names.",
        refusal=may_not,
    )


class FirstAdministratorDialog(QDialog):
    """A station with no administrator: create one before anything else."""

    def __init__(self, accounts: AccountStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.accounts = accounts
        self.account: Account | None = None
        self.setWindowTitle("Chairside: first start")
        outer = QVBoxLayout(self)
        title = QLabel("This station has no administrator yet")
        title.setStyleSheet("font-size: 18pt; font-weight: bold;")
        outer.addWidget(title)
        text = QLabel(
            "Create the administrator's account. The administrator adds the nurses and charge nurses "
            "(here or with `chairside users add`)."
        )
        text.setWordWrap(True)
        outer.addWidget(text)
        form = QFormLayout()
        self.id_entry = QLineEdit()
        self.name_entry = QLineEdit()
        self.badge_entry = QLineEdit()
        self.badge_entry.setEchoMode(QLineEdit.EchoMode.Password)
        self.pin_entry = QLineEdit()
        self.pin_again = QLineEdit()
        for entry in (self.pin_entry, self.pin_again):
            entry.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow("ID", self.id_entry)
        form.addRow("Full name", self.name_entry)
        form.addRow("Badge (scan, optional)", self.badge_entry)
        form.addRow("PIN", self.pin_entry)
        form.addRow("PIN again", self.pin_again)
        outer.addLayout(form)
        self.problem = QLabel("")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #b00020; font-weight: bold;")
        outer.addWidget(self.problem)
        self.create_button = QPushButton("Create administrator")
        self.create_button.setObjectName("primaryButton")
        self.create_button.clicked.connect(self.create_administrator)
        outer.addWidget(self.create_button, 0, Qt.AlignmentFlag.AlignRight)

    def create_administrator(self) -> None:
        if self.pin_entry.text() != self.pin_again.text():
            self.problem.setText("⚠ The two PINs differ.")
            return
        try:
            self.account = self.accounts.add(
                self.id_entry.text(),
                self.name_entry.text(),
                Role.ADMIN,
                self.pin_entry.text(),
                self.badge_entry.text() or None,
                by="first start",
            )
        except AccountError as refused:
            self.problem.setText(f"⚠ {refused}")
            return
        finally:
            self.pin_entry.clear()
            self.pin_again.clear()
        self.accept()


def with_cosign(parent: QWidget | None, floor: FloorController, attempt: Callable[[Account | None], T]) -> T:
    """`attempt` as the person signed in; refused for their role, the option of a co-signer there and
    then (a two-person sign-off). Without one, the refusal goes on to the caller, which shows it."""
    try:
        return attempt(None)
    except NotPermitted as refused:
        if floor.accounts is None or refused.who is None:
            raise
        cosigner = ask_cosigner(parent, floor.accounts, refused)
        if cosigner is None:
            raise
        return attempt(cosigner)
