"""Pre-infusion screening: the protocol's checklist, each question answered yes or no, plus baseline
vital signs. A finding (delay or contraindication) is refused with its reason; an override records
who decided to go on and why."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QButtonGroup,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from app.chairs import ChairController
from app.domain.commands import Command, Override, RecordScreening, RecordVitals
from app.domain.protocol import ScreeningItem, ScreeningOutcome
from app.ui.dialogs.common import CommandDialog, FormError
from app.ui.dialogs.vitals import VitalsForm


def short_source(source: str) -> str:
    """The first words of a source (the whole text is the tooltip)."""
    head = source.split(":")[0].split(";")[0].strip() or "not given"
    return head if len(head) <= 70 else head[:67] + "…"


def _consequence(item: ScreeningItem) -> str:
    answer = "no" if item.acceptable_answer else "yes"
    what = {
        ScreeningOutcome.DELAY: "delay",
        ScreeningOutcome.CONTRAINDICATION: "do not give",
        ScreeningOutcome.REFER: f"only under a {item.refer_to or 'specialist'}'s guidance",
    }[item.if_not]
    return f"if {answer}: {what}"


class ScreeningDialog(CommandDialog):
    title = "Pre-infusion screening"

    def __init__(self, chair: ChairController, parent: QWidget | None = None) -> None:
        super().__init__(chair, parent)
        state = chair.state
        assert state is not None
        self.items = state.require_protocol().screening
        layout = QVBoxLayout(self.form_area)
        grid = QGridLayout()
        self.groups: dict[str, QButtonGroup] = {}
        self.sources: dict[str, QLabel] = {}
        self.yes: dict[str, QRadioButton] = {}
        self.no: dict[str, QRadioButton] = {}
        for row, item in enumerate(self.items):
            # each item from the protocol file, with where it comes from (full source as the tooltip)
            question = QLabel(
                f"{item.question}<br><span style='font-size:11pt; color:#3c4148'>"
                f"{_consequence(item)} · source: {short_source(item.source)}</span>"
            )
            question.setWordWrap(True)
            question.setToolTip(item.source)
            self.sources[item.id] = question
            grid.addWidget(question, row, 0)
            yes, no = QRadioButton("Yes"), QRadioButton("No")
            group = QButtonGroup(self)
            group.addButton(yes)
            group.addButton(no)
            answers = QHBoxLayout()
            answers.addWidget(yes)
            answers.addWidget(no)
            grid.addLayout(answers, row, 1)
            self.groups[item.id], self.yes[item.id], self.no[item.id] = group, yes, no
        grid.setColumnStretch(0, 1)
        layout.addLayout(grid)
        layout.addWidget(QLabel("Baseline vital signs"))
        self.vitals = VitalsForm()
        layout.addWidget(self.vitals)

    def answer(self, item_id: str, yes: bool) -> None:
        (self.yes if yes else self.no)[item_id].setChecked(True)

    def answer_all_acceptable(self) -> None:
        for item in self.items:
            self.answer(item.id, item.acceptable_answer)

    def build_commands(self, override: Override | None) -> list[Command]:
        answers: dict[str, bool] = {}
        for item in self.items:
            if self.yes[item.id].isChecked():
                answers[item.id] = True
            elif self.no[item.id].isChecked():
                answers[item.id] = False
        unanswered = [item.question for item in self.items if item.id not in answers]
        if unanswered:
            raise FormError("Answer every question: " + "; ".join(unanswered))
        commands: list[Command] = [RecordScreening(answers, override=override)]
        values = self.vitals.values()
        if any(v is not None for v in values.values()):
            commands.append(RecordVitals(values))
        return commands
