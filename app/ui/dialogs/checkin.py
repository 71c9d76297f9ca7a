"""Check-in: patient, protocol (with eligibility shown), and the bag. A GS1 DataMatrix scan arriving as
keyboard text fills GTIN, lot and expiry (parsed with biip)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import biip
from PySide6.QtCore import QDate
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from app.chairs import ChairController
from app.domain.commands import CheckIn, Command, Override
from app.domain.decide import eligibility_failures
from app.domain.protocol import InfusionProtocol
from app.ui.dialogs.common import CommandDialog, FormError, datetime_edit, edited_datetime

# Keyboard-wedge scanners cannot always type the GS (FNC1) separator; sites configure one of these.
SCAN_SEPARATORS = ("\x1d", "|", "^")


@dataclass(frozen=True)
class BagLabel:
    gtin: str = ""
    lot: str = ""
    expiry: date | None = None


def parse_bag_scan(text: str) -> BagLabel:
    """GTIN (01), lot (10) and expiry (17) from a GS1 scan. ValueError with biip's reason if not GS1."""
    value = text.strip()
    result = biip.parse(value, config=biip.ParseConfig(separator_chars=SCAN_SEPARATORS))
    message = result.gs1_message
    if message is None:
        raise ValueError(result.gs1_message_error or "not a GS1 barcode")
    gtin = message.element_strings.get(ai="01")
    lot = message.element_strings.get(ai="10")
    expiry = message.element_strings.get(ai="17")
    return BagLabel(
        gtin=gtin.value if gtin is not None else "",
        lot=lot.value if lot is not None else "",
        expiry=expiry.date if expiry is not None else None,
    )


