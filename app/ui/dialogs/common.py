"""The base of every recording dialog: build a command, run it, show a refusal and offer an override.

A refused guard shows its reason inside the dialog (no second modal box to chase); if the domain says
an override may pass it, an "Override…" path asks who decides and why, and records both with the entry.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial

from PySide6.QtCore import QDate, QDateTime, QSize, Qt, QTime, QTimeZone, Signal
from PySide6.QtGui import QKeyEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractButton,
    QDateTimeEdit,
    QDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.accounts.store import Account
from app.chairs import ChairController, JournalError
from app.domain.chair import ChairState
from app.domain.clock_face import ClockFace
from app.domain.commands import Command, Override
from app.domain.decide import CommandRefused
from app.ui.signin import with_cosign


class FormError(ValueError):
    """Something in the form the nurse must fix before anything is sent."""


class _FormScroll(QScrollArea):
    """The form scrolls only when the screen is too short for it (a 1366x768 station, with a refusal
    and the override fields shown below it); otherwise it takes its full height."""

    RESERVED_PX = 300  # heading, refusal panel with its override fields, buttons

    def __init__(self) -> None:
        super().__init__()
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)

    def sizeHint(self) -> QSize:
        widget = self.widget()
        if widget is None:
            return super().sizeHint()
        hint = widget.sizeHint()
        screen = self.screen()
        room = screen.availableGeometry().height() - self.RESERVED_PX if screen is not None else hint.height()
        height = max(240, min(hint.height(), room))
        extra = self.verticalScrollBar().sizeHint().width() if height < hint.height() else 0
        return QSize(hint.width() + extra, height)


class CommandDialog(QDialog):
    """Subclasses lay out their form in `self.form_area` and implement `build_commands`."""

    recorded = Signal(object)  # the ChairState after the entry

    title = "Record"
    save_text = "Save"

    def __init__(self, chair: ChairController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.chair = chair
        self.result_state: ChairState | None = None
        self._focus_placed = False
        self.setWindowTitle(f"{chair.name}: {self.title}")
        self.setObjectName("commandDialog")
        self.setMinimumWidth(640)
        outer = QVBoxLayout(self)
        heading = QLabel(f"{self.title}")
        heading.setObjectName("dialogHeading")
        outer.addWidget(heading)
        self.form_area = QWidget()
        self.form_scroll = _FormScroll()
        self.form_scroll.setWidget(self.form_area)
        outer.addWidget(self.form_scroll, 1)

        self.refusal = QFrame()
        self.refusal.setObjectName("refusal")
        refusal_layout = QVBoxLayout(self.refusal)
        self.refusal_label = QLabel()
        self.refusal_label.setObjectName("refusalText")
        self.refusal_label.setWordWrap(True)
        self.refusal_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        refusal_layout.addWidget(self.refusal_label)
        self.override_button = QPushButton("Override…")
        self.override_button.clicked.connect(self.show_override)
        refusal_layout.addWidget(self.override_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.override_box = QWidget()
        override_form = QFormLayout(self.override_box)
        self.override_by = QLineEdit()
        self.override_by.setPlaceholderText("initials of who decides")
        self.override_reason = QLineEdit()
        self.override_reason.setPlaceholderText("why the guard is passed")
        override_form.addRow("Decided by", self.override_by)
        override_form.addRow("Reason", self.override_reason)
        self.override_save = QPushButton("Record with override")
        self.override_save.setObjectName("overrideButton")
        self.override_save.clicked.connect(self.save_with_override)
        override_form.addRow(self.override_save)
        refusal_layout.addWidget(self.override_box)
        outer.addWidget(self.refusal)
        self.refusal.hide()
        self.override_box.hide()

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.reject)
        self.save_button = QPushButton(self.save_text)
        self.save_button.setObjectName("primaryButton")
        # Enter never submits a form: a barcode scanner ends every scan with it (issue 10, point 14).
        # It moves to the next field; only a click (or Enter on a focused button) records.
        for button in (self.cancel_button, self.save_button, self.override_button, self.override_save):
            button.setAutoDefault(False)
            button.setDefault(False)
        self.save_button.clicked.connect(self.save)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.save_button)
        outer.addLayout(buttons)

    def showEvent(self, event: QShowEvent) -> None:
        """Use the screen's height (Qt opens a window at most 2/3 of it): on a 768-pixel station the
        form scrolls only if it must."""
        super().showEvent(event)
        self._fit_height()

    def _fit_height(self) -> None:
        """Grow (never shrink) towards the content's height, within the screen."""
        screen = self.screen()
        if screen is None or not self.isVisible():
            return
        height = min(self.sizeHint().height(), screen.availableGeometry().height() - 60)
        if self.height() < height:
            self.resize(self.width(), height)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            focus = self.focusWidget()
            if self._focus_placed:  # the field's own Enter handler chose where to go next
                self._focus_placed = False
            elif isinstance(focus, QAbstractButton) and focus.isEnabled():
                focus.click()
            else:
                self.focusNextChild()
            event.accept()
            return
        super().keyPressEvent(event)

    def focus_next_on(self, widget: QWidget) -> None:
        """Move on to `widget` from a field's Enter handler (instead of the next field in tab order)."""
        widget.setFocus()
        self._focus_placed = True

    # -- for subclasses ------------------------------------------------------------------------------

    def build_commands(self, override: Override | None) -> list[Command]:
        raise NotImplementedError

    def after_recorded(self, state: ChairState) -> None:
        """Hook: called once every command went in."""

    # -- the flow ------------------------------------------------------------------------------------

    def show_problem(self, text: str, overridable: bool = False) -> None:
        self.refusal_label.setText(text)
        self.refusal.show()
        self.override_button.setVisible(overridable)
        if not overridable:
            self.override_box.hide()
        self._fit_height()

    def show_override(self) -> None:
        self.override_box.show()
        self.override_button.hide()
        self._fit_height()
        if not self.override_by.text():
            self.override_by.setText(self.chair.floor.nurse)
        self.override_reason.setFocus()

    def save(self) -> bool:
        return self._submit(None)

    def save_with_override(self) -> bool:
        try:
            override = Override(self.override_by.text().strip(), self.override_reason.text().strip())
        except ValueError:
            self.show_problem(
                self.refusal_label.text().split("\n\n")[0] + "\n\nAn override needs who decides and why.",
                overridable=True,
            )
            self.override_box.show()
            self.override_button.hide()
            return False
        return self._submit(override)

    def _execute(self, command: Command, cosigner: Account | None) -> ChairState:
        return self.chair.execute(command, cosigner)

    def _submit(self, override: Override | None) -> bool:
        try:
            commands = self.build_commands(override)
        except FormError as problem:
            self.show_problem(f"⚠ {problem}")
            return False
        state: ChairState | None = None
        for index, command in enumerate(commands):
            try:
                state = with_cosign(self, self.chair.floor, partial(self._execute, command))
            except CommandRefused as refused:
                reasons = "\n".join(f"• {f.message}" for f in refused.failures)
                done = f"\n\n{index} of {len(commands)} entries were recorded." if index else ""
                lead = "⚠ Not recorded" if refused.overridable else "⚠ Not possible"
                self.show_problem(f"{lead}:\n{reasons}{done}", overridable=refused.overridable)
                if override is not None and refused.overridable:
                    self.override_box.show()
                    self.override_button.hide()
                return False
            except JournalError as exc:
                self.show_problem(f"⚠ NOT RECORDED: the record cannot be written.\n{exc}")
                return False
        self.result_state = state
        if state is not None:
            self.after_recorded(state)
            self.recorded.emit(state)
        self.accept()
        return True


