"""The recording dialogs through the chair view: vital signs refused as implausible keep the dialog and
what was typed; a correction is a new entry referencing the old one; switching nurse is one action and
every later entry carries the new identity."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.chairs import ChairController, FloorController
from app.domain.clock import ManualClock
from app.domain.commands import GivePremedication, RecordScreening
from app.domain.events import Event, EventType
from app.domain.vitals import implausible_values
from app.floor import Floor
from app.ui.chair_view import ChairView
from app.ui.dialogs.common import CommandDialog
from app.ui.dialogs.correction import CorrectionDialog, NoteDialog
from app.ui.dialogs.premedication import PremedicationDialog
from app.ui.dialogs.vitals import VitalsDialog
from app.ui.main_window import MainWindow
from tests.accounts.support import sign_in_at, station_accounts
from tests.ui.helpers import check_in_command

# the offscreen platform says so whenever a dialog opens
pytestmark = pytest.mark.qt_log_ignore("does not support propagateSizeHints")


class Station:
    def __init__(self, qtbot: QtBot, floor: Floor, clock: ManualClock) -> None:
        self.qtbot = qtbot
        self.floor = floor
        self.clock = clock
        self.controller = FloorController(
            floor, 2, clock, accounts=station_accounts(floor.journal, "AB", "CD")
        )
        self.window = MainWindow(
            self.controller, idle_lock_min=24 * 60
        )  # jumps in time are not idleness here
        qtbot.addWidget(self.window)
        self.window.resize(1366, 768)
        self.window.show()
        self.chair: ChairController = self.controller.chair(1)
        self.view: ChairView = self.window.open_chair(self.chair.name)

    def identify(self, initials: str) -> None:
        """What the nurse does: sign in at the station (badge or ID, then PIN)."""
        sign_in_at(self.qtbot, self.controller, self.window.nurse_bar.sign_in_button, initials)

    def check_in(self) -> None:
        self.chair.check_in(check_in_command(self.chair.name, self.clock))

    def click(self, button: object) -> CommandDialog:
        self.qtbot.mouseClick(button, Qt.MouseButton.LeftButton)  # type: ignore[arg-type]
        dialog = self.view.current_dialog
        assert dialog is not None and dialog.isVisible()
        return dialog

    def save(self, dialog: CommandDialog) -> None:
        self.qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)

    def events(self) -> list[Event]:
        state = self.chair.state
        assert state is not None
        return self.floor.journal.events(state.session_id)

    def select_entry(self, seq: int) -> None:
        """Click the entry in the record (newest first), as the nurse does."""
        model = self.view.timeline_model
        row = next(r for r in range(model.rowCount()) if model.event_at(r).seq == seq)
        rect = self.view.timeline.visualRect(model.index(row))
        self.qtbot.mouseClick(self.view.timeline.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        selected = self.view.timeline.selected_event()
        assert selected is not None and selected.seq == seq


@pytest.fixture
def station(qtbot: QtBot, floor: Floor, clock: ManualClock) -> Iterator[Station]:
    s = Station(qtbot, floor, clock)
    yield s
    s.controller.close()


def test_implausible_vitals_are_refused_with_the_domains_message_and_the_entries_kept(
    station: Station, floor: Floor
) -> None:
    station.identify("ab")
    station.check_in()
    dialog = station.click(station.view.vitals_button)
    assert isinstance(dialog, VitalsDialog)
    typed = {"temperature_c": "36.9", "systolic_mmhg": "124", "diastolic_mmhg": "78", "heart_rate_bpm": "720"}
    for key, text in typed.items():
        station.qtbot.keyClicks(dialog.vitals.fields[key], text)
    before = len(station.events())

    station.save(dialog)

    assert dialog.isVisible(), "a refused entry keeps the dialog open"
    assert dialog.refusal.isVisible()
    [message] = implausible_values({k: float(v) for k, v in typed.items()}, floor.vital_limits)
    assert message.startswith("Heart rate (/min) 720 is outside the plausible range")
    assert message in dialog.refusal_label.text(), "the domain's own words"
    assert not dialog.override_button.isVisible(), "a typing error is fixed, not overridden"
    assert {k: dialog.vitals.fields[k].text() for k in typed} == typed, "nothing typed is lost"
    assert len(station.events()) == before, "nothing recorded"

    field = dialog.vitals.fields["heart_rate_bpm"]
    field.clear()
    station.qtbot.keyClicks(field, "72")
    station.save(dialog)

    assert not dialog.isVisible()
    recorded = station.events()[-1]
    assert recorded.type is EventType.VITALS_RECORDED
    assert recorded.data["values"]["heart_rate_bpm"] == 72
    assert recorded.data["values"]["temperature_c"] == 36.9
    assert recorded.actor == "AB"


def test_a_correction_is_a_new_entry_that_references_the_old_one(station: Station) -> None:
    station.identify("ab")
    station.check_in()
    [checked_in] = station.events()
    assert checked_in.data["bag"]["lot"] == "LOT-H1234"
    station.select_entry(checked_in.seq)
    dialog = station.click(station.view.correct_button)
    assert isinstance(dialog, CorrectionDialog)
    assert dialog.target.seq == checked_in.seq
    station.qtbot.keyClicks(dialog.fields["bag_lot"], "LOT-H1243")

    station.save(dialog)  # no reason yet
    assert dialog.isVisible() and "reason" in dialog.refusal_label.text()

    station.qtbot.keyClicks(dialog.reason, "lot digits transposed")
    station.save(dialog)

    assert not dialog.isVisible()
    first, correction = station.events()
    assert first == checked_in, "the old entry is untouched"
    assert correction.type is EventType.CORRECTION_RECORDED
    assert correction.seq > checked_in.seq
    assert correction.data["target_seq"] == checked_in.seq
    assert correction.data["target_type"] == str(EventType.CHECKED_IN)
    assert correction.data["corrected"] == {"bag_lot": "LOT-H1243"}
    assert correction.data["reason"] == "lot digits transposed"
    assert correction.actor == "AB"
    state = station.chair.state
    assert state is not None and state.bag is not None and state.bag.lot == "LOT-H1243"
    assert station.view.timeline_model.event_at(0).seq == correction.seq, "the record shows it, newest first"


def test_switching_nurse_is_one_action_and_every_later_entry_carries_the_new_identity(
    station: Station,
) -> None:
    station.identify("ab")
    station.check_in()
    state = station.chair.state
    assert state is not None and state.protocol is not None
    station.chair.execute(RecordScreening({i.id: i.acceptable_answer for i in state.protocol.screening}))
    switch_after = station.events()[-1].seq
    assert {e.actor for e in station.events()} == {"AB"}

    station.identify("BADGE-CD")  # one action: a badge scan, then the PIN

    assert station.window.nurse_bar.label.text() == "Nurse: CD (nurse)"
    assert station.controller.nurse == "CD"
    dialog = station.click(station.view.premed_button)
    assert isinstance(dialog, PremedicationDialog)
    dialog.give_all()
    station.save(dialog)
    assert not dialog.isVisible(), dialog.refusal_label.text()
    dialog = station.click(station.view.vitals_button)
    assert isinstance(dialog, VitalsDialog)
    station.qtbot.keyClicks(dialog.vitals.fields["heart_rate_bpm"], "70")
    station.save(dialog)
    assert not dialog.isVisible(), dialog.refusal_label.text()
    station.view.timeline.clearSelection()
    dialog = station.click(station.view.note_button)
    assert isinstance(dialog, NoteDialog)
    station.qtbot.keyClicks(dialog.text, "patient asked for a blanket")
    station.save(dialog)
    assert not dialog.isVisible(), dialog.refusal_label.text()
    station.chair.execute(GivePremedication("ondansetron", "4 mg", "IV"))  # any command path, same identity

    later = [e for e in station.events() if e.seq > switch_after]
    assert {e.type for e in later} >= {
        EventType.PREMEDICATION_GIVEN,
        EventType.VITALS_RECORDED,
        EventType.NOTE_ADDED,
    }
    assert [e.actor for e in later] == ["CD"] * len(later), "no entry after the switch says AB"
    assert all(e.actor == "AB" for e in station.events() if e.seq <= switch_after), "earlier ones keep AB"
