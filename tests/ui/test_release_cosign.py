"""After anaphylaxis, a discharge before the observation ends on a prescriber's release: the second nurse
co-signs by signing in (badge, then PIN) in the real discharge dialog, on a station started from its
configuration file, and the journal holds their account. Nobody can type a co-signer's name."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pypdf
import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QLineEdit
from pytestqt.qtbot import QtBot

from app.accounts.roles import Role
from app.accounts.store import STREAM
from app.chairs import ChairController, FloorController
from app.domain.clock import ManualClock
from app.domain.commands import (
    GivePremedication,
    RecordReaction,
    RecordScreening,
    RecordVitals,
    ResolveSymptoms,
    StartInfusion,
)
from app.domain.events import Discharged, EventType
from app.export.api import ExportRequest, run_export
from app.export.hl7 import read_hl7_file
from app.export.hl7_check import parse_validated
from app.export.records import row_dicts
from app.export.shifts import ExportRange, LocalTime
from app.export.tabular import read_csv_rows
from app.station.config import load_station_config
from app.station.start import OpenFloor, open_floor, station_for
from app.ui.dialogs.infusion import DischargeDialog
from app.ui.main_window import MainWindow
from app.ui.signin import SignInDialog
from app.ui.timeline import describe as timeline_line
from tests.accounts.support import PIN, sign_in_at, station_accounts
from tests.conftest import BASELINE_VITALS
from tests.ui.helpers import check_in_command

pytestmark = pytest.mark.qt_log_ignore("does not support propagateSizeHints")


class ConfiguredStation:
    """A station started as `chairside` starts one: its configuration file, its database's lock, the
    floor, the chairs the file names; accounts for two nurses and an administrator; the main window."""

    def __init__(self, qtbot: QtBot, folder: Path) -> None:
        config_path = folder / "station.toml"
        config_path.write_text(
            '[station]\nname = "Pod B"\n\n[[chairs]]\nname = "Chair 1"\n', encoding="utf-8"
        )
        config = load_station_config(config_path)
        self.qtbot = qtbot
        self.clock = ManualClock()
        self.start = self.clock.now()
        self.opened: OpenFloor = open_floor(folder / "station.sqlite", self.clock)
        accounts = station_accounts(self.opened.floor.journal, "RN-AB", "RN-CD")
        accounts.add("ADM-1", "Ann Admin", Role.ADMIN, PIN, badge="BADGE-ADM-1", by="test")
        self.controller = FloorController(
            station_for(self.opened.floor, config, self.clock), accounts=accounts
        )
        self.window = MainWindow(self.controller, idle_lock_min=24 * 60)
        qtbot.addWidget(self.window)
        self.window.resize(1366, 768)
        self.window.show()
        self.chair: ChairController = self.controller.chair("Chair 1")
        self.view = self.window.open_chair(self.chair.name)
        self.closed = False

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.view.current_dialog is not None:
            self.view.current_dialog.reject()
        self.controller.close()
        self.opened.close()

    def advance(self, minutes: float) -> None:
        self.clock.advance(minutes=minutes)
        self.controller.tick()

    def anaphylaxis_resolved(self) -> None:
        """Checked in, infusing, a grade 4 at 40 min, resolved, vitals after: 80 min later only the
        anaphylaxis observation holds the patient."""
        chair = self.chair
        chair.check_in(check_in_command(chair.name, self.clock))
        state = chair.state
        assert state is not None and state.protocol is not None
        chair.execute(RecordVitals(dict(BASELINE_VITALS)))
        chair.execute(RecordScreening({i.id: i.acceptable_answer for i in state.protocol.screening}))
        for premed in state.protocol.premedications:
            chair.execute(GivePremedication(premed.drug, premed.suggested_dose, premed.suggested_route))
        self.advance(30)
        chair.execute(StartInfusion())
        self.advance(40)
        chair.execute(RecordReaction(grade=4, signs=("anaphylaxis",)))
        self.advance(15)
        chair.execute(ResolveSymptoms())
        chair.execute(RecordVitals(dict(BASELINE_VITALS)))
        self.advance(80)

    def discharge_dialog(self) -> DischargeDialog:
        self.qtbot.mouseClick(self.view.discharge_button, Qt.MouseButton.LeftButton)
        dialog = self.view.current_dialog
        assert isinstance(dialog, DischargeDialog) and dialog.isVisible()
        return dialog


@pytest.fixture
def station(qtbot: QtBot, tmp_path: Path) -> Iterator[ConfiguredStation]:
    s = ConfiguredStation(qtbot, tmp_path)
    try:
        yield s
    finally:
        s.close()


def scan(qtbot: QtBot, badge: str) -> SignInDialog:
    """In the open sign-in dialog: a badge scan (the scanner types it and Enter), then the PIN."""
    dialog = QApplication.activeModalWidget()
    assert isinstance(dialog, SignInDialog), dialog
    qtbot.keyClicks(dialog.id_entry, badge)
    qtbot.keyClick(dialog.id_entry, Qt.Key.Key_Return)
    qtbot.keyClicks(dialog.pin_entry, PIN)
    qtbot.keyClick(dialog.pin_entry, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not dialog.busy, timeout=30000)  # the PIN is checked on a worker thread
    return dialog


def test_the_second_nurse_signs_in_to_co_sign_and_the_journal_holds_their_account(
    qtbot: QtBot, station: ConfiguredStation, tmp_path: Path
) -> None:
    s = station
    sign_in_at(qtbot, s.controller, s.window.nurse_bar.sign_in_button, "BADGE-RN-AB")
    s.anaphylaxis_resolved()
    dialog = s.discharge_dialog()
    # Typing a co-signer's name is no longer possible: the only text fields are the prescriber's name
    # and the release (the override's fields are the refusal panel's, outside the form)
    typed = [e for e in dialog.form_area.findChildren(QLineEdit) if e.objectName() != "qt_spinbox_lineedit"]
    assert typed == [dialog.prescriber, dialog.release_note]  # (the spin box's is the discharge time's)
    assert dialog.cosigner_label.text() == "signs in when you save (badge or ID, and PIN)"
    qtbot.keyClicks(dialog.prescriber, "Dr Osei")
    qtbot.keyClicks(dialog.release_note, "reviewed at the bedside, well")

    seen: list[str] = []

    def the_discharging_nurse_tries_to_co_sign() -> None:
        signing = scan(qtbot, "BADGE-RN-AB")
        QTimer.singleShot(0, lambda: the_second_nurse_co_signs(signing))

    def the_second_nurse_co_signs(signing: SignInDialog) -> None:
        try:
            assert QApplication.activeModalWidget() is signing and signing.isVisible()
            seen.append(signing.problem.text())
            scan(qtbot, "BADGE-RN-CD")
        finally:
            if signing.isVisible():
                signing.reject()  # never leave a modal dialog waiting for a test that has failed

    QTimer.singleShot(0, the_discharging_nurse_tries_to_co_sign)
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert seen == ["⚠ RN-AB is the nurse recording the discharge: a second nurse co-signs"]
    assert not dialog.isVisible(), dialog.refusal_label.text()

    journal = s.opened.floor.journal
    (session_id,) = journal.session_ids()
    discharged = journal.events(session_id)[-1]
    release = discharged.payload_as(Discharged).prescriber_release
    assert discharged.actor == "RN-AB" and release is not None
    assert (release.prescriber, release.cosigned_by, release.cosigner_name) == (
        "Dr Osei",
        "RN-CD",
        "Nurse RN-CD",
    )
    signed = [e.event for e in journal.entries(STREAM) if e.type == EventType.SIGNED_IN]
    assert [(e.actor, e.data["purpose"]) for e in signed][-2:] == [
        ("RN-AB", "co-sign release"),
        ("RN-CD", "co-sign release"),
    ]
    assert s.controller.nurse == "RN-AB"  # the co-signer signed for the entry, not in at the station

    # Every reader names the co-signer's account through app.domain.describe: the chair's timeline
    # line, and the shift's CSV and PDF exported from the station's journal
    words = "Dr Osei's release (reviewed at the bedside, well), co-signed by RN-CD (Nurse RN-CD)"
    assert f"Discharged on {words}" in timeline_line(discharged)
    s.close()
    exported = ExportRange(
        s.start - timedelta(hours=1), s.clock.now() + timedelta(hours=1), "the test's shift"
    )
    local = LocalTime.named("UTC")
    for fmt in ("csv", "pdf", "hl7"):
        run_export(
            ExportRequest(tmp_path / "station.sqlite", exported, fmt, tmp_path / f"shift.{fmt}", local=local)
        )
    rows = row_dicts(read_csv_rows(tmp_path / "shift.csv"))
    (row,) = [r for r in rows if r["event_type"] == "discharged"]
    assert row["summary"] == f"discharged on {words}"
    pages = [page.extract_text() for page in pypdf.PdfReader(str(tmp_path / "shift.pdf")).pages]
    assert f"discharged on {words}" in re.sub(r"\s+", " ", " ".join(pages))
    messages = read_hl7_file(tmp_path / "shift.hl7")
    for message in messages:
        parse_validated(message)  # hl7apy strict, v2.6
    (note,) = [m for m in messages if f"NTE|1||discharged on {words}\r" in m]
    assert "ORU^R01^ORU_R01" in note
