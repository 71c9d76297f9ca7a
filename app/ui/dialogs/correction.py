"""Corrections and notes. Nothing is edited or deleted: a correction is a new entry that references
the old one and says why; a note annotates an entry (e.g. why the pump's rate changed)."""

from __future__ import annotations

from PySide6.QtWidgets import QFormLayout, QLabel, QLineEdit, QWidget

from app.chairs import ChairController
from app.domain.chair import correctable_fields, correctable_values
from app.domain.commands import AddNote, Command, Correct, Override
from app.domain.events import Event
from app.ui.dialogs.common import CommandDialog, FormError
from app.ui.timeline import describe


class NoteDialog(CommandDialog):
    title = "Add a note"

    def __init__(
        self, chair: ChairController, target: Event | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(chair, parent)
        self.target = target
        form = QFormLayout(self.form_area)
        if target is not None:
            about = QLabel(describe(target))
            about.setWordWrap(True)
            form.addRow("About", about)
        self.text = QLineEdit()
        self.text.setPlaceholderText("e.g. reduced for the reaction at 10:42")
        form.addRow("Note", self.text)

    def build_commands(self, override: Override | None) -> list[Command]:
        return [AddNote(self.text.text().strip(), self.target.seq if self.target is not None else None)]


class CorrectionDialog(CommandDialog):
    title = "Correct an entry"

    def __init__(self, chair: ChairController, target: Event, parent: QWidget | None = None) -> None:
        super().__init__(chair, parent)
        self.target = target
        form = QFormLayout(self.form_area)
        about = QLabel(describe(target))
        about.setWordWrap(True)
        form.addRow("Entry", about)
        self.fields: dict[str, QLineEdit] = {}
        current = correctable_values(target)
        for name in sorted(correctable_fields(target.type)):
            edit = QLineEdit()
            edit.setPlaceholderText(current.get(name, ""))
            self.fields[name] = edit
            form.addRow(name.replace("_", " "), edit)
        if not self.fields:
            form.addRow(QLabel("This kind of entry cannot be corrected; add a note instead."))
        self.reason = QLineEdit()
        form.addRow("Reason", self.reason)

    def build_commands(self, override: Override | None) -> list[Command]:
        corrected: dict[str, object] = {}
        for name, edit in self.fields.items():
            text = edit.text().strip()
            if not text:
                continue
            if name == "signs":
                corrected[name] = [s.strip() for s in text.split(",") if s.strip()]
            elif name == "values":
                values: dict[str, float] = {}
                for part in text.split(","):
                    key, _, value = part.partition("=")
                    try:
                        values[key.strip()] = float(value)
                    except ValueError:
                        raise FormError(
                            f"values: write name=number, e.g. heart_rate_bpm=88 ({part!r})"
                        ) from None
                corrected[name] = values
            else:
                corrected[name] = text
        if not corrected:
            raise FormError("Enter the corrected value")
        return [Correct(self.target.seq, self.reason.text().strip(), corrected)]
