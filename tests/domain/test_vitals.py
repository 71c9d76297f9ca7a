"""Vital signs on the protocol's schedule: due times, the overdue reminder, out-of-range alarms by
priority, and baseline vitals before the start."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from app.alarm_policy import load_alarm_policy
from app.domain.alarms import AlarmInputs, Priority, evaluate
from app.domain.chair import ChairState
from app.domain.commands import (
    CompleteInfusion,
    GivePremedication,
    Override,
    RecordScreening,
    RecordVitals,
    StartInfusion,
)
from app.domain.decide import CommandRefused
from app.domain.phase import Phase
from tests.conftest import BASELINE_VITALS

POLICY = load_alarm_policy()


def conditions(state: ChairState, now: Any) -> dict[str, Any]:
    return {c.rule: c for c in evaluate(AlarmInputs(now, state), POLICY)}


def test_schedule_is_in_every_protocol_file_and_marked_institutional(library: Any) -> None:
    for protocol in library.values():
        schedule = protocol.vital_signs
        assert schedule is not None, protocol.id
        assert (schedule.first_hour_every_min, schedule.then_every_min) == (15, 30)
        assert "Institutional" in schedule.source


def test_baseline_vitals_are_required_before_the_start(chair_script: Any) -> None:
    s = chair_script
    s.check_in()
    protocol = s.state.require_protocol()
    assert s.state.vitals_due == (s.state.checked_in_at, "baseline")
    s.run(RecordScreening({item.id: item.acceptable_answer for item in protocol.screening}))
    for premed in protocol.premedications:
        s.run(GivePremedication(premed.drug, premed.suggested_dose, premed.suggested_route))
    s.clock.advance(minutes=31)
    with pytest.raises(CommandRefused) as caught:
        s.run(StartInfusion())
    assert [f.code for f in caught.value.failures] == ["baseline_vitals_missing"]
    assert caught.value.overridable
    override = Override("RN-CD", "patient refused the cuff; SpO2 probe on")
    assert s.run(StartInfusion(override=override)).phase is Phase.INFUSING


def test_due_every_15_min_in_the_first_hour_then_30_then_end_and_before_discharge(chair_script: Any) -> None:
    s = chair_script
    state = s.to_infusing()
    start = state.infusion_started_at
    assert state.vitals_due == (start + timedelta(minutes=15), "during the infusion")
    for _quarter in range(4):  # at 15, 30, 45 and 60 min
        s.clock.advance(minutes=15)
        state = s.run(RecordVitals(dict(BASELINE_VITALS)))
    assert state.vitals_due == (start + timedelta(minutes=90), "during the infusion")
    s.clock.advance(minutes=150)
    state = s.run(CompleteInfusion(source="pump"))
    ended = s.clock.now()
    assert state.vitals_due == (ended, "end of infusion")
    state = s.run(RecordVitals(dict(BASELINE_VITALS)))
    assert state.vitals_due == (ended + timedelta(minutes=45), "before discharge")


def test_overdue_vitals_raise_a_low_reminder_after_the_grace(chair_script: Any) -> None:
    s = chair_script
    state = s.to_infusing()
    due = state.infusion_started_at + timedelta(minutes=15)
    assert "vitals_overdue" not in conditions(
        state, due + timedelta(seconds=POLICY.vitals_overdue_grace_s - 1)
    )
    overdue = conditions(state, due + timedelta(seconds=POLICY.vitals_overdue_grace_s))
    assert overdue["vitals_overdue"].priority is Priority.LOW
    assert "vital signs were due at" in overdue["vitals_overdue"].message


def test_out_of_range_values_raise_alarms_by_priority(chair_script: Any) -> None:
    s = chair_script
    s.to_infusing()
    s.clock.advance(minutes=15)
    state = s.run(RecordVitals({**BASELINE_VITALS, "spo2_percent": 88, "heart_rate_bpm": 118}))
    found = conditions(state, s.clock.now())
    assert found["vital_signs_high"].priority is Priority.HIGH
    assert "SpO2 (%) low: 88" in found["vital_signs_high"].message
    assert found["vital_signs_medium"].priority is Priority.MEDIUM
    assert "Heart rate (/min) high: 118" in found["vital_signs_medium"].message
    assert "vital_signs_low" not in found
    s.clock.advance(minutes=5)
    state = s.run(RecordVitals(dict(BASELINE_VITALS)))
    found = conditions(state, s.clock.now())
    assert not {"vital_signs_high", "vital_signs_medium"} & set(found)
