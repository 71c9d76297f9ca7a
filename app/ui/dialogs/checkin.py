"""Check-in: patient, protocol (with eligibility shown), and the bag. A GS1 DataMatrix scan arriving as
keyboard text fills GTIN, lot and expiry (parsed with biip).

Nothing is chosen for the nurse: the protocol list opens empty unless the scanned bag's GTIN names the
one protocol of its drug, and the Enter a scanner ends each scan with moves to the next field, never
submits (issue 10, point 14). The dose and bag volume give the concentration, checked against the
label's range; the last-dose date or an explicit "first dose" is required; serious reactions come from
this station's record for the MRN."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import biip
from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QRadioButton,
    QSpinBox,
    QWidget,
)

from app.chairs import ChairController
from app.domain.commands import CheckIn, Command, Override
from app.domain.decide import clinic_today, eligibility_failures
from app.domain.history import PatientHistory
from app.domain.protocol import InfusionProtocol
from app.ui.dialogs.common import CommandDialog, FormError, datetime_edit, edited_datetime
from app.ui.dialogs.screening import short_source
from app.ui.elided import set_style_property

# Keyboard-wedge scanners cannot always type the GS (FNC1) separator; sites configure one of these.
SCAN_SEPARATORS = ("\x1d", "|", "^")
# AIM symbology identifiers a scanner may prefix: DataMatrix, GS1-128, QR
SYMBOLOGY_PREFIXES = ("]d2", "]C1", "]Q3")


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


def looks_like_scan(text: str) -> bool:
    return text.strip().startswith(SYMBOLOGY_PREFIXES)


def protocols_for_gtin(protocols: dict[str, InfusionProtocol], gtin: str) -> list[InfusionProtocol]:
    return [p for p in protocols.values() if gtin and gtin in p.bag_gtins]


def _small(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("smallNote")
    label.setWordWrap(True)
    return label


class CheckInDialog(CommandDialog):
    title = "Check in"
    save_text = "Check in"

    def __init__(self, chair: ChairController, parent: QWidget | None = None) -> None:
        super().__init__(chair, parent)
        self.setMinimumWidth(1240)  # two columns at 13 pt; fits a 1366-pixel station screen
        now = chair.now()
        self.protocols = dict(chair.floor.floor.protocols)
        self.history: PatientHistory | None = None
        columns = QHBoxLayout(self.form_area)

        # -- left: the patient and the protocol
        left = QFormLayout()
        columns.addLayout(left, 1)
        self.mrn = QLineEdit()
        self.mrn.setPlaceholderText("hospital number")
        self.mrn.editingFinished.connect(self._mrn_entered)
        self.initials = QLineEdit()
        self.initials.setMaxLength(4)
        left.addRow("Patient MRN", self.mrn)
        left.addRow("Initials", self.initials)
        self.record_reactions = QLabel()
        self.record_reactions.setObjectName("recordReactions")
        self.record_reactions.setWordWrap(True)
        left.addRow("", self.record_reactions)
        self.prior_infusions = QSpinBox()
        self.prior_infusions.setRange(0, 99)
        left.addRow("Prior infusions", self.prior_infusions)
        self.prior_serious = QCheckBox("Serious infusion reaction elsewhere (outside history)")
        left.addRow("", self.prior_serious)
        self.dose_group = QButtonGroup(self)
        self.has_last_dose = QRadioButton("Last dose on")
        self.first_dose = QRadioButton("First dose")
        self.dose_group.addButton(self.has_last_dose)
        self.dose_group.addButton(self.first_dose)
        self.last_dose = QDateEdit(QDate(now.year, now.month, now.day).addMonths(-6))
        self.last_dose.setCalendarPopup(True)
        self.last_dose.setDisplayFormat("dd.MM.yyyy")
        self.last_dose.setEnabled(False)
        self.has_last_dose.toggled.connect(self.last_dose.setEnabled)
        last = QHBoxLayout()
        last.addWidget(self.has_last_dose)
        last.addWidget(self.last_dose)
        last.addWidget(self.first_dose)
        last.addStretch(1)
        left.addRow("Last dose", last)
        self.protocol = QComboBox()
        self.protocol.setPlaceholderText("— choose the protocol —")
        for protocol in self.protocols.values():
            self.protocol.addItem(protocol.name, protocol.id)
        self.protocol.setCurrentIndex(-1)  # nothing chosen for the nurse (issue 10, point 14)
        left.addRow("Protocol", self.protocol)
        self.eligibility = QLabel()
        self.eligibility.setObjectName("eligibility")
        self.eligibility.setWordWrap(True)
        left.addRow("", self.eligibility)
        self.screening_note = QLabel()
        self.screening_note.setObjectName("smallNote")
        self.screening_note.setWordWrap(True)
        left.addRow("Screening", self.screening_note)
        self.screening_list = QListWidget()
        self.screening_list.setObjectName("screeningList")
        self.screening_list.setMaximumHeight(130)
        self.screening_list.setWordWrap(True)
        self.screening_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.screening_list.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # read-only: not a stop for Enter/Tab
        left.addRow("", self.screening_list)

        # -- right: the bag
        right = QFormLayout()
        columns.addLayout(right, 1)
        self.scan = QLineEdit()
        self.scan.setObjectName("scanField")
        self.scan.setPlaceholderText("scan the bag's DataMatrix here")
        self.scan.returnPressed.connect(self.apply_scan)
        right.addRow("Bag scan", self.scan)
        self.scan_result = QLabel()
        self.scan_result.setObjectName("scanResult")
        self.scan_result.setWordWrap(True)
        right.addRow("", self.scan_result)
        self.gtin = QLineEdit()
        self.gtin.editingFinished.connect(self.update_gtin)
        self.lot = QLineEdit()
        self.expiry = QDateEdit(QDate(now.year, now.month, now.day).addMonths(12))
        self.expiry.setCalendarPopup(True)
        self.expiry.setDisplayFormat("dd.MM.yyyy")
        right.addRow("GTIN", self.gtin)
        self.gtin_check = QLabel()
        self.gtin_check.setObjectName("gtinCheck")
        self.gtin_check.setWordWrap(True)
        right.addRow("", self.gtin_check)
        right.addRow("Lot", self.lot)
        right.addRow("Label expiry", self.expiry)
        self.dose_mg = QDoubleSpinBox()
        self.dose_mg.setRange(1, 5000)
        self.dose_mg.setDecimals(0)
        self.dose_mg.setSuffix(" mg")
        self.bag_volume = QDoubleSpinBox()
        self.bag_volume.setRange(1, 2000)
        self.bag_volume.setDecimals(0)
        self.bag_volume.setSuffix(" mL")
        right.addRow("Dose in the bag", self.dose_mg)
        right.addRow("Bag volume", self.bag_volume)
        self.concentration = QLabel()
        self.concentration.setObjectName("concentration")
        self.concentration.setWordWrap(True)
        right.addRow("Concentration", self.concentration)
        self.prepared = datetime_edit(now - timedelta(minutes=15), chair.face)
        right.addRow("Bag prepared at", self.prepared)
        self.refrigerated = QCheckBox("Kept at 2–8 °C until")
        self.refrigerated_until = datetime_edit(now - timedelta(minutes=5), chair.face)
        self.refrigerated_until.setEnabled(False)
        self.refrigerated.toggled.connect(self.refrigerated_until.setEnabled)
        cold = QHBoxLayout()
        cold.addWidget(self.refrigerated)
        cold.addWidget(self.refrigerated_until)
        cold.addStretch(1)
        right.addRow("", cold)

        self.protocol.currentIndexChanged.connect(self._protocol_changed)
        self.prior_infusions.valueChanged.connect(self.update_eligibility)
        self.prior_serious.toggled.connect(self.update_eligibility)
        self.has_last_dose.toggled.connect(self.update_eligibility)
        self.first_dose.toggled.connect(self.update_eligibility)
        self.last_dose.dateChanged.connect(self.update_eligibility)
        self.dose_mg.valueChanged.connect(self.update_concentration)
        self.bag_volume.valueChanged.connect(self.update_concentration)
        self.mrn.returnPressed.connect(self._mrn_return)
        self._protocol_changed()
        self._show_history()
        self.mrn.setFocus()

    # -- reading the form ------------------------------------------------------------------------

    def chosen_protocol(self) -> InfusionProtocol | None:
        data = self.protocol.currentData()
        return (
            self.protocols.get(str(data)) if data is not None and self.protocol.currentIndex() >= 0 else None
        )

    def selected_protocol(self) -> InfusionProtocol:
        protocol = self.chosen_protocol()
        if protocol is None:
            raise FormError("Choose the protocol (none is chosen for you)")
        return protocol

    def select_protocol(self, protocol_id: str) -> None:
        self.protocol.setCurrentIndex(self.protocol.findData(protocol_id))

    def _last_dose(self) -> date | None:
        if not self.has_last_dose.isChecked():
            return None
        chosen = self.last_dose.date()
        return date(chosen.year(), chosen.month(), chosen.day())

    # -- reacting to entries ---------------------------------------------------------------------

    def _protocol_changed(self) -> None:
        protocol = self.chosen_protocol()
        if protocol is not None:
            self.dose_mg.setValue(protocol.dose_mg)
            self.bag_volume.setValue(protocol.bag_volume_ml)
            # mL/h-dosed protocols have one dose; mg/h-dosed ones (rituximab) take the bag's dose
            self.dose_mg.setEnabled(protocol.dosed_in_mg_h)
            self.screening_note.setText(
                f"{len(protocol.screening)} questions after check-in, each from the protocol file "
                "(point at one for its source):"
            )
            self.screening_list.clear()
            for item in protocol.screening:
                entry = QListWidgetItem(f"{item.question}  ·  {short_source(item.source)}")
                entry.setToolTip(item.source)
                self.screening_list.addItem(entry)
            self.screening_list.show()
            self.screening_note.setToolTip(
                "\n".join(f"• {item.question}\n   {item.source}" for item in protocol.screening)
            )
        else:
            self.screening_list.clear()
            self.screening_list.hide()
            self.screening_note.setText("shown once the protocol is chosen")
            self.screening_note.setToolTip("")
        self.update_eligibility()
        self.update_concentration()
        self.update_gtin()

    def _mrn_return(self) -> None:
        # A bag scanned while the cursor is still in the MRN field: it is a bag, not an MRN
        text = self.mrn.text()
        if looks_like_scan(text):
            self.mrn.clear()
            self.scan.setText(text)
            self.apply_scan()

    def _mrn_entered(self) -> None:
        mrn = self.mrn.text().strip()
        if looks_like_scan(mrn):
            return
        self.history = self.chair.floor.floor.patient_history(mrn) if mrn else None
        self._show_history()
        self.update_eligibility()

    def _show_history(self) -> None:
        history = self.history
        if history is None:
            self.record_reactions.setText("")
            self.record_reactions.hide()
            return
        self.record_reactions.show()
        if history.serious_reactions:
            lines = "; ".join(
                f"grade {r.grade} on {self.chair.face.date_text(r.on)} ({r.protocol_id})"
                for r in history.serious_reactions
            )
            self.record_reactions.setText(f"⚠ Serious reactions in this record: {lines}")
            set_style_property(self.record_reactions, "ok", False)
        else:
            visits = len(history.infusion_dates)
            self.record_reactions.setText(
                f"✓ No serious reaction in this record ({visits} earlier infusion(s) here)"
            )
            set_style_property(self.record_reactions, "ok", True)

    def update_eligibility(self) -> None:
        protocol = self.chosen_protocol()
        if protocol is None:
            self.eligibility.setText("Choose the protocol")
            set_style_property(self.eligibility, "ok", False)
            return
        if not self.has_last_dose.isChecked() and not self.first_dose.isChecked():
            self.eligibility.setText("✗ Enter the last-dose date, or mark this the first dose")
            set_style_property(self.eligibility, "ok", False)
            return
        failures = eligibility_failures(
            protocol,
            self.prior_infusions.value(),
            self.prior_serious.isChecked(),
            self._last_dose(),
            clinic_today(self.chair.now(), self.chair.floor.floor.display_tz),
            self.history,
            self.first_dose.isChecked(),
        )
        if failures:
            self.eligibility.setText("✗ Not eligible: " + "; ".join(f.message for f in failures))
            set_style_property(self.eligibility, "ok", False)
        else:
            self.eligibility.setText("✓ Eligible for this protocol")
            set_style_property(self.eligibility, "ok", True)

    def update_concentration(self) -> None:
        protocol = self.chosen_protocol()
        volume = self.bag_volume.value()
        if protocol is None or volume <= 0:
            self.concentration.setText("")
            return
        concentration = self.dose_mg.value() / volume
        text = f"{concentration:.2f} mg/mL"
        limits = protocol.concentration
        if limits is None:
            self.concentration.setText(text)
            set_style_property(self.concentration, "ok", True)
            return
        inside = limits.allows(concentration)  # the domain's own check
        mark = "✓" if inside else "✗ outside"
        self.concentration.setText(
            f"{text}  {mark} the label's {limits.min_mg_ml:g}–{limits.max_mg_ml:g} mg/mL"
        )
        self.concentration.setToolTip(limits.source)
        set_style_property(self.concentration, "ok", inside)

    def update_gtin(self) -> None:
        gtin = self.gtin.text().strip()
        if not gtin:
            self.gtin_check.setText("")
            return
        matches = protocols_for_gtin(self.protocols, gtin)
        drugs = sorted({p.drug for p in matches})
        protocol = self.chosen_protocol()
        if not drugs:
            self.gtin_check.setText(f"✗ GTIN {gtin} is not a product in the protocol files")
            set_style_property(self.gtin_check, "ok", False)
        elif protocol is None:
            names = ", ".join(p.name for p in matches)
            self.gtin_check.setText(f"Bag: {', '.join(drugs)}. Choose one of: {names}")
            set_style_property(self.gtin_check, "ok", True)
        elif protocol.drug in drugs:
            self.gtin_check.setText(f"✓ Bag is {protocol.drug}")
            set_style_property(self.gtin_check, "ok", True)
        else:
            self.gtin_check.setText(f"✗ Bag is {', '.join(drugs)}, not {protocol.drug}")
            set_style_property(self.gtin_check, "ok", False)

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
            parts.append(f"expiry {self.chair.face.date_text(label.expiry)}")
        self.scan_result.setText("✓ Read " + ", ".join(p for p in parts if p))
        self.scan.clear()
        matches = protocols_for_gtin(self.protocols, label.gtin)
        if self.chosen_protocol() is None and len(matches) == 1:
            self.select_protocol(matches[0].id)  # the bag names its one protocol
        self.update_gtin()
        # The scanner's Enter goes on to the next thing to fill, never to "Check in"
        target = self.protocol if self.chosen_protocol() is None else self.dose_mg
        if not target.isEnabled():
            target = self.bag_volume
        self.focus_next_on(target)

    def build_commands(self, override: Override | None) -> list[Command]:
        if not self.mrn.text().strip() or not self.initials.text().strip():
            raise FormError("Enter the patient's MRN and initials")
        protocol = self.selected_protocol()
        if not self.has_last_dose.isChecked() and not self.first_dose.isChecked():
            raise FormError("Enter the last-dose date, or mark this the patient's first dose")
        if not self.lot.text().strip():
            raise FormError("Enter or scan the bag's lot")
        refrigerated = edited_datetime(self.refrigerated_until) if self.refrigerated.isChecked() else None
        return [
            CheckIn(
                chair=self.chair.name,
                patient_mrn=self.mrn.text().strip(),
                patient_initials=self.initials.text().strip(),
                protocol_id=protocol.id,
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
                first_dose=self.first_dose.isChecked(),
                dose_mg=float(self.dose_mg.value()),
                bag_refrigerated_until=refrigerated,
            )
        ]
