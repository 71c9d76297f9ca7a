"""Who is responsible for the chair's patient: assign a nurse, or hand the patient over (shift change,
break). Both are entries in the record; entries the pump documents name this nurse as responsible."""

from __future__ import annotations

from PySide6.QtWidgets import QFormLayout, QLabel, QLineEdit, QWidget

from app.chairs import ChairController
from app.domain.commands import AssignNurse, Command, HandOver, Override
from app.ui.dialogs.common import CommandDialog, FormError


class HandOverDialog(CommandDialog):
    title = "Hand over the patient"
    save_text = "Hand over"

    def __init__(self, chair: ChairController, parent: QWidget | None = None) -> None:
        super().__init__(chair, parent)
        state = chair.state
        assert state is not None
        form = QFormLayout(self.form_area)
        form.addRow("Responsible now", QLabel(state.assigned_nurse or "nobody assigned"))
        self.to_nurse = QLineEdit()
        self.to_nurse.setPlaceholderText("initials or badge of the nurse taking over")
        form.addRow("Hand over to", self.to_nurse)
        self.notes = QLineEdit()
        self.notes.setPlaceholderText("what the next nurse must know")
        form.addRow("Notes", self.notes)

    def build_commands(self, override: Override | None) -> list[Command]:
        to = self.to_nurse.text().strip().upper()
        if not to:
            raise FormError("Name the nurse taking over")
        return [HandOver(to, self.notes.text().strip())]


class AssignNurseDialog(CommandDialog):
    title = "Assign the responsible nurse"
    save_text = "Assign"

    def __init__(self, chair: ChairController, parent: QWidget | None = None) -> None:
        super().__init__(chair, parent)
        state = chair.state
        assert state is not None
        form = QFormLayout(self.form_area)
        form.addRow("Responsible now", QLabel(state.assigned_nurse or "nobody assigned"))
        self.nurse = QLineEdit(chair.floor.nurse)
        form.addRow("Assign", self.nurse)

    def build_commands(self, override: Override | None) -> list[Command]:
        nurse = self.nurse.text().strip().upper()
        if not nurse:
            raise FormError("Name the nurse (initials or badge)")
        return [AssignNurse(nurse)]
