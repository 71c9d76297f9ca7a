"""An infusion-related reaction: grade (CTCAE v5 wording from resources/reactions.toml), signs, onset.
Logging one must be fast: one click per sign, the grade, Save. The chair view then shows, big, what the
pump must be set to.

The dialog says before saving what the record will hold: the pump rate at the onset (a back-dated onset
reads the rate recorded then) and the rate the protocol's rule sets from it. Signs of anaphylaxis below
grade 3 are flagged at once; the domain refuses them unless overridden with a reason."""

from __future__ import annotations

import html
from datetime import datetime

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
from app.domain.phase import Phase
from app.domain.protocol import ReactionAction
from app.domain.reactions import SEVERE_GRADE
from app.domain.schedule import reaction_ceiling_ml_h
from app.station.status_text import dose_rate_text
from app.ui.dialogs.common import CommandDialog, FormError, datetime_edit, edited_datetime

# Signs listed in the ocrelizumab label (clinical.md) and CTCAE v5 anaphylaxis
SIGNS = (
    "pruritus",
    "rash",
    "urticaria",
    "erythema",
    "flushing",
    "throat irritation",
    "oropharyngeal pain",
    "dyspnea",
    "pyrexia",
    "tachycardia",
    "fatigue",
    "headache",
    "dizziness",
    "nausea",
    "rigors",
    "bronchospasm",
    "pharyngeal or laryngeal edema",
    "angioedema",
    "hypotension",
    "hypoxia",
    "wheeze",
    "stridor",
    "throat tightness",
    "tongue or lip swelling",
    "collapse",
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
        self.setMinimumWidth(900)
        state = chair.state
        assert state is not None
        self.state = state
        protocol = state.require_protocol()
        self.terms = chair.floor.floor.reaction_terms
        layout = QVBoxLayout(self.form_area)
        heading = QLabel("<b>Grade</b> (CTCAE v5)")
        heading.setToolTip(self.terms.source)
        layout.addWidget(heading)
        self.grade_group = QButtonGroup(self)
        self.grades: dict[int, QRadioButton] = {}
        self.grade_texts: dict[int, QLabel] = {}
        grade_grid = QGridLayout()
        for row, grade in enumerate(sorted(self.terms.wording)):
            rule = protocol.rule_for_grade(grade)
            action = ACTION_WORDS[rule.action]
            if rule.action is ReactionAction.HALVE_RATE:
                action = f"reduce to {rule.rate_factor:.0%} of the rate at onset, hold until resolved"
            button = QRadioButton(f"Grade {grade}")
            button.setObjectName(f"grade{grade}")
            self.grade_group.addButton(button, grade)
            self.grades[grade] = button
            # the CTCAE text holds "<=": escaped, or the label would read it as markup
            text = QLabel(f"{html.escape(self.terms.wording[grade])}<br><b>→ {action}</b>")
            text.setObjectName("gradeWording")
            text.setWordWrap(True)
            text.setToolTip(self.terms.source)
            self.grade_texts[grade] = text
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
            signs_grid.addWidget(box, i // 4, i % 4)
            box.toggled.connect(self.update_checks)
        layout.addLayout(signs_grid)
        self.cross_check = QLabel()
        self.cross_check.setObjectName("crossCheck")
        self.cross_check.setWordWrap(True)
        layout.addWidget(self.cross_check)
        form = QFormLayout()
        self.onset = datetime_edit(chair.now(), chair.face)
        self.onset.dateTimeChanged.connect(self.update_checks)
        form.addRow("Onset (may be earlier)", self.onset)
        self.onset_rate = QLabel()
        self.onset_rate.setObjectName("onsetRate")
        self.onset_rate.setWordWrap(True)
        form.addRow("Pump at onset", self.onset_rate)
        self.regrade = QCheckBox()
        self.regrade.setVisible(bool(state.reactions))
        if state.reactions:
            last = state.reactions[-1]
            self.regrade.setText(
                f"Re-grades the grade {last.grade} reaction at {chair.face.at(last.onset_at, chair.now())}"
            )
            form.addRow("", self.regrade)
        self.notes = QLineEdit()
        form.addRow("Notes", self.notes)
        layout.addLayout(form)
        self.grade_group.idToggled.connect(lambda _id, _on: self.update_checks())
        self.update_checks()

    def choose(self, grade: int, *signs: str) -> None:
        self.grades[grade].setChecked(True)
        for sign in signs:
            self.signs[sign].setChecked(True)

    def set_onset(self, moment: datetime) -> None:
        self.onset.show_moment(moment)

    def chosen_signs(self) -> tuple[str, ...]:
        return tuple(sign for sign, box in self.signs.items() if box.isChecked())

    def update_checks(self) -> None:
        """The anaphylaxis cross-check, and what the rule will set from the rate at onset."""
        grade = self.grade_group.checkedId()
        found = self.terms.anaphylaxis_signs_in(self.chosen_signs())
        if found and 0 < grade < SEVERE_GRADE:
            self.cross_check.setText(
                f"⚠ {', '.join(found)}: sign(s) of anaphylaxis. Record grade {SEVERE_GRADE} or 4, "
                f"or override with a reason."
            )
        elif found and grade <= 0:
            self.cross_check.setText(f"⚠ {', '.join(found)}: sign(s) of anaphylaxis: grade 3 or 4")
        else:
            self.cross_check.setText("")
        self.cross_check.setVisible(bool(self.cross_check.text()))
        state = self.state
        if state.phase is Phase.OBSERVATION or state.infusion_started_at is None:
            self.onset_rate.setText("infusion ended: the observation is extended until resolved")
            return
        onset = edited_datetime(self.onset)
        rate = self.chair.floor.floor.pump_rate_at(state.session_id, onset)  # the one lookup
        text = (
            f"{dose_rate_text(state, rate)} (recorded at {self.chair.face.at(onset, self.chair.now())})"
            if rate > 0
            else "stopped (per the record)"
        )
        if grade > 0 and rate > 0 and self.terms.is_anaphylaxis(grade, self.chosen_signs()):
            text += " → anaphylaxis: STOP for good, observe"  # decide discontinues, whatever the grade
        elif grade > 0 and rate > 0:
            rule = state.require_protocol().rule_for_grade(grade)
            target = rule.apply(rate, reaction_ceiling_ml_h(state.steps))
            if rule.action is ReactionAction.HALVE_RATE:
                text += f" → set the pump to {dose_rate_text(state, target)}"
            elif rule.action is ReactionAction.STOP_THEN_RESTART:
                text += f" → STOP; restart at {dose_rate_text(state, target)} once resolved"
            else:
                text += " → STOP for good"
        self.onset_rate.setText(text)

    def build_commands(self, override: Override | None) -> list[Command]:
        grade = self.grade_group.checkedId()
        if grade not in self.terms.wording:
            raise FormError("Choose the grade")
        regrades = None
        if self.regrade.isChecked() and self.state.reactions:
            regrades = self.state.reactions[-1].seq
        return [
            RecordReaction(
                grade,
                self.chosen_signs(),
                edited_datetime(self.onset),
                self.notes.text().strip(),
                override=override,
                regrades_seq=regrades,
            )
        ]