class CheckInDialog(CommandDialog):
    title = "Check in"
    save_text = "Check in"

    def __init__(self, chair: ChairController, parent: QWidget | None = None) -> None:
        super().__init__(chair, parent)
        now = chair.now()
        self.protocols = chair.floor.floor.protocols
        form = QFormLayout(self.form_area)
        self.mrn = QLineEdit()
        self.mrn.setPlaceholderText("hospital number")
        self.initials = QLineEdit()
        self.initials.setMaxLength(4)
        form.addRow("Patient MRN", self.mrn)
        form.addRow("Initials", self.initials)
        self.prior_infusions = QSpinBox()
        self.prior_infusions.setRange(0, 99)
        self.prior_serious = QCheckBox("Prior serious infusion reaction")
        history = QHBoxLayout()
        history.addWidget(self.prior_infusions)
        history.addWidget(self.prior_serious)
        history.addStretch(1)
        form.addRow("Prior infusions", history)
        self.has_last_dose = QCheckBox("Last dose on")
        self.last_dose = QDateEdit(QDate(now.year, now.month, now.day).addMonths(-6))
        self.last_dose.setCalendarPopup(True)
        self.last_dose.setEnabled(False)
        self.has_last_dose.toggled.connect(self.last_dose.setEnabled)
        last = QHBoxLayout()
        last.addWidget(self.has_last_dose)
        last.addWidget(self.last_dose)
        last.addStretch(1)
        form.addRow("", last)
        self.protocol = QComboBox()
        for protocol in self.protocols.values():
            self.protocol.addItem(protocol.name, protocol.id)
        form.addRow("Protocol", self.protocol)
        self.eligibility = QLabel()
        self.eligibility.setObjectName("eligibility")
        self.eligibility.setWordWrap(True)
        form.addRow("", self.eligibility)

        self.scan = QLineEdit()
        self.scan.setObjectName("scanField")
        self.scan.setPlaceholderText("scan the bag's DataMatrix here")
        self.scan.returnPressed.connect(self.apply_scan)
        form.addRow("Bag scan", self.scan)
        self.scan_result = QLabel()
        self.scan_result.setWordWrap(True)
        form.addRow("", self.scan_result)
        self.gtin = QLineEdit()
        self.lot = QLineEdit()
        self.expiry = QDateEdit(QDate(now.year, now.month, now.day).addMonths(12))
        self.expiry.setCalendarPopup(True)
        self.bag_volume = QDoubleSpinBox()
        self.bag_volume.setRange(1, 2000)
        self.bag_volume.setDecimals(0)
        self.bag_volume.setSuffix(" mL")
        self.prepared = datetime_edit(now - timedelta(minutes=15))
        form.addRow("GTIN", self.gtin)
        form.addRow("Lot", self.lot)
        form.addRow("Expiry", self.expiry)
        form.addRow("Bag volume", self.bag_volume)
        form.addRow("Bag prepared at", self.prepared)

        self.protocol.currentIndexChanged.connect(self._protocol_changed)
        self.prior_infusions.valueChanged.connect(self.update_eligibility)
        self.prior_serious.toggled.connect(self.update_eligibility)
        self.has_last_dose.toggled.connect(self.update_eligibility)
        self.last_dose.dateChanged.connect(self.update_eligibility)
        self._protocol_changed()

    def selected_protocol(self) -> InfusionProtocol:
        return self.protocols[str(self.protocol.currentData())]

    def select_protocol(self, protocol_id: str) -> None:
        self.protocol.setCurrentIndex(self.protocol.findData(protocol_id))

    def _protocol_changed(self) -> None:
        self.bag_volume.setValue(self.selected_protocol().bag_volume_ml)
        self.update_eligibility()

    def _last_dose(self) -> date | None:
        if not self.has_last_dose.isChecked():
            return None
        chosen = self.last_dose.date()
        return date(chosen.year(), chosen.month(), chosen.day())

    def update_eligibility(self) -> None:
        protocol = self.selected_protocol()
        failures = eligibility_failures(
            protocol,
            self.prior_infusions.value(),
            self.prior_serious.isChecked(),
            self._last_dose(),
            self.chair.now().date(),
        )
        if failures:
            self.eligibility.setText("✗ Not eligible: " + "; ".join(f.message for f in failures))
            self.eligibility.setProperty("ok", False)
        else:
            self.eligibility.setText("✓ Eligible for this protocol")
            self.eligibility.setProperty("ok", True)
        self.eligibility.style().unpolish(self.eligibility)
        self.eligibility.style().polish(self.eligibility)

    def apply_scan(self) -> None:
        try:
            label = parse_bag_scan(self.scan.text())
        except ValueError as problem:
            self.scan_result.setText(f"✗ Not a GS1 code: {problem}")
            return
        if label.gtin:
            self.gtin.setText(label.gtin)
        if label.lot:
            self.lot.setText(label.lot)
        if label.expiry is not None:
            self.expiry.setDate(QDate(label.expiry.year, label.expiry.month, label.expiry.day))
        parts = [f"GTIN {label.gtin}" if label.gtin else "", f"lot {label.lot}" if label.lot else ""]
        if label.expiry is not None:
            parts.append(f"expiry {label.expiry.isoformat()}")
        self.scan_result.setText("✓ Read " + ", ".join(p for p in parts if p))
        self.scan.clear()

    def build_commands(self, override: Override | None) -> list[Command]:
        if not self.mrn.text().strip() or not self.initials.text().strip():
            raise FormError("Enter the patient's MRN and initials")
        if not self.lot.text().strip():
            raise FormError("Enter or scan the bag's lot")
        return [
            CheckIn(
                chair=self.chair.name,
                patient_mrn=self.mrn.text().strip(),
                patient_initials=self.initials.text().strip(),
                protocol_id=self.selected_protocol().id,
                bag_volume_ml=float(self.bag_volume.value()),
                bag_lot=self.lot.text().strip(),
                bag_expiry=date(
                    self.expiry.date().year(), self.expiry.date().month(), self.expiry.date().day()
                ),
                bag_prepared_at=edited_datetime(self.prepared),
                prior_infusions=self.prior_infusions.value(),
                prior_serious_reaction=self.prior_serious.isChecked(),
                last_dose_on=self._last_dose(),
                bag_gtin=self.gtin.text().strip(),
                override=override,
            )
        ]
