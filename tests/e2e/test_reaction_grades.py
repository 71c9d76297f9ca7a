"""One whole session per reaction grade, driven through the widgets (issue 10, "Done when").

The station is started as tests/e2e/test_workflows.py starts it: a real Floor on a SQLite file, the
real Alaris driver reading a simulated pump over a pseudo-terminal, the main window and the chair view,
time moved with a ManualClock. Each test checks the banner (the rate the protocol's ReactionRule
sets), which alarms are raised and which are not, and discharge: refused before the earliest time and
without vital signs after the infusion, accepted after.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from datetime import timedelta

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.domain.clock import ManualClock
from app.domain.events import EventType
from app.domain.phase import Phase
from app.floor import Floor
from app.station.status_text import ActionKind, Countdown, countdowns
from app.ui.dialogs.common import CommandDialog
from app.ui.dialogs.infusion import DischargeDialog, ResumeDialog
from app.ui.dialogs.reaction import ReactionDialog
from app.ui.dialogs.reaction_outcome import NotToleratedDialog, ResolveDialog
from app.ui.dialogs.vitals import VitalsDialog
from app.ui.overview import Column, PriorityRole
from tests.e2e.pumps import WAIT_MS, PumpOnPty, pump_on_pty
from tests.e2e.test_workflows import Station

pytestmark = [pytest.mark.e2e, pytest.mark.qt_log_ignore("does not support propagateSizeHints")]
__all__ = ["pump_on_pty"]

POST_INFUSION_VITALS = {"systolic_mmhg": 118, "diastolic_mmhg": 74, "heart_rate_bpm": 76, "spo2_percent": 98}


@pytest.fixture
def station(qtbot: QtBot, floor: Floor, clock: ManualClock, pump_on_pty: PumpOnPty) -> Iterator[Station]:
    s = Station(qtbot, floor, clock, pump_on_pty)
    try:
        yield s
    finally:
        if s.view.current_dialog is not None:
            s.view.current_dialog.reject()
        s.floor_controller.close()


# -- what the nurse does, through the widgets ---------------------------------------------------------


def click(s: Station, button: object) -> CommandDialog:
    s.qtbot.mouseClick(button, Qt.MouseButton.LeftButton)  # type: ignore[arg-type]
    dialog = s.view.current_dialog
    assert dialog is not None and dialog.isVisible()
    return dialog


def open_reaction(s: Station, grade: int, *signs: str) -> ReactionDialog:
    dialog = click(s, s.view.reaction_button)
    assert isinstance(dialog, ReactionDialog)
    # the CTCAE v5 wording of each grade, from resources/reactions.toml
    terms = s.floor_controller.floor.reaction_terms
    for g in (1, 2, 3, 4):
        assert html.escape(terms.wording[g]) in dialog.grade_texts[g].text()
    dialog.choose(grade, *signs)
    return dialog


def set_pump(s: Station, rate: float) -> None:
    """The nurse sets the pump; the chair documents the rate it sees."""
    s.pump.pump.set_rate(rate)
    s.qtbot.waitUntil(lambda: s.state.pump_rate_ml_h == rate, timeout=WAIT_MS)
    s.polls()


def take_vitals(s: Station, dialog: CommandDialog | None = None) -> None:
    dialog = dialog or click(s, s.view.vitals_button)
    assert isinstance(dialog, VitalsDialog)
    dialog.vitals.set_values(**POST_INFUSION_VITALS)
    s.save(dialog)


def resolve(s: Station) -> None:
    assert s.view.resolved_button.isVisible()
    dialog = click(s, s.view.resolved_button)
    assert isinstance(dialog, ResolveDialog)
    s.save(dialog)
    assert not s.view.resolved_button.isVisible()


def raised(s: Station, prefix: str) -> list[str]:
    """Rules of the alarms raised in this session so far whose rule starts with `prefix`."""
    return [
        e.data["rule"]
        for e in s.state.events
        if e.type is EventType.ALARM_RAISED and str(e.data["rule"]).startswith(prefix)
    ]


def follow_the_plan_to_the_end(s: Station, step_min: float = 10) -> None:
    """The nurse does what the big button says (set the pump when asked) until the bag is done."""
    for _ in range(200):
        if s.state.phase is Phase.OBSERVATION:
            return
        s.advance(step_min)
        s.polls()
        action = s.view.current_action()
        if action.kind is ActionKind.SET_RATE and action.rate_ml_h:
            set_pump(s, action.rate_ml_h)
    s.qtbot.waitUntil(lambda: s.state.phase is Phase.OBSERVATION, timeout=WAIT_MS)


def discharge_is_refused_then_accepted(s: Station) -> None:
    """Before the earliest time and without vital signs after the infusion: refused with both reasons.
    With vital signs and after the earliest time: accepted."""
    state = s.state
    earliest = state.earliest_discharge_at
    assert earliest is not None and state.infusion_ended_at is not None
    dialog = click(s, s.view.discharge_button)
    assert isinstance(dialog, DischargeDialog)
    s.save(dialog, expect_refusal=True)
    text = dialog.refusal_label.text()
    assert "observation runs until" in text
    assert "no vital signs recorded since the infusion ended" in text
    assert dialog.override_button.isVisible()  # a guard: overridable with a reason, not silently
    dialog.reject()
    take_vitals(s)
    dialog = click(s, s.view.discharge_button)
    s.save(dialog, expect_refusal=True)
    assert "observation runs until" in dialog.refusal_label.text()
    assert "vital signs" not in dialog.refusal_label.text()
    dialog.reject()
    s.advance((earliest - s.chair.now()).total_seconds() / 60 - 1)
    assert s.view.next_button.text().startswith("Observation ends ")
    # the schedule wants vital signs within 15 min before discharge: the chair view says they are due
    shown_countdowns = [name.text() for name, _value in s.view.countdown_labels if name.isVisible()]
    assert "⚠ Vitals OVERDUE (before discharge)" in shown_countdowns
    take_vitals(s)
    shown_countdowns = [name.text() for name, _value in s.view.countdown_labels if name.isVisible()]
    assert not any("Vitals" in text for text in shown_countdowns)
    s.advance(2)
    assert s.view.next_button.text() == "Discharge"
    shown = s.view.timeline_model.texts()
    s.save(s.next_action())
    assert s.chair.state is None
    assert s.state.phase is Phase.DISCHARGED
    s.journal_holds_the_timeline(shown)


def step_up_to_80(s: Station) -> None:
    """30 min at 40 mL/h, then the nurse steps up to 80 as the plan says."""
    s.advance(30)
    s.polls()
    assert s.view.next_button.text() == "Set pump to 80 mL/h now (pump at 40 mL/h)"
    set_pump(s, 80)


# -- one test per grade ----------------------------------------------------------------------------


def test_grade_1_rate_halved_held_30_min_even_after_early_resolution(station: Station) -> None:
    s = station
    s.check_in_to_infusing()
    step_up_to_80(s)
    s.advance(10)

    dialog = open_reaction(s, 1, "pruritus")
    # the rate at onset from the record, and the rate the rule sets from it
    assert dialog.onset_rate.text().startswith("80 mL/h (recorded at ")
    assert dialog.onset_rate.text().endswith("→ set the pump to 40 mL/h")
    s.save(dialog)
    onset = s.state.reactions[-1].onset_at
    assert s.view.instruction.text().startswith("⚠ SET PUMP TO 40 mL/h now (grade 1 reaction at ")
    assert s.state.reactions[-1].new_rate_ml_h == 40  # the ReactionRule's rate: half the rate at onset
    set_pump(s, 40)
    assert not s.view.instruction.isVisible()
    assert raised(s, "rate_above_plan") == []  # following the instruction raises nothing

    # Symptoms gone after 10 min: recorded, but the reduced rate still holds its 30 minutes
    s.advance(10)
    assert s.view.next_button.text().startswith("Hold 40 mL/h: record when symptoms resolve (grade 1)")
    resolve(s)
    action = s.view.current_action()
    assert action.kind is ActionKind.WAIT and action.text.startswith("Step up to 80 mL/h at ")
    change = s.state.next_rate_change(s.chair.now())
    assert change is not None and change[0] >= onset + timedelta(minutes=30)
    s.advance(19)  # 29 min after the onset: still no prompt, no alarm
    s.polls()
    assert s.view.current_action().kind is ActionKind.WAIT
    assert not [a for a in s.chair.active_alarms if a.rule == "step_up_overdue"]
    assert raised(s, "step_up_overdue") == []
    s.advance(2)  # 31 min: the step-up is due now
    assert s.view.next_button.text() == "Set pump to 80 mL/h now (pump at 40 mL/h)"
    set_pump(s, 80)

    # issue 16: vital signs every 15 min for the hour after the reaction (institutional, in the file)
    take_vitals(s)
    for _ in range(2):
        s.advance(14 if _ == 0 else 15)
        s.polls()
        take_vitals(s)
    assert s.state.vitals_due is not None and s.state.vitals_due[1] == "during the infusion"
    follow_the_plan_to_the_end(s)
    assert raised(s, "rate_above_plan") == []
    # "Infusion complete" is news, not an alarm: on the chair view and the tile, not in the alarm bar
    s.qtbot.waitUntil(lambda: bool(s.view.notification_label.text()), timeout=WAIT_MS)
    assert s.view.notification_label.text().startswith("ℹ ")
    assert "infusion complete" in s.view.notification_label.text().lower()
    assert not any("complete" in t.lower() for t in s.window.alarm_bar.row_texts())
    model = s.window.model
    row = s.floor_controller.chairs.index(s.chair)
    assert model.data(model.index(row, Column.ALARM)).startswith("ℹ ")
    assert model.data(model.index(row, Column.ALARM), PriorityRole) is None
    assert not [
        a for a in s.chair.escalated_alarms(s.chair.now() + timedelta(hours=2)) if "complete" in a.rule
    ]
    # ...and in the record as news: "ℹ", no priority word, no alarm colour
    timeline = s.view.timeline_model
    rows = [
        r for r in range(timeline.rowCount()) if timeline.event_at(r).data.get("rule") == "infusion_complete"
    ]
    assert rows
    text = timeline.data(timeline.index(rows[0]))
    assert "  ℹ " in text and "Alarm raised" not in text
    assert timeline.data(timeline.index(rows[0]), Qt.ItemDataRole.ForegroundRole) is None
    discharge_is_refused_then_accepted(s)


def test_grade_2_reduced_rate_holds_past_30_min_until_resolved(station: Station) -> None:
    s = station
    s.check_in_to_infusing()
    step_up_to_80(s)
    s.advance(10)
    dialog = open_reaction(s, 2, "flushing", "throat irritation")
    s.save(dialog)
    onset = s.state.reactions[-1].onset_at
    assert s.view.instruction.text().startswith("⚠ SET PUMP TO 40 mL/h now (grade 2 reaction at ")
    set_pump(s, 40)
    assert raised(s, "rate_above_plan") == []
    assert s.view.resolved_button.isVisible() and s.view.not_tolerated_button.isVisible()

    # 50 minutes on, symptoms not resolved: the rate holds, no step-up prompt, no alarm
    for _ in range(5):
        s.advance(10)
        s.polls()
        assert s.view.next_button.text().startswith("Hold 40 mL/h: record when symptoms resolve (grade 2)")
        assert not any(c.label.startswith("Next step") for c in _countdowns(s))
    assert raised(s, "step_up_overdue") == []
    assert s.chair.now() - onset >= timedelta(minutes=50)

    resolve(s)  # 30 min have passed and the symptoms resolved: the step-up is due now
    assert s.view.next_button.text() == "Set pump to 80 mL/h now (pump at 40 mL/h)"
    set_pump(s, 80)
    follow_the_plan_to_the_end(s)
    discharge_is_refused_then_accepted(s)


def test_grade_2_not_tolerated_is_re_graded_3_and_stops(station: Station) -> None:
    s = station
    s.check_in_to_infusing()
    step_up_to_80(s)
    s.advance(5)
    s.save(open_reaction(s, 2, "flushing"))
    set_pump(s, 40)
    s.advance(10)
    dialog = click(s, s.view.not_tolerated_button)
    assert isinstance(dialog, NotToleratedDialog)
    dialog.regrade3.setChecked(True)
    s.qtbot.keyClicks(dialog.reason, "wheeze and rigors at 40 mL/h")
    s.save(dialog)
    assert s.state.phase is Phase.PAUSED
    last = s.state.reactions[-1]
    assert last.grade == 3 and last.restart_rate_ml_h == 20  # half of the 40 mL/h at the re-grade
    assert "PUMP STOPPED (grade 3" in s.view.instruction.text()


def test_grade_3_stop_then_restart_at_half(station: Station) -> None:
    s = station
    s.check_in_to_infusing()
    step_up_to_80(s)
    s.advance(10)

    # Anaphylaxis signs below grade 3: refused with the reason (an override would need a reason)
    dialog = open_reaction(s, 2, "bronchospasm", "hypotension")
    assert "sign(s) of anaphylaxis" in dialog.cross_check.text()
    s.save(dialog, expect_refusal=True)
    assert "bronchospasm, hypotension is a sign of anaphylaxis: record grade 3" in dialog.refusal_label.text()
    assert dialog.override_button.isVisible()
    assert s.state.reactions == ()
    assert dialog.onset_rate.text().endswith("→ anaphylaxis: STOP for good, observe")
    for sign in ("bronchospasm", "hypotension"):  # issue 16: anaphylaxis signs at any grade discontinue
        dialog.signs[sign].setChecked(False)
    dialog.choose(3, "rigors", "dyspnea")
    assert dialog.cross_check.text() == ""
    assert dialog.onset_rate.text().endswith("→ STOP; restart at 40 mL/h once resolved")
    s.save(dialog)

    assert s.state.phase is Phase.PAUSED
    assert s.view.instruction.text().startswith("⚠ PUMP STOPPED (grade 3 at ")
    assert "Restart at 40 mL/h only when all symptoms resolved" in s.view.instruction.text()
    s.pump.pump.pause()
    s.polls()
    s.advance(25)
    s.polls()
    assert raised(s, "step_up_overdue") == []

    dialog = s.next_action()
    assert isinstance(dialog, ResumeDialog)
    s.save(dialog)  # the restart records the resolution
    s.pump.pump.set_rate(40)
    s.pump.pump.resume()
    assert s.state.pump_rate_ml_h == 40  # the restart runs at the restart rate (the resume says so)

    def running_at_restart_rate() -> bool:  # the station has read the pump running again, at 40
        t = s.chair.telemetry
        return t is not None and t.state.is_delivering and t.rate_ml_h == 40

    s.qtbot.waitUntil(lambda: running_at_restart_rate() and s.state.phase is Phase.INFUSING, timeout=WAIT_MS)
    s.polls()
    assert not s.view.instruction.isVisible()
    assert s.state.reactions[-1].resolved_at is not None
    follow_the_plan_to_the_end(s)
    assert raised(s, "rate_above_plan") == []
    discharge_is_refused_then_accepted(s)


def test_grade_4_discontinued_then_observed_until_resolved(station: Station) -> None:
    s = station
    s.check_in_to_infusing()
    step_up_to_80(s)
    s.advance(10)
    dialog = open_reaction(s, 4, "anaphylaxis", "hypoxia")
    assert dialog.onset_rate.text().endswith("→ anaphylaxis: STOP for good, observe")
    s.save(dialog)
    assert s.state.phase is Phase.OBSERVATION  # stopped for good, and watched
    assert s.view.instruction.text().startswith("⚠ STOP THE PUMP: grade 4 reaction at ")
    assert "permanently discontinued" in s.view.instruction.text()
    assert s.view.next_button.text().startswith("⚠ STOP THE PUMP")  # the big button says it too
    s.pump.pump.stop()
    s.polls()
    assert s.state.phase is Phase.OBSERVATION
    s.qtbot.waitUntil(lambda: not s.view.instruction.isVisible(), timeout=WAIT_MS)  # the pump shows it done
    assert s.view.next_button.text().startswith("Record when symptoms resolve (grade 4)")
    assert not s.view.not_tolerated_button.isVisible()

    # Unresolved: discharge refused whatever the time, with the reason
    s.advance(90)
    s.polls()
    dialog = click(s, s.view.discharge_button)
    s.save(dialog, expect_refusal=True)
    assert "after anaphylaxis at" in dialog.refusal_label.text()  # issue 16: before anything else
    dialog.reject()
    assert raised(s, "step_up_overdue") == [] and raised(s, "rate_below") == []
    assert raised(s, "anaphylaxis") == ["anaphylaxis"]

    resolve(s)  # the ordinary observation runs from the resolution; anaphylaxis 6 h from the onset
    onset = s.state.reactions[-1].onset_at
    assert s.state.earliest_discharge_at == max(
        s.state.reactions[-1].resolved_at + timedelta(minutes=60), onset + timedelta(hours=6)
    )
    take_vitals(s)
    s.advance((onset + timedelta(hours=6) - s.chair.now()).total_seconds() / 60 - 10)
    take_vitals(s)  # within 15 min before discharge
    dialog = click(s, s.view.discharge_button)
    s.save(dialog, expect_refusal=True)
    assert "after anaphylaxis at" in dialog.refusal_label.text()
    dialog.reject()
    s.advance(11)
    dialog = click(s, s.view.discharge_button)
    s.save(dialog)
    assert s.state.phase is Phase.DISCHARGED
    reaction = next(e for e in s.state.events if e.type is EventType.REACTION_RECORDED)
    assert reaction.data["action"] == "discontinue"


def _countdowns(s: Station) -> list[Countdown]:
    return countdowns(s.chair.state, s.chair.now())
