"""The check-in dialog as a new user meets it (issue 10, points 1, 6 and 14): nothing chosen for the
nurse, a scanner's Enter never submits, the bag's GTIN matched to the drug, the concentration checked
against the label, the last dose or "first dose" required, serious reactions read from the record."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.domain.clock import ManualClock
from app.domain.commands import (
    Discharge,
    Discontinue,
    Override,
    PauseInfusion,
    RecordReaction,
    RecordVitals,
    ResumeInfusion,
)
from app.domain.events import EventType
from app.floor import Floor
from app.ui.dialogs.checkin import CheckInDialog
from tests.conftest import ChairScript
from tests.ui.helpers import ChairWindow

pytestmark = pytest.mark.qt_log_ignore("does not support propagateSizeHints")

OCREVUS_SCAN = "]d2010035024215001917270630" + "10OCR-7731|"  # GTIN 00350242150019: ocrelizumab
TYSABRI_SCAN = "]d2010036440600801617270630" + "10TYS-0101|"  # GTIN 00364406008016: natalizumab


class Station(ChairWindow):
    def open_check_in(self) -> CheckInDialog:
        self.qtbot.mouseClick(self.view.next_button, Qt.MouseButton.LeftButton)
        dialog = self.view.current_dialog
        assert isinstance(dialog, CheckInDialog) and dialog.isVisible()
        return dialog

    def scan(self, dialog: CheckInDialog, code: str) -> None:
        """The scanner types the code and ends it with Enter, into the field that has the focus."""
        self.qtbot.mouseClick(dialog.scan, Qt.MouseButton.LeftButton)
        dialog.scan.setFocus()
        self.qtbot.keyClicks(dialog.scan, code)
        self.qtbot.keyClick(dialog.scan, Qt.Key.Key_Return)

    def fill_patient(self, dialog: CheckInDialog, mrn: str = "MRN-0042") -> None:
        self.qtbot.keyClicks(dialog.mrn, mrn)
        self.qtbot.keyClick(dialog.mrn, Qt.Key.Key_Return)
        self.qtbot.keyClicks(dialog.initials, "jd")

    def save(self, dialog: CheckInDialog) -> None:
        self.qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)


@pytest.fixture
def station(qtbot: QtBot, floor: Floor, clock: ManualClock) -> Iterator[Station]:
    s = Station(qtbot, floor, clock)
    try:
        yield s
    finally:
        if s.view.current_dialog is not None:  # an open dialog would warn in later tests
            s.view.current_dialog.reject()
        s.controller.close()


def test_no_protocol_is_chosen_and_the_scanners_enter_moves_on_without_submitting(station: Station) -> None:
    s = station
    dialog = s.open_check_in()
    assert dialog.protocol.currentIndex() == -1
    assert dialog.chosen_protocol() is None
    s.qtbot.keyClicks(dialog.mrn, "MRN-0042")
    s.scan(dialog, OCREVUS_SCAN)
    # Nothing was submitted: the dialog is open, no session exists, the journal is empty
    assert dialog.isVisible()
    assert s.chair.state is None
    assert s.floor.journal.session_ids() == []
    # The scan was read and the focus moved on, to the protocol still to be chosen (three fit the bag)
    assert dialog.gtin.text() == "00350242150019" and dialog.lot.text() == "OCR-7731"
    assert dialog.focusWidget() is dialog.protocol
    assert dialog.chosen_protocol() is None
    assert "Bag: ocrelizumab. Choose one of:" in dialog.gtin_check.text()
    # Enter in a plain field moves to the next field, and still records nothing
    dialog.initials.setFocus()
    s.qtbot.keyClicks(dialog.initials, "jd")
    s.qtbot.keyClick(dialog.initials, Qt.Key.Key_Return)
    assert dialog.isVisible() and s.chair.state is None
    assert dialog.focusWidget() is not dialog.initials
    # Saving without a protocol says so
    dialog.has_last_dose.setChecked(True)
    s.save(dialog)
    assert dialog.isVisible() and "Choose the protocol" in dialog.refusal_label.text()
    # A complete form, and the bag scanned last: its Enter still does not check the patient in
    dialog.select_protocol("ocrevus-600-subsequent")
    dialog.prior_infusions.setValue(2)
    s.scan(dialog, OCREVUS_SCAN)
    assert dialog.isVisible() and s.chair.state is None
    assert dialog.focusWidget() is not dialog.scan
    s.save(dialog)
    assert not dialog.isVisible() and s.chair.state is not None


def test_a_bag_scanned_into_the_mrn_field_is_read_as_the_bag(station: Station) -> None:
    s = station
    dialog = s.open_check_in()
    s.qtbot.keyClicks(dialog.mrn, TYSABRI_SCAN)
    s.qtbot.keyClick(dialog.mrn, Qt.Key.Key_Return)
    assert dialog.isVisible() and s.chair.state is None
    assert dialog.mrn.text() == ""
    assert dialog.lot.text() == "TYS-0101"


def test_the_gtin_of_a_drug_with_one_protocol_chooses_it(station: Station) -> None:
    s = station
    dialog = s.open_check_in()
    s.scan(dialog, TYSABRI_SCAN)
    assert dialog.chosen_protocol() is not None
    assert dialog.chosen_protocol().id == "natalizumab-300"  # type: ignore[union-attr]
    assert dialog.gtin_check.text() == "✓ Bag is natalizumab"
    assert s.chair.state is None


def test_a_bag_of_another_drug_is_refused_unless_overridden_with_a_reason(station: Station) -> None:
    s = station
    dialog = s.open_check_in()
    s.fill_patient(dialog)
    dialog.select_protocol("rituximab-first")
    dialog.first_dose.setChecked(True)
    s.scan(dialog, OCREVUS_SCAN)
    assert dialog.gtin_check.text() == "✗ Bag is ocrelizumab, not rituximab"
    s.save(dialog)
    assert dialog.isVisible() and s.chair.state is None
    assert "GTIN 00350242150019 is ocrelizumab, not rituximab" in dialog.refusal_label.text()
    assert dialog.override_button.isVisible()
    s.qtbot.mouseClick(dialog.override_button, Qt.MouseButton.LeftButton)
    s.qtbot.mouseClick(dialog.override_save, Qt.MouseButton.LeftButton)  # no reason yet
    assert s.chair.state is None and "needs who decides and why" in dialog.refusal_label.text()
    s.qtbot.keyClicks(dialog.override_reason, "pharmacy relabelled biosimilar, checked by PH")
    s.qtbot.mouseClick(dialog.override_save, Qt.MouseButton.LeftButton)
    state = s.chair.state
    assert state is not None and not dialog.isVisible()
    checked_in = state.events[0]
    assert checked_in.data["overrides"][0]["guard"] == "bag_gtin_mismatch"
    assert checked_in.data["overrides"][0]["reason"] == "pharmacy relabelled biosimilar, checked by PH"


def test_rituximab_dose_and_bag_volume_give_the_concentration_refused_outside_the_label(
    station: Station,
) -> None:
    s = station
    dialog = s.open_check_in()
    s.fill_patient(dialog)
    dialog.select_protocol("rituximab-first")
    dialog.first_dose.setChecked(True)
    s.qtbot.keyClicks(dialog.lot, "RTX-1")
    assert dialog.dose_mg.isEnabled()  # mg/h-dosed: the bag's dose is entered
    dialog.dose_mg.setValue(1000)
    dialog.bag_volume.setValue(200)
    assert dialog.concentration.text() == "5.00 mg/mL  ✗ outside the label's 1–4 mg/mL"
    s.save(dialog)
    assert s.chair.state is None
    assert "5.00 mg/mL; the label allows 1-4 mg/mL" in dialog.refusal_label.text()
    assert not dialog.override_button.isVisible()  # not overridable
    dialog.bag_volume.setValue(250)
    assert dialog.concentration.text() == "4.00 mg/mL  ✓ the label's 1–4 mg/mL"
    s.save(dialog)
    state = s.chair.state
    assert state is not None
    assert state.bag is not None and (state.bag.dose_mg, state.bag.volume_ml) == (1000, 250)
    # 50 mg/h at 4 mg/mL: the pump starts at 12.5 mL/h, not the 25 mL/h of the nominal 2 mg/mL
    assert state.steps[0].rate_ml_h == pytest.approx(12.5)


def test_a_last_dose_date_or_first_dose_is_required(station: Station) -> None:
    s = station
    dialog = s.open_check_in()
    s.fill_patient(dialog)
    dialog.select_protocol("ocrevus-600-subsequent")
    dialog.prior_infusions.setValue(2)
    s.qtbot.keyClicks(dialog.lot, "OCR-1")
    assert dialog.eligibility.text() == "✗ Enter the last-dose date, or mark this the first dose"
    s.save(dialog)
    assert s.chair.state is None
    assert "last-dose date, or mark this the patient's first dose" in dialog.refusal_label.text()
    dialog.has_last_dose.setChecked(True)
    assert dialog.eligibility.text() == "✓ Eligible for this protocol"
    s.save(dialog)
    assert s.chair.state is not None


def test_screening_items_of_the_chosen_protocol_show_their_source(station: Station) -> None:
    s = station
    dialog = s.open_check_in()
    assert "once the protocol is chosen" in dialog.screening_note.text()
    dialog.select_protocol("ocrevus-600-subsequent")
    protocol = s.floor.protocols["ocrevus-600-subsequent"]
    assert f"{len(protocol.screening)} questions after check-in" in dialog.screening_note.text()
    carrier = next(i for i in protocol.screening if i.id == "hbv_carrier")
    items = [dialog.screening_list.item(i) for i in range(dialog.screening_list.count())]
    assert len(items) == len(protocol.screening)
    entry = next(i for i in items if i.text().startswith(carrier.question))
    assert entry.toolTip() == carrier.source  # each item's source, in full
    assert "seed 004" in entry.text()


def test_serious_reactions_come_from_the_record_for_the_mrn(
    station: Station, floor: Floor, clock: ManualClock
) -> None:
    # An earlier session at this station: grade 3 reaction, then discharged
    earlier = ChairScript(floor, clock, chair="Chair 2", nurse="CD")
    earlier.to_infusing("ocrevus-600-subsequent")
    clock.advance(minutes=20)
    earlier.run(RecordReaction(3, ("rigors",)))
    earlier.run(ResumeInfusion())
    clock.advance(minutes=30)
    earlier.run(PauseInfusion("patient asked to stop"))
    earlier.run(RecordVitals({"heart_rate_bpm": 80}))
    assert earlier.state.reactions[0].grade == 3
    earlier.run(Discontinue("patient asked to stop"))
    earlier.run(Discharge(override=Override("CD", "left against advice")))
    assert EventType.DISCHARGED in [e.type for e in earlier.state.events]

    s = station
    dialog = s.open_check_in()
    s.fill_patient(dialog)
    assert dialog.record_reactions.text().startswith("⚠ Serious reactions in this record: grade 3 on ")
    dialog.select_protocol("ocrevus-600-short")
    dialog.prior_infusions.setValue(3)
    dialog.has_last_dose.setChecked(True)
    assert "not for patients with a prior serious infusion reaction: grade 3 reaction on" in (
        dialog.eligibility.text()
    )
    dialog.mrn.clear()  # another patient: a clean record
    s.qtbot.keyClicks(dialog.mrn, "MRN-9999")
    s.qtbot.keyClick(dialog.mrn, Qt.Key.Key_Return)
    assert dialog.record_reactions.text().startswith("✓ No serious reaction in this record")


def test_today_for_eligibility_is_the_clinics_day_not_the_computers(
    station: Station, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 16 point 9: one `today`, in the station's display zone, for the dialog and `decide`."""
    import time
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from PySide6.QtCore import QDate

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    s = station
    s.floor.display_tz = ZoneInfo("Pacific/Kiritimati")  # UTC+14: already 6 January there
    s.clock.set(datetime(2026, 1, 5, 12, 0, tzinfo=UTC))
    dialog = s.open_check_in()
    s.fill_patient(dialog)
    dialog.select_protocol("ocrevus-600-subsequent")
    dialog.prior_infusions.setValue(2)
    dialog.has_last_dose.setChecked(True)
    dialog.last_dose.setDate(QDate(2025, 8, 9))  # 150 days before 6 January, 149 before 5 January
    assert dialog.eligibility.text() == "✓ Eligible for this protocol"
    monkeypatch.delenv("TZ")
    time.tzset()
