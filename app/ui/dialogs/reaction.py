"""An infusion-related reaction: grade (CTCAE v5 wording), signs, onset. Logging one must be fast:
one click per sign, the grade, Save. The chair view then shows, big, what the pump must be set to."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QFormLayout,
    QGridLayout,
    QLabel,
    QLineEdit,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from app.chairs import ChairController
from app.domain.commands import Command, Override, RecordReaction
from app.domain.protocol import ReactionAction
from app.ui.dialogs.common import CommandDialog, FormError, datetime_edit, edited_datetime

# CTCAE v5.0, "Infusion related reaction" (grades 1-4; grade 5 is death)
CTCAE_GRADES = {
    1: "Mild transient reaction; infusion interruption not indicated; intervention not indicated",
    2: "Therapy or infusion interruption indicated but responds promptly to symptomatic treatment "
    "(e.g., antihistamines, NSAIDs, narcotics, IV fluids); prophylactic medications indicated for <=24 hrs",
    3: "Prolonged (e.g., not rapidly responsive to symptomatic medication and/or brief interruption of "
    "infusion); recurrence of symptoms following initial improvement; hospitalization indicated for "
    "clinical sequelae",
    4: "Life-threatening consequences; urgent intervention indicated",
}

# Signs listed in the ocrelizumab label (clinical.md)
SIGNS = (
    "pruritus",
    "rash",
    "urticaria",
    "erythema",
    "flushing",
    "throat irritation",
    "oropharyngeal pain",
    "dyspnea",
    "bronchospasm",
    "pharyngeal or laryngeal edema",
    "hypotension",
    "tachycardia",
    "pyrexia",
    "fatigue",
    "headache",
    "dizziness",
    "nausea",
    "anaphylaxis",
)

ACTION_WORDS = {
    ReactionAction.HALVE_RATE: "reduce the rate",
    ReactionAction.STOP_THEN_RESTART: "STOP; restart at a reduced rate once all symptoms resolve",
    ReactionAction.DISCONTINUE: "STOP and permanently discontinue",
}


class ReactionDialog(CommandDialog):
    title = "Infusion reaction"
    save_text = "Record reaction"

    def __init__(self, chair: ChairController, parent: QWidget | None = None) -> None:
        super().__init__(chair, parent)
        state = chair.state
        assert state is not None
        protocol = state.require_protocol()
        layout = QVBoxLayout(self.form_area)
        layout.addWidget(QLabel("<b>Grade</b> (CTCAE v5)"))
        self.grade_group = QButtonGroup(self)
        self.grades: dict[int, QRadioButton] = {}
        grade_grid = QGridLayout()
        for row, (grade, words) in enumerate(CTCAE_GRADES.items()):
            rule = protocol.rule_for_grade(grade)
            action = ACTION_WORDS[rule.action]
            if rule.action is ReactionAction.HALVE_RATE:
                action = f"reduce to {rule.rate_factor:.0%} of the rate at onset"
            button = QRadioButton(f"Grade {grade}")
            button.setObjectName(f"grade{grade}")
            self.grade_group.addButton(button, grade)
            self.grades[grade] = button
            text = QLabel(f"{words}<br><b>→ {action}</b>")
            text.setWordWrap(True)
            grade_grid.addWidget(button, row, 0)
            grade_grid.addWidget(text, row, 1)
        grade_grid.setColumnStretch(1, 1)
        layout.addLayout(grade_grid)
        layout.addWidget(QLabel("<b>Signs</b>"))
        signs_grid = QGridLayout()
        self.signs: dict[str, QCheckBox] = {}
        for i, sign in enumerate(SIGNS):
            box = QCheckBox(sign)
            self.signs[sign] = box
            signs_grid.addWidget(box, i // 3, i % 3)
        layout.addLayout(signs_grid)
        form = QFormLayout()
        self.onset = datetime_edit(chair.now())
        form.addRow("Onset", self.onset)
        self.notes = QLineEdit()
        form.addRow("Notes", self.notes)
        layout.addLayout(form)

    def choose(self, grade: int, *signs: str) -> None:
        self.grades[grade].setChecked(True)
        for sign in signs:
            self.signs[sign].setChecked(True)

    def build_commands(self, override: Override | None) -> list[Command]:
        grade = self.grade_group.checkedId()
        if grade not in CTCAE_GRADES:
            raise FormError("Choose the grade")
        signs = tuple(sign for sign, box in self.signs.items() if box.isChecked())
        return [RecordReaction(grade, signs, edited_datetime(self.onset), self.notes.text().strip())]
