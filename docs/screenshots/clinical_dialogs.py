"""Regenerates docs/screenshots/checkin-dialog.png and reaction-dialog.png (issue 10).

    xvfb-run -s "-screen 0 1920x1080x24" .venv/bin/python docs/screenshots/clinical_dialogs.py

A real Floor on a temporary SQLite journal with an injected clock. Check-in: MRN typed (this record
holds a grade 3 reaction for it), the bag scanned, rituximab chosen, 1000 mg in 250 mL. Reaction: a
patient on ocrelizumab at 80 mL/h, grade 2 ticked with bronchospasm (the anaphylaxis cross-check shows).
"""

from __future__ import annotations

import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from PySide6.QtWidgets import QApplication, QDialog

from app.chairs import FloorController
from app.domain.clock import ManualClock
from app.domain.commands import (
    ChangeRate,
    CheckIn,
    GivePremedication,
    RecordReaction,
    RecordScreening,
    RecordVitals,
    StartInfusion,
)
from app.floor import Floor
from app.protocol_library import ProtocolLibrary
from app.store.journal import Journal
from app.ui.dialogs.checkin import CheckInDialog
from app.ui.dialogs.reaction import ReactionDialog
from app.ui.main_window import MainWindow
from app.ui.theme import apply_theme

HERE = Path(__file__).resolve().parent
VITALS = {"temperature_c": 36.8, "systolic_mmhg": 124.0, "heart_rate_bpm": 72.0, "spo2_percent": 98.0}


def settle(app: QApplication, dialog: QDialog) -> None:
    """As the station opens it: the dialog's own size, laid out."""
    for _ in range(5):
        app.processEvents()


def to_infusing(floor: Floor, clock: ManualClock, chair: str, mrn: str) -> str:
    protocol = floor.protocols["ocrevus-600-subsequent"]
    state = floor.check_in(
        CheckIn(
            chair=chair,
            patient_mrn=mrn,
            patient_initials="KL",
            protocol_id=protocol.id,
            bag_volume_ml=500,
            bag_lot="OCR-5521",
            bag_expiry=clock.now().date().replace(year=clock.now().year + 1),
            bag_prepared_at=clock.now(),
            prior_infusions=3,
            prior_serious_reaction=False,
            last_dose_on=clock.now().date().replace(year=clock.now().year - 1),
        ),
        "AB",
    )
    sid = state.session_id
    floor.execute(sid, RecordVitals(VITALS), "AB")
    floor.execute(sid, RecordScreening({i.id: i.acceptable_answer for i in protocol.screening}), "AB")
    for premed in protocol.premedications:
        floor.execute(
            sid, GivePremedication(premed.drug, premed.suggested_dose, premed.suggested_route), "AB"
        )
    clock.advance(minutes=31)
    floor.execute(sid, StartInfusion(), "AB")
    return sid


def main() -> int:
    app = QApplication(sys.argv)
    apply_theme(app)
    clock = ManualClock(datetime(2026, 11, 27, 8, 30, tzinfo=UTC))
    with tempfile.TemporaryDirectory() as folder:
        journal = Journal(Path(folder) / "chairside.sqlite", clock)
        floor = Floor(journal, ProtocolLibrary.load(), clock)
        # An earlier visit of MRN-0042 with a grade 3 reaction, in this station's record
        sid = to_infusing(floor, clock, "Chair 4", "MRN-0042")
        clock.advance(minutes=20)
        floor.execute(sid, RecordReaction(3, ("rigors", "hypotension")), "AB")
        controller = FloorController(floor, 4, clock)
        controller.set_nurse("AB")
        window = MainWindow(controller)
        window.resize(1366, 768)
        window.show()

        # -- check-in
        view = window.open_chair("Chair 1")
        dialog = CheckInDialog(controller.chair(1), view)
        dialog.mrn.setText("MRN-0042")
        dialog.mrn.editingFinished.emit()
        dialog.initials.setText("JD")
        dialog.prior_infusions.setValue(0)
        dialog.first_dose.setChecked(True)
        dialog.scan.setText("]d2010035024205121717270630" + "10RTX-2291|")
        dialog.apply_scan()
        dialog.select_protocol("rituximab-first")
        dialog.dose_mg.setValue(1000)
        dialog.bag_volume.setValue(250)
        dialog.show()
        settle(app, dialog)
        out = HERE / "checkin-dialog.png"
        dialog.grab().save(str(out))
        print(f"saved {out} ({dialog.width()}x{dialog.height()})")
        dialog.reject()

        # -- reaction: a patient on Chair 2 at 80 mL/h
        sid2 = to_infusing(floor, clock, "Chair 2", "MRN-0077")
        clock.advance(minutes=31)
        floor.execute(sid2, ChangeRate(80, "nurse", "step"), "AB")
        clock.advance(minutes=12)
        controller.tick()
        view = window.open_chair("Chair 2")
        reaction = ReactionDialog(controller.chair(2), view)
        reaction.choose(2, "flushing", "throat irritation", "bronchospasm")
        reaction.show()
        settle(app, reaction)
        out = HERE / "reaction-dialog.png"
        reaction.grab().save(str(out))
        print(f"saved {out} ({reaction.width()}x{reaction.height()})")
        # Saved as it is: the domain refuses bronchospasm at grade 2 and offers the override
        reaction.save()
        reaction.show_override()
        settle(app, reaction)
        out = HERE / "reaction-dialog-refused.png"
        reaction.grab().save(str(out))
        print(f"saved {out} ({reaction.width()}x{reaction.height()})")
        reaction.reject()
        controller.close()
        window.close()
        journal.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
