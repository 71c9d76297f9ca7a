"""The clinical rules of issue 10 as the nurse meets them on the chair view and in its dialogs:
premedication doses, windows and repeats; vital signs due, overdue and out of range; baseline vitals
before the start; mL/h with mg/h for rituximab; nurse assignment and handover; a back-dated reaction
onset taking the rate recorded then."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.domain.clock import ManualClock
from app.domain.commands import ChangeRate, GivePremedication, RecordScreening, RecordVitals, StartInfusion
from app.domain.events import EventType
from app.domain.phase import Phase
from app.floor import Floor
from app.ui.dialogs.common import CommandDialog
from app.ui.dialogs.infusion import StartInfusionDialog
from app.ui.dialogs.nurse import AssignNurseDialog, HandOverDialog
from app.ui.dialogs.premedication import PremedicationDialog
from app.ui.dialogs.reaction import ReactionDialog
from app.ui.dialogs.screening import ScreeningDialog
from app.ui.dialogs.vitals import VitalsDialog
from app.ui.overview import Column
from tests.conftest import BASELINE_VITALS, ChairScript
from tests.ui.helpers import ChairWindow, check_in_command

pytestmark = pytest.mark.qt_log_ignore("does not support propagateSizeHints")


class Station(ChairWindow):
    def click(self, button: object) -> CommandDialog:
        self.qtbot.mouseClick(button, Qt.MouseButton.LeftButton)  # type: ignore[arg-type]
        dialog = self.view.current_dialog
        assert dialog is not None and dialog.isVisible()
        return dialog

    def save(self, dialog: CommandDialog, *, expect_refusal: bool = False) -> None:
        self.qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
        if expect_refusal:
            assert dialog.isVisible() and dialog.refusal.isVisible()
        else:
            assert not dialog.isVisible(), dialog.refusal_label.text()

    def advance(self, minutes: float) -> None:
        self.clock.advance(minutes=minutes)
        self.controller.tick()

    def countdown_names(self) -> list[str]:
        self.view.refresh()
        return [name.text() for name, _v in self.view.countdown_labels if not name.isHidden()]

    def tile_next(self) -> str:
        model = self.window.model
        return str(model.data(model.index(0, Column.NEXT)))

    def screened(self, protocol_id: str = "ocrevus-600-subsequent", vitals: bool = True) -> None:
        self.chair.check_in(check_in_command(self.chair.name, self.clock, protocol_id))
        state = self.chair.state
        assert state is not None and state.protocol is not None
        if vitals:
            self.chair.execute(RecordVitals(dict(BASELINE_VITALS)))
        self.chair.execute(RecordScreening({i.id: i.acceptable_answer for i in state.protocol.screening}))

    def infusing(self) -> None:
        self.screened()
        state = self.chair.state
        assert state is not None and state.protocol is not None
        for premed in state.protocol.premedications:
            self.chair.execute(GivePremedication(premed.drug, premed.suggested_dose, premed.suggested_route))
        self.advance(30)
        self.chair.execute(StartInfusion())


@pytest.fixture
def station(qtbot: QtBot, floor: Floor, clock: ManualClock) -> Iterator[Station]:
    s = Station(qtbot, floor, clock)
    try:
        yield s
    finally:
        if s.view.current_dialog is not None:
            s.view.current_dialog.reject()
        s.controller.close()


def test_premedication_dose_and_route_given_are_checked_and_outside_the_range_needs_a_reason(
    station: Station,
) -> None:
    s = station
    s.screened()
    dialog = s.click(s.view.next_button)
    assert isinstance(dialog, PremedicationDialog)
    antihistamine = "diphenhydramine (or another antihistamine)"
    row = dialog.row(antihistamine)
    assert row.dose.text() == "50 mg"  # a dose to confirm, never the template's "25-50 mg"
    assert [row.route.itemText(i) for i in range(row.route.count())] == ["IV", "PO"]
    dialog.give_all()
    dialog.give(antihistamine, dose="25-50 mg")
    assert row.check.text().startswith("✗ enter the dose given in mg")
    s.save(dialog, expect_refusal=True)
    assert not dialog.override_button.isVisible()  # a range is not a dose: fix it, no override
    dialog.give(antihistamine, dose="75 mg", route="PO")
    assert row.check.text() == "✗ outside 25–50 mg"
    s.save(dialog, expect_refusal=True)
    assert "75 mg is outside the protocol's 25-50 mg" in dialog.refusal_label.text()
    s.qtbot.mouseClick(dialog.override_button, Qt.MouseButton.LeftButton)
    s.qtbot.keyClicks(dialog.override_reason, "prescriber ordered 75 mg (weight 110 kg)")
    s.qtbot.mouseClick(dialog.override_save, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    state = s.chair.state
    assert state is not None
    given = state.premedication_given(antihistamine)
    assert given is not None and (given.dose, given.route) == ("75 mg", "PO")
    event = next(e for e in state.events if e.seq == given.seq)
    assert event.data["overrides"][0]["reason"] == "prescriber ordered 75 mg (weight 110 kg)"


def test_each_premed_window_counts_down_and_a_closed_window_asks_for_a_repeat_not_a_start(
    station: Station,
) -> None:
    s = station
    s.screened()
    dialog = s.click(s.view.next_button)
    assert isinstance(dialog, PremedicationDialog)
    dialog.give_all()
    s.save(dialog)
    names = s.countdown_names()
    # the required premeds: methylprednisolone's window closes at 120 min, the antihistamine's at 60 min
    assert "Diphenhydramine window closes" in names
    assert "Methylprednisolone window closes" in names
    s.advance(61)
    text = s.view.next_button.text()
    assert text.startswith("Repeat premeds: diphenhydramine (or another antihistamine) was given 61 min ago")
    assert "Start" not in text  # the guard would refuse a start: the banner does not suggest one
    # the repeat dose goes in through the same dialog, and the start is offered again
    dialog = s.click(s.view.next_button)
    assert isinstance(dialog, PremedicationDialog)
    drug = "diphenhydramine (or another antihistamine)"
    assert dialog.row(drug).given.text() == "Repeat"
    dialog.give(drug)
    s.save(dialog)
    state = s.chair.state
    assert state is not None
    repeats = [e for e in state.events if e.type is EventType.PREMEDICATION_GIVEN and e.data["repeat"]]
    assert len(repeats) == 1
    assert any("(repeat dose)" in t for t in s.view.timeline_model.texts())
    s.advance(30)
    assert s.view.next_button.text() == "Start infusion at 40 mL/h now"


def test_baseline_vitals_before_the_start_the_start_dialog_shows_the_guard_and_its_override(
    station: Station,
) -> None:
    s = station
    s.screened(vitals=False)
    assert "⚠ Vitals OVERDUE (baseline)" in s.countdown_names() or "Vitals due (baseline)" in (
        s.countdown_names()
    )
    state = s.chair.state
    assert state is not None and state.protocol is not None
    for premed in state.protocol.premedications:
        s.chair.execute(GivePremedication(premed.drug, premed.suggested_dose, premed.suggested_route))
    s.advance(31)
    assert s.view.next_button.text() == "Baseline vitals first (Vitals…), then start at 40 mL/h"
    dialog = s.click(s.view.next_button)
    assert isinstance(dialog, StartInfusionDialog)
    assert dialog.refusal.isVisible()
    assert "no baseline vital signs recorded since check-in" in dialog.refusal_label.text()
    s.save(dialog, expect_refusal=True)
    assert "no baseline vital signs recorded since check-in" in dialog.refusal_label.text()
    assert dialog.override_button.isVisible()
    dialog.reject()
    dialog = s.click(s.view.vitals_button)
    assert isinstance(dialog, VitalsDialog)
    dialog.vitals.set_values(**BASELINE_VITALS)
    s.save(dialog)
    assert s.view.next_button.text() == "Start infusion at 40 mL/h now"
    dialog = s.click(s.view.next_button)
    assert not dialog.refusal.isVisible()
    s.save(dialog)
    assert s.chair.state is not None and s.chair.state.phase is Phase.INFUSING


def test_vitals_due_on_the_chair_view_and_tile_overdue_reminder_and_out_of_range_alarm(
    station: Station,
) -> None:
    s = station
    s.infusing()
    s.window.show_overview()
    assert "Vitals due (during the infusion)" in s.countdown_names()
    assert s.tile_next().endswith("\nVitals in 15 min")
    s.advance(22)
    assert "⚠ Vitals OVERDUE (during the infusion)" in s.countdown_names()
    assert s.tile_next().endswith("\n⚠ Vitals overdue 7 min")
    assert any("vital signs were due at" in t for t in s.window.alarm_bar.row_texts())
    # An out-of-range value: the entry is kept and a high-priority alarm is in the alarm bar
    s.window.open_chair(s.chair.name)
    dialog = s.click(s.view.vitals_button)
    assert isinstance(dialog, VitalsDialog)
    dialog.vitals.set_values(systolic_mmhg=84, diastolic_mmhg=50, heart_rate_bpm=118, spo2_percent=95)
    s.save(dialog)
    s.controller.tick()
    rows = s.window.alarm_bar.row_texts()
    assert any(r.startswith("!!! HIGH · CLINICAL") and "systolic" in r.lower() for r in rows), rows
    assert any("heart" in r.lower() and "MEDIUM" in r for r in rows), rows
    assert not any("vital signs were due" in r for r in rows)  # taken: the reminder cleared
    assert "Vitals due (during the infusion)" in s.countdown_names()


def test_rituximab_shows_ml_h_and_mg_h_on_the_chair_view_and_the_plot(station: Station) -> None:
    s = station
    command = check_in_command(s.chair.name, s.clock, "rituximab-first")
    s.chair.check_in(replace(command, bag_volume_ml=250.0, dose_mg=1000.0, prior_infusions=0))
    state = s.chair.state
    assert state is not None and state.protocol is not None
    s.chair.execute(RecordVitals(dict(BASELINE_VITALS)))
    s.chair.execute(RecordScreening({i.id: i.acceptable_answer for i in state.protocol.screening}))
    for premed in state.protocol.premedications:
        s.chair.execute(GivePremedication(premed.drug, premed.suggested_dose, premed.suggested_route))
    s.advance(31)
    # 1000 mg in 250 mL = 4 mg/mL: the label's 50 mg/h is 12.5 mL/h
    assert s.view.next_button.text() == "Start infusion at 12.5 mL/h (50 mg/h) now"
    s.save(s.click(s.view.next_button))
    assert "Next step 25 mL/h (100 mg/h)" in s.countdown_names()
    s.advance(31)
    assert s.view.next_button.text() == "Set pump to 25 mL/h (100 mg/h) now (pump at 12.5 mL/h)"
    s.chair.execute(ChangeRate(25, "nurse"))
    s.view.plot.redraw(force=True)
    assert s.view.plot.axis_label() == "Rate (mL/h | mg/h at 4 mg/mL)"
    assert s.view.plot.rate_axis.tickStrings([25.0, 50.0], 1.0, 25.0) == ["25 | 100", "50 | 200"]
    s.window.show_overview()
    model = s.window.model
    assert model.data(model.index(0, Column.RATE)) == "– / 25 mL/h (100 mg/h)"


def test_ocrevus_is_shown_in_ml_h_only(station: Station) -> None:
    s = station
    s.infusing()
    s.view.plot.redraw(force=True)
    assert s.view.plot.axis_label() == "Rate (mL/h)"
    assert s.view.plot.rate_axis.tickStrings([40.0], 1.0, 20.0) == ["40"]
    assert "mg/h" not in s.view.next_button.text()


def test_nurse_assignment_and_handover_from_the_chair_views_menu(station: Station) -> None:
    s = station
    s.screened()
    assert s.view.nurse_button.isVisible()
    assert s.view.nurse_button.text() == "Responsible: AB ▾"
    s.view.hand_over_action.trigger()
    dialog = s.view.current_dialog
    assert isinstance(dialog, HandOverDialog)
    s.qtbot.keyClicks(dialog.to_nurse, "cd")
    s.qtbot.keyClicks(dialog.notes, "premeds due at 10:30")
    s.save(dialog)
    assert s.view.nurse_button.text() == "Responsible: CD ▾"
    assert any("Handed over from AB to CD (premeds due at 10:30)" in t for t in s.view.timeline_model.texts())
    s.view.assign_action.trigger()
    dialog = s.view.current_dialog
    assert isinstance(dialog, AssignNurseDialog)
    dialog.nurse.setText("ef")
    s.save(dialog)
    assert s.view.nurse_button.text() == "Responsible: EF ▾"
    state = s.chair.state
    assert state is not None and state.assigned_nurse == "EF"
    kinds = [e.type for e in state.events]
    assert EventType.HANDED_OVER in kinds and EventType.NURSE_ASSIGNED in kinds


def test_a_back_dated_onset_takes_the_rate_recorded_then(station: Station) -> None:
    s = station
    s.infusing()
    s.advance(31)
    s.chair.execute(ChangeRate(80, "nurse", "step"))
    s.advance(20)
    s.chair.execute(ChangeRate(120, "nurse", "step"))
    s.advance(5)
    dialog = s.click(s.view.reaction_button)
    assert isinstance(dialog, ReactionDialog)
    dialog.choose(2, "flushing")
    assert dialog.onset_rate.text().startswith("120 mL/h")
    dialog.set_onset(s.clock.now() - timedelta(minutes=15))  # began at 80 mL/h
    assert dialog.onset_rate.text().startswith("80 mL/h (recorded at ")
    assert dialog.onset_rate.text().endswith("→ set the pump to 40 mL/h")
    s.save(dialog)
    assert s.view.instruction.text().startswith("⚠ SET PUMP TO 40 mL/h now (grade 2 reaction at ")
    state = s.chair.state
    assert state is not None
    assert (state.reactions[-1].rate_at_onset_ml_h, state.reactions[-1].new_rate_ml_h) == (80, 40)
    assert any("(pump 80 mL/h at onset)" in t for t in s.view.timeline_model.texts())


def test_screening_dialog_shows_each_items_source(station: Station) -> None:
    s = station
    s.chair.check_in(check_in_command(s.chair.name, s.clock))
    dialog = s.click(s.view.next_button)
    assert isinstance(dialog, ScreeningDialog)
    state = s.chair.state
    assert state is not None and state.protocol is not None
    for item in state.protocol.screening:
        label = dialog.sources[item.id]
        assert label.toolTip() == item.source
        assert "source: " in label.text()
    carrier = dialog.sources["hbv_carrier"].text()
    assert "if yes: only under a hepatologist's guidance" in carrier


def test_anaphylaxis_signs_below_grade_3_pass_only_with_an_override_and_its_reason(station: Station) -> None:
    s = station
    s.infusing()
    s.advance(10)
    dialog = s.click(s.view.reaction_button)
    assert isinstance(dialog, ReactionDialog)
    dialog.choose(1, "hypotension")
    assert dialog.cross_check.text().startswith("⚠ hypotension: sign(s) of anaphylaxis. Record grade 3 or 4")
    s.save(dialog, expect_refusal=True)
    assert "hypotension is a sign of anaphylaxis: record grade 3 or above (not grade 1)" in (
        dialog.refusal_label.text()
    )
    s.qtbot.mouseClick(dialog.override_button, Qt.MouseButton.LeftButton)
    s.qtbot.keyClicks(dialog.override_reason, "BP 88/60 is her usual; vasovagal, physician at bedside")
    s.qtbot.mouseClick(dialog.override_save, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    state = s.chair.state
    assert state is not None and state.reactions[-1].grade == 1
    event = next(e for e in state.events if e.type is EventType.REACTION_RECORDED)
    assert event.data["overrides"][0]["guard"] == "anaphylaxis_signs_low_grade"
    assert any("[OVERRIDE by AB: BP 88/60 is her usual" in t for t in s.view.timeline_model.texts())


def test_a_recurrence_after_improvement_is_refused_as_grade_2_and_re_graded(station: Station) -> None:
    s = station
    s.infusing()
    s.advance(10)
    dialog = s.click(s.view.reaction_button)
    assert isinstance(dialog, ReactionDialog)
    assert not dialog.regrade.isVisible()  # nothing to re-grade yet
    dialog.choose(2, "flushing")
    s.save(dialog)
    s.chair.execute(ChangeRate(20, "nurse", "halved for the reaction"))
    s.advance(10)
    dialog = s.click(s.view.resolved_button)
    s.save(dialog)
    s.advance(5)
    dialog = s.click(s.view.reaction_button)
    assert isinstance(dialog, ReactionDialog)
    assert dialog.regrade.isVisible() and dialog.regrade.text().startswith(
        "Re-grades the grade 2 reaction at "
    )
    dialog.choose(2, "flushing")
    s.save(dialog, expect_refusal=True)
    assert "CTCAE v5 grades a recurrence after improvement as 3" in dialog.refusal_label.text()
    dialog.choose(3)
    dialog.regrade.setChecked(True)
    s.save(dialog)
    state = s.chair.state
    assert state is not None and state.phase is Phase.PAUSED
    first, second = state.reactions
    assert (second.grade, state.event(second.seq).data["regrades_seq"]) == (3, first.seq)  # type: ignore[union-attr]
    assert any(f"REACTION re-graded (#{first.seq}) to grade 3" in t for t in s.view.timeline_model.texts())


def test_a_bag_that_would_expire_before_the_end_is_said_on_the_banner_not_a_start(station: Station) -> None:
    s = station
    command = check_in_command(s.chair.name, s.clock)
    # prepared 6 h ago: 8 h at room temperature leave 2 h, the infusion takes 3.5 h
    s.chair.check_in(replace(command, bag_prepared_at=s.clock.now() - timedelta(hours=6)))
    state = s.chair.state
    assert state is not None and state.protocol is not None
    s.chair.execute(RecordVitals(dict(BASELINE_VITALS)))
    s.chair.execute(RecordScreening({i.id: i.acceptable_answer for i in state.protocol.screening}))
    for premed in state.protocol.premedications:
        s.chair.execute(GivePremedication(premed.drug, premed.suggested_dose, premed.suggested_route))
    s.advance(31)
    text = s.view.next_button.text()
    assert text.startswith("⚠ Bag: started now the infusion would end at ")
    assert "Start infusion" not in text
    dialog = s.click(s.view.next_button)
    assert isinstance(dialog, StartInfusionDialog)
    assert "after the bag expires at" in dialog.refusal_label.text()
    assert dialog.override_button.isVisible()


def test_refusals_say_the_local_time_the_chair_view_shows(station: Station) -> None:
    s = station
    s.screened()
    state = s.chair.state
    assert state is not None and state.protocol is not None
    for premed in state.protocol.premedications:
        s.chair.execute(GivePremedication(premed.drug, premed.suggested_dose, premed.suggested_route))
    state = s.chair.state
    assert state is not None and state.premedication_ready_at is not None
    local = s.chair.face.at(state.premedication_ready_at, s.chair.now())
    assert s.view.next_button.text() == f"Start infusion at 40 mL/h from {local}"
    dialog = s.click(s.view.next_button)
    s.save(dialog, expect_refusal=True)
    assert f"(until {local})" in dialog.refusal_label.text()
    assert "UTC" not in dialog.refusal_label.text()


def test_anaphylaxis_shows_red_on_the_chair_view_and_the_tile(station: Station) -> None:
    """Issue 16 point 3: after a grade 4 the chair says so in red, not calm teal "Observation"."""
    from app.domain.commands import RecordReaction
    from app.station.status_text import ANAPHYLAXIS_STYLE, PHASE_STYLES
    from app.ui.tile import CompactTile, tile_view

    s = station
    s.infusing()
    s.advance(40)
    s.chair.execute(RecordReaction(grade=4, signs=("stridor", "hypotension")))
    s.controller.tick()
    s.view.refresh()
    assert s.view.phase_label.text().startswith("⚠ ANAPHYLAXIS")
    sheet = s.view.banner.styleSheet()
    assert ANAPHYLAXIS_STYLE.colour in sheet and PHASE_STYLES[Phase.OBSERVATION].colour not in sheet
    assert ANAPHYLAXIS_STYLE.colour.lower() in ("#d0021b", "#b00020")  # red
    from app.station.snapshot import chair_snapshot

    state_json = chair_snapshot(s.controller.station.chairs[0], s.clock.now(), station="S", index=1)
    assert state_json["anaphylaxis"] is not None and state_json["phase"] == "observation"
    from app.station.floor_messages import parse_chair  # the floor reads it through its schema

    view = tile_view(parse_chair(state_json), s.clock.now())
    assert view.phase_text.startswith("⚠ Anaphylaxis") and view.priority is not None
    tile = CompactTile("S/Chair 1")
    tile.show_view(view)
    assert ANAPHYLAXIS_STYLE.colour in tile.styleSheet()


def test_a_pump_started_during_premedication_asks_the_nurse_to_confirm_the_start(
    chair_script: ChairScript,
) -> None:
    """Issue 16 point 11: the start dialog's guard then decides whether it can be documented."""
    from app.alarm_policy import load_alarm_policy
    from app.station.status_text import ActionKind, next_action

    policy = load_alarm_policy()
    s = chair_script
    s.check_in("ocrevus-600-subsequent")
    s.screen()
    state = s.premedicate()
    assert state.phase is Phase.PREMEDICATION
    action = next_action(state, s.clock.now(), pump_rate=40.0, policy=policy)
    assert action.kind is ActionKind.START and action.urgent
    assert action.text.startswith("⚠ The pump is running at 40 mL/h: confirm the infusion start")
    assert next_action(state, s.clock.now(), pump_rate=0.0, policy=policy).text != action.text