class WallClockEdit(QDateTimeEdit):
    """A date/time field on the station's clock face: it shows a moment as the display zone's wall
    clock, and what the nurse types is read in that zone (never in this computer's own zone). The
    field itself holds a plain wall-clock time (a UTC date-time in Qt, so this computer's daylight-saving rules
    never shift it); `face` turns it into the instant."""

    def __init__(self, moment: datetime, face: ClockFace) -> None:
        super().__init__()
        self.face = face
        self.setTimeZone(QTimeZone.utc())
        self.setDisplayFormat("dd.MM.yyyy HH:mm")
        self.setCalendarPopup(True)
        self.show_moment(moment)

    def show_moment(self, moment: datetime) -> None:
        wall = self.face.typed(moment)
        self.setDateTime(
            QDateTime(QDate(wall.year, wall.month, wall.day), QTime(wall.hour, wall.minute), QTimeZone.utc())
        )

    def moment(self) -> datetime:
        """The instant the field names, read on the station's clock face (aware, UTC)."""
        shown = self.dateTime()
        day, clock = shown.date(), shown.time()
        return self.face.wall(datetime(day.year(), day.month(), day.day(), clock.hour(), clock.minute()))


def datetime_edit(moment: datetime, face: ClockFace) -> WallClockEdit:
    """A date/time field for an aware datetime, on the station's clock face `face`."""
    return WallClockEdit(moment, face)


def edited_datetime(edit: WallClockEdit) -> datetime:
    return edit.moment()
