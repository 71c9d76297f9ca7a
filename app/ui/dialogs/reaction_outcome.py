"""What became of a reaction: "symptoms resolved" (the reduced rate may rise again only after it, and the
observation runs from it) and "not tolerated" (stop the pump, or re-grade 3 or 4)."""

from __future__ import annotations

from PySide6.QtWidgets import QButtonGroup, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QRadioButton, QWidget

from app.chairs import ChairController
from app.domain.commands import Command, Override, ReactionNotTolerated, ResolveSymptoms
from app.domain.reactions import SEVERE_GRADE
from app.station.status_text import rate_text
from app.ui.dialogs.common import CommandDialog, FormError, datetime_edit, edited_datetime


class ResolveDialog(CommandDialog):
    title = "Symptoms resolved"
    save_text = "Symptoms resolved"

    def __init__(self, chair: ChairController, parent: QWidget | None = None) -> None:
        super().__init__(chair, parent)
        state = chair.state
        assert state is not None
        form = QFormLayout(self.form_area)
        open_ = [r for r in state.reactions if r.holds_until_resolved]
        lines = [f"grade {r.grade} reaction at {chair.face.at(r.onset_at, chair.now())}" for r in open_]
        protocol = state.require_protocol()
        info = QLabel(
            "All symptoms of the "
            + ", ".join(lines)
            + " have resolved. "
            + (
                "The reduced rate still holds for at least its minimum time; the next step comes after."
                if state.infusion_ended_at is None
                else f"Observation runs {protocol.observation_min:g} min from the resolution."
            )
        )
        info.setWordWrap(True)
        form.addRow(info)
        self.at = datetime_edit(chair.now(), chair.face)
        form.addRow("Resolved at", self.at)
        self.notes = QLineEdit()
        form.addRow("Notes", self.notes)

    def build_commands(self, override: Override | None) -> list[Command]:
        return [ResolveSymptoms(edited_datetime(self.at), self.notes.text().strip())]


class NotToleratedDialog(CommandDialog):
    title = "Reduced rate not tolerated"
    save_text = "Record"

    def __init__(self, chair: ChairController, parent: QWidget | None = None) -> None:
        super().__init__(chair, parent)
        state = chair.state
        assert state is not None
        form = QFormLayout(self.form_area)
        holding = [r for r in state.reactions if r.holds_until_resolved]
        if holding:
            r = holding[-1]
            form.addRow(
                QLabel(
                    f"The grade {r.grade} reaction at {chair.face.at(r.onset_at, chair.now())} does not settle at "
                    f"{rate_text(r.new_rate_ml_h)}."
                )
            )
        self.group = QButtonGroup(self)
        self.stop = QRadioButton("Stop the pump (restart later, or discontinue)")
        self.regrade3 = QRadioButton(f"Re-grade {SEVERE_GRADE}: stop, restart at half once resolved")
        self.regrade4 = QRadioButton("Re-grade 4: stop for good, observe")
        for button in (self.stop, self.regrade3, self.regrade4):
            self.group.addButton(button)
        choices = QHBoxLayout()
        box = QWidget()
        inner = QFormLayout(box)
        for button in (self.stop, self.regrade3, self.regrade4):
            inner.addRow(button)
        choices.addWidget(box)
        form.addRow("Outcome", choices)
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("what was seen")
        form.addRow("Reason", self.reason)
        self.at = datetime_edit(chair.now(), chair.face)
        form.addRow("At", self.at)

    def build_commands(self, override: Override | None) -> list[Command]:
        at = edited_datetime(self.at)
        reason = self.reason.text().strip()
        if self.stop.isChecked():
            return [ReactionNotTolerated("stop", reason=reason, at=at)]
        if self.regrade3.isChecked() or self.regrade4.isChecked():
            grade = SEVERE_GRADE if self.regrade3.isChecked() else 4
            return [ReactionNotTolerated("regrade", grade=grade, reason=reason, at=at)]
        raise FormError("Choose stop or re-grade")
