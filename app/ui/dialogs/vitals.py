"""Vital signs. Plausibility is the domain's: an implausible value is refused with its message."""

from __future__ import annotations

from PySide6.QtWidgets import QFormLayout, QLineEdit, QWidget

from app.chairs import ChairController
from app.domain.commands import Command, Override, RecordVitals
from app.domain.vitals import VITAL_SIGN_NAMES
from app.ui.dialogs.common import CommandDialog, FormError


class VitalsForm(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        form = QFormLayout(self)
        self.fields: dict[str, QLineEdit] = {}
        for key, label in VITAL_SIGN_NAMES.items():
            edit = QLineEdit()
            edit.setMaximumWidth(160)
            self.fields[key] = edit
            form.addRow(label, edit)

    def set_values(self, **values: float) -> None:
        for key, value in values.items():
            self.fields[key].setText(f"{value:g}")

    def values(self) -> dict[str, float | None]:
        result: dict[str, float | None] = {}
        for key, edit in self.fields.items():
            text = edit.text().strip().replace(",", ".")
            if not text:
                result[key] = None
                continue
            try:
                result[key] = float(text)
            except ValueError:
                raise FormError(f"{VITAL_SIGN_NAMES[key]}: {text!r} is not a number") from None
        return result


class VitalsDialog(CommandDialog):
    title = "Vital signs"

    def __init__(self, chair: ChairController, parent: QWidget | None = None) -> None:
        super().__init__(chair, parent)
        form = QFormLayout(self.form_area)
        self.vitals = VitalsForm()
        form.addRow(self.vitals)

    def build_commands(self, override: Override | None) -> list[Command]:
        return [RecordVitals(self.vitals.values())]
