"""Premedication: the protocol's premeds, each ticked when given, with the dose and route actually given
(checked against the protocol's range; outside it needs an override with the reason) and the time.
A premed already given can be given again (a repeat dose, e.g. when its window closed before the
start); the record keeps every dose."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QLabel,
    QLineEdit,
    QWidget,
)

from app.chairs import ChairController
from app.domain.commands import Command, GivePremedication, Override
from app.domain.decide import CommandRefused, premedication_dose_failures
from app.domain.protocol import InfusionProtocol, Premedication
from app.ui.dialogs.common import CommandDialog, FormError, WallClockEdit, datetime_edit, edited_datetime
from app.ui.elided import set_style_property


@dataclass
class _Row:
    premed: Premedication
    given: QCheckBox
    dose: QLineEdit
    route: QComboBox
    at: WallClockEdit
    check: QLabel
    repeat: bool

    @property
    def drug(self) -> str:
        return self.premed.drug


def range_text(premed: Premedication) -> str:
    if premed.dose_min_mg is None or premed.dose_max_mg is None:
        return premed.dose
    if premed.dose_min_mg == premed.dose_max_mg:
        return f"{premed.dose_min_mg:g} mg"
    return f"{premed.dose_min_mg:g}–{premed.dose_max_mg:g} mg"


def dose_check(protocol: InfusionProtocol, drug: str, dose: str, route: str) -> tuple[bool, str]:
    """What the dialog says next to a dose, from the domain's own check (the one home of the rule)."""
    try:
        failures = premedication_dose_failures(protocol, GivePremedication(drug, dose, route))
    except CommandRefused as refused:
        return False, "✗ " + refused.failures[0].message.split(": ", 1)[-1]
    if failures:
        premed = next(p for p in protocol.premedications if p.drug == drug)
        return False, f"✗ outside {range_text(premed)}"
    return True, "✓"


class PremedicationDialog(CommandDialog):
    title = "Premedication"

    def __init__(self, chair: ChairController, parent: QWidget | None = None) -> None:
        super().__init__(chair, parent)
        self.setMinimumWidth(1100)
        state = chair.state
        assert state is not None
        self.protocol = state.require_protocol()
        grid = QGridLayout(self.form_area)
        for column, text in enumerate(
            ("Give", "Drug (protocol's range)", "Dose given", "", "Route", "Given at")
        ):
            grid.addWidget(QLabel(f"<b>{text}</b>"), 0, column)
        self.rows: list[_Row] = []
        now = chair.now()
        for row, premed in enumerate(state.require_protocol().premedications, start=1):
            done = state.premedication_given(premed.drug)
            given = QCheckBox("Repeat" if done is not None else "Given")
            name = premed.drug + ("" if premed.required else " (optional)")
            drug = QLabel(f"{name} <span style='color:#555'>({range_text(premed)})</span>")
            drug.setWordWrap(True)
            if done is not None:
                drug.setText(
                    f"{name}: <b>{done.dose} {done.route}</b> given {chair.face.at(done.given_at, now)} by {done.actor}"
                )
            dose = QLineEdit(premed.suggested_dose)
            dose.setMaximumWidth(140)
            route = QComboBox()
            route.addItems(list(premed.routes) or [premed.route])
            check = QLabel()
            check.setObjectName("doseCheck")
            at = datetime_edit(now, chair.face)
            for editor in (dose, route, at):
                editor.setEnabled(done is None)
            if done is not None:
                given.toggled.connect(dose.setEnabled)
                given.toggled.connect(route.setEnabled)
                given.toggled.connect(at.setEnabled)
            widgets: tuple[QWidget, ...] = (given, drug, dose, check, route, at)
            for column, widget in enumerate(widgets):
                grid.addWidget(widget, row, column)
            entry = _Row(premed, given, dose, route, at, check, done is not None)
            dose.textChanged.connect(lambda _t, e=entry: self._check(e))
            route.currentTextChanged.connect(lambda _t, e=entry: self._check(e))
            self._check(entry)
            self.rows.append(entry)
        grid.setColumnStretch(1, 1)

    def _check(self, row: _Row) -> None:
        ok, text = dose_check(self.protocol, row.drug, row.dose.text(), row.route.currentText())
        row.check.setText(text)
        set_style_property(row.check, "ok", ok)

    def row(self, drug: str) -> _Row:
        return next(r for r in self.rows if r.drug == drug)

    def give(self, drug: str, dose: str | None = None, route: str | None = None) -> None:
        row = self.row(drug)
        row.given.setChecked(True)
        if dose is not None:
            row.dose.setText(dose)
        if route is not None:
            row.route.setCurrentText(route)

    def give_all(self) -> None:
        for row in self.rows:
            if not row.repeat:
                row.given.setChecked(True)

    def build_commands(self, override: Override | None) -> list[Command]:
        commands: list[Command] = []
        for row in self.rows:
            if row.given.isChecked():
                at = edited_datetime(row.at)
                commands.append(
                    GivePremedication(
                        row.drug, row.dose.text().strip(), row.route.currentText(), at, override=override
                    )
                )
        if not commands:
            raise FormError("Tick each premedication given")
        return commands
