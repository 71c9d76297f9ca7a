"""Premedication: the protocol's premeds, each ticked when given, with dose, route and time."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtWidgets import QCheckBox, QDateTimeEdit, QGridLayout, QLabel, QLineEdit, QWidget

from app.chairs import ChairController
from app.domain.commands import Command, GivePremedication, Override
from app.ui.dialogs.common import CommandDialog, FormError, datetime_edit, edited_datetime
from app.ui.status import hhmm


@dataclass
class _Row:
    drug: str
    given: QCheckBox
    dose: QLineEdit
    route: QLineEdit
    at: QDateTimeEdit


class PremedicationDialog(CommandDialog):
    title = "Premedication"

    def __init__(self, chair: ChairController, parent: QWidget | None = None) -> None:
        super().__init__(chair, parent)
        state = chair.state
        assert state is not None
        grid = QGridLayout(self.form_area)
        for column, text in enumerate(("Given", "Drug", "Dose", "Route", "Given at")):
            grid.addWidget(QLabel(f"<b>{text}</b>"), 0, column)
        self.rows: list[_Row] = []
        now = chair.now()
        for row, premed in enumerate(state.require_protocol().premedications, start=1):
            done = state.premedication_given(premed.drug)
            given = QCheckBox()
            drug = QLabel(premed.drug + ("" if premed.required else " (optional)"))
            drug.setWordWrap(True)
            dose, route = QLineEdit(premed.suggested_dose), QLineEdit(premed.suggested_route)
            at = datetime_edit(now)
            if done is not None:
                given.setEnabled(False)
                given.setChecked(True)
                drug.setText(f"{premed.drug}: given {hhmm(done.given_at)} by {done.actor}")
                dose.setEnabled(False)
                route.setEnabled(False)
                at.setEnabled(False)
            widgets: tuple[QWidget, ...] = (given, drug, dose, route, at)
            for column, widget in enumerate(widgets):
                grid.addWidget(widget, row, column)
            if done is None:
                self.rows.append(_Row(premed.drug, given, dose, route, at))
        grid.setColumnStretch(1, 1)

    def give(self, drug: str) -> None:
        next(r for r in self.rows if r.drug == drug).given.setChecked(True)

    def give_all(self) -> None:
        for row in self.rows:
            row.given.setChecked(True)

    def build_commands(self, override: Override | None) -> list[Command]:
        commands: list[Command] = []
        for row in self.rows:
            if row.given.isChecked():
                at = edited_datetime(row.at)
                commands.append(GivePremedication(row.drug, row.dose.text(), row.route.text(), at))
        if not commands:
            raise FormError("Tick each premedication given")
        return commands
