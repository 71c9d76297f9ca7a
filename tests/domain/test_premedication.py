"""Premedications: the dose and route actually given, repeat doses, the window's close time, and a next
action that never suggests a start the guard would refuse."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from app.alarm_policy import load_alarm_policy
from app.domain.commands import GivePremedication, Override, StartInfusion
from app.domain.decide import CommandRefused, start_failures
from app.domain.events import PremedicationGiven
from app.domain.phase import Phase
from app.station.status_text import ActionKind, next_action

POLICY = load_alarm_policy()

ANTIHISTAMINE = "diphenhydramine (or another antihistamine)"


def _premedicated(chair_script: Any) -> Any:
    s = chair_script
    s.check_in()
    s.screen()
    s.premedicate()
    return s


def test_the_dose_given_is_entered_not_the_template(chair_script: Any) -> None:
    s = chair_script
    s.check_in()
    s.screen()
    with pytest.raises(CommandRefused, match=r"enter the dose given in mg \(e.g. 50 mg\), not '25-50 mg'"):
        s.run(GivePremedication(ANTIHISTAMINE, "25-50 mg", "PO"))
    with pytest.raises(CommandRefused, match="route 'IV or PO' is not one of IV, PO"):
        s.run(GivePremedication(ANTIHISTAMINE, "50 mg", "IV or PO"))
    with pytest.raises(CommandRefused) as caught:
        s.run(GivePremedication(ANTIHISTAMINE, "100 mg", "PO"))
    assert caught.value.overridable and "outside the protocol's 25-50 mg" in str(caught.value)
    state = s.run(GivePremedication(ANTIHISTAMINE, "25 mg", "po"))
    given = state.premedication_given(ANTIHISTAMINE)
    assert given is not None and (given.dose, given.route) == ("25 mg", "po")
    override = Override("RN-CD", "cetirizine 10 mg as the antihistamine, per prescriber")
    state = s.run(GivePremedication("methylprednisolone", "125 mg", "IV", override=override))
    assert state.events[-1].overrides[0].guard == "premedication_dose"


def test_window_close_time_per_premedication(chair_script: Any) -> None:
    s = _premedicated(chair_script)
    given = s.clock.now()
    windows = {drug: (opens, closes) for drug, opens, closes in s.state.premedication_windows()}
    assert windows[ANTIHISTAMINE] == (given + timedelta(minutes=30), given + timedelta(minutes=60))
    assert windows["methylprednisolone"][1] == given + timedelta(minutes=120)


def test_after_the_window_the_banner_asks_for_a_repeat_dose_and_the_repeat_is_recorded(
    chair_script: Any,
) -> None:
    s = _premedicated(chair_script)
    s.clock.advance(minutes=75)  # the issue: "Start infusion now" while a start was refused
    state, now = s.state, s.clock.now()
    action = next_action(state, now, policy=POLICY)
    assert start_failures(state, now)  # the guard refuses...
    assert action.kind is ActionKind.PREMEDICATION  # ...and the banner does not suggest the start
    assert "Repeat premeds" in action.text and "more than 60 min before start" in action.text
    with pytest.raises(CommandRefused):
        s.run(StartInfusion())
    state = s.run(GivePremedication(ANTIHISTAMINE, "50 mg", "IV"))
    assert state.events[-1].payload_as(PremedicationGiven).repeat is True
    s.clock.advance(minutes=30)
    assert not start_failures(s.state, s.clock.now())
    assert next_action(s.state, s.clock.now(), policy=POLICY).text.startswith("Start infusion at 40 mL/h now")
    assert s.run(StartInfusion()).phase is Phase.INFUSING


def test_a_repeat_dose_can_be_recorded_during_the_infusion(chair_script: Any) -> None:
    s = chair_script
    s.to_infusing()
    s.clock.advance(minutes=50)
    state = s.run(GivePremedication(ANTIHISTAMINE, "25 mg", "IV"))
    assert state.events[-1].payload_as(PremedicationGiven).repeat is True and state.phase is Phase.INFUSING


def test_countdowns_show_the_first_premed_window_to_close_and_vitals_due(chair_script: Any) -> None:
    from app.station.status_text import countdowns

    s = _premedicated(chair_script)
    labels = {c.label: c.target for c in countdowns(s.state, s.clock.now())}
    assert labels["Diphenhydramine window closes"] == s.clock.now() + timedelta(minutes=60)
    s.clock.advance(minutes=31)
    state = s.run(StartInfusion())
    labels = {c.label: c.target for c in countdowns(state, s.clock.now())}
    assert labels["Vitals due (during the infusion)"] == s.clock.now() + timedelta(minutes=15)
