"""Reaction rules: one home for the rate after a reaction; holds until resolved; cross-checks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from app.alarm_policy import load_alarm_policy
from app.domain.alarms import AlarmInputs, evaluate
from app.domain.commands import ChangeRate, RecordReaction
from app.ui.status import next_action

POLICY = load_alarm_policy()


def test_pump_above_top_rung_grade_2_banner_decide_and_plan_agree(chair_script: Any) -> None:
    s = chair_script
    s.to_infusing("ocrevus-600-subsequent")  # top rung 200 mL/h
    s.clock.advance(minutes=100)
    s.run(ChangeRate(450, source="pump"))
    state = s.run(RecordReaction(grade=2, signs=("flushing",)))
    reaction = state.reactions[-1]
    now = s.clock.now()
    planned = state.planned_rate_ml_h(now)
    assert reaction.new_rate_ml_h == planned == 200
    banner = next_action(state, now, pump_rate=450)
    assert "SET PUMP TO 200" in banner.text
    s.clock.advance(seconds=30)
    state = s.run(ChangeRate(reaction.new_rate_ml_h, source="nurse"))
    s.clock.advance(minutes=5)
    rules = {c.rule for c in evaluate(AlarmInputs(s.clock.now(), state), POLICY)}
    assert "rate_above_plan_after_reaction" not in rules
    assert "rate_above_plan" not in rules
    assert state.planned_rate_ml_h(s.clock.now() + timedelta(minutes=1)) == 200
