"""Reaction rules: one home for the rate after a reaction; holds until resolved; cross-checks."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from app.alarm_policy import load_alarm_policy
from app.domain.alarms import AlarmInputs, evaluate
from app.domain.chair import ChairState
from app.domain.commands import (
    ChangeRate,
    CompleteInfusion,
    Discharge,
    Override,
    PrescriberRelease,
    ReactionNotTolerated,
    RecordReaction,
    RecordVitals,
    ReleaseCosigner,
    ResolveSymptoms,
)
from app.domain.decide import CommandRefused
from app.domain.events import ReactionRecorded
from app.domain.phase import Phase
from app.domain.protocol import ReactionAction
from app.floor import Floor
from app.station.status_text import next_action

OVERRIDE = Override(by="RN-CD (charge nurse)", reason="assessed at the bedside with the physician")
POLICY = load_alarm_policy()
SECOND_NURSE = ReleaseCosigner(account="RN-CD", name="Carla Diaz", role="nurse", nurse=True, active=True)


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
    banner = next_action(state, now, pump_rate=450, policy=POLICY)
    assert "SET PUMP TO 200" in banner.text
    s.clock.advance(seconds=30)
    state = s.run(ChangeRate(reaction.new_rate_ml_h, source="nurse"))
    s.clock.advance(minutes=5)
    rules = {c.rule for c in evaluate(AlarmInputs(s.clock.now(), state), POLICY)}
    assert "rate_above_plan_after_reaction" not in rules
    assert "rate_above_plan" not in rules
    assert state.planned_rate_ml_h(s.clock.now() + timedelta(minutes=1)) == 200


def codes(caught: pytest.ExceptionInfo[CommandRefused]) -> list[str]:
    return [f.code for f in caught.value.failures]


def _alarm_rules(state: ChairState, now: datetime) -> set[str]:
    return {c.rule for c in evaluate(AlarmInputs(now, state), POLICY)}


def test_grade_2_holds_the_reduced_rate_until_resolved_with_no_step_up_prompt_or_alarm(
    chair_script: Any,
) -> None:
    s = chair_script
    s.to_infusing("ocrevus-600-subsequent")
    s.clock.advance(minutes=70)
    s.run(ChangeRate(120, source="pump"))
    s.run(RecordReaction(grade=2, signs=("flushing",)))
    state = s.run(ChangeRate(60, source="nurse", reason="reaction"))
    for minutes in (11, 30, 35, 60):  # the timeline: nothing announces a step-up
        now = s.clock.now() + timedelta(minutes=minutes)
        text = next_action(state, now, pump_rate=60, policy=POLICY).text
        assert "Step up" not in text and "Set pump to 80" not in text, (minutes, text)
        assert text.startswith("Hold 60 mL/h: record when symptoms resolve")
        assert "step_up_overdue" not in _alarm_rules(state, now)
    s.clock.advance(minutes=50)
    state = s.run(ResolveSymptoms())
    assert state.reactions[-1].resolved_at == s.clock.now()
    # resolved 50 min after onset (past the 30-min hold): the next rung is due now
    assert state.planned_rate_ml_h(s.clock.now()) == 80


def test_resolution_before_30_min_still_holds_30_min(chair_script: Any) -> None:
    s = chair_script
    s.to_infusing("ocrevus-600-subsequent")
    s.clock.advance(minutes=70)
    s.run(ChangeRate(120, source="pump"))
    s.run(RecordReaction(grade=1, signs=("pruritus",)))
    s.clock.advance(minutes=5)
    state = s.run(ResolveSymptoms())
    assert state.planned_rate_ml_h(s.clock.now() + timedelta(minutes=24)) == 60
    assert state.planned_rate_ml_h(s.clock.now() + timedelta(minutes=26)) == 80


def test_not_tolerated_stops_the_pump_or_regrades(chair_script: Any) -> None:
    s = chair_script
    s.to_infusing("ocrevus-600-subsequent")
    s.clock.advance(minutes=70)
    s.run(ChangeRate(120, source="pump"))
    s.run(RecordReaction(grade=2, signs=("flushing",)))
    s.run(ChangeRate(60, source="pump"))
    s.clock.advance(minutes=10)
    with pytest.raises(CommandRefused, match="re-graded 3 or 4"):
        s.run(ReactionNotTolerated("regrade", grade=2))
    state = s.run(ReactionNotTolerated("regrade", grade=3, reason="wheeze despite half rate"))
    assert state.phase is Phase.PAUSED  # grade 3: stop, restart at half the onset rate once resolved
    assert state.reactions[0].not_tolerated_at == s.clock.now()
    regraded = state.reactions[-1]
    assert (regraded.grade, regraded.action, regraded.rate_at_onset_ml_h) == (
        3,
        ReactionAction.STOP_THEN_RESTART,
        60,  # the rate the pump ran at when it was re-graded
    )
    assert state.events[-1].payload_as(ReactionRecorded).regrades_seq == state.reactions[0].seq


def test_not_tolerated_stop_pauses_the_infusion(chair_script: Any) -> None:
    s = chair_script
    s.to_infusing("ocrevus-600-subsequent")
    s.clock.advance(minutes=70)
    s.run(RecordReaction(grade=1, signs=("pruritus",)))
    state = s.run(ReactionNotTolerated("stop", reason="itching worse"))
    assert state.phase is Phase.PAUSED
    assert "not tolerated" in state.pauses[-1].reason
    state = s.run(ReactionNotTolerated("stop"))  # already stopped: only the marker is added
    assert state.phase is Phase.PAUSED


def test_recurrence_after_improvement_is_refused_as_grade_1_2_unless_overridden(chair_script: Any) -> None:
    s = chair_script
    s.to_infusing("ocrevus-600-subsequent")
    s.clock.advance(minutes=70)
    s.run(RecordReaction(grade=2, signs=("flushing",)))
    s.clock.advance(minutes=10)
    s.run(ResolveSymptoms())
    s.clock.advance(minutes=40)
    with pytest.raises(CommandRefused) as caught:
        s.run(RecordReaction(grade=2, signs=("flushing",)))
    assert codes(caught) == ["recurrence_after_improvement"] and caught.value.overridable
    assert "CTCAE v5 grades a recurrence after improvement as 3" in str(caught.value)
    state = s.run(RecordReaction(grade=3, signs=("flushing",)))  # re-graded: accepted
    assert state.phase is Phase.PAUSED


def test_recurrence_override_is_recorded(chair_script: Any) -> None:
    s = chair_script
    s.to_infusing("ocrevus-600-subsequent")
    s.clock.advance(minutes=70)
    s.run(RecordReaction(grade=1, signs=("pruritus",)))
    s.run(ResolveSymptoms())
    s.clock.advance(minutes=40)
    state = s.run(RecordReaction(grade=1, signs=("rash",), override=OVERRIDE))
    assert state.events[-1].overrides[0].guard == "recurrence_after_improvement"


def test_anaphylaxis_signs_below_grade_3_are_refused_without_override(chair_script: Any) -> None:
    s = chair_script
    s.to_infusing("ocrevus-600-subsequent")
    s.clock.advance(minutes=20)
    with pytest.raises(CommandRefused) as caught:
        s.run(RecordReaction(grade=1, signs=("Anaphylaxis", "laryngeal edema")))
    assert codes(caught) == ["anaphylaxis_signs_low_grade"]
    assert "Anaphylaxis, laryngeal edema is a sign of anaphylaxis" in str(caught.value)
    for sign in ("bronchospasm", "angio-oedema", "hypotension", "hypoxia"):
        with pytest.raises(CommandRefused):
            s.run(RecordReaction(grade=2, signs=(sign,)))
    state = s.run(RecordReaction(grade=2, signs=("hypotension",), override=OVERRIDE))
    assert state.events[-1].overrides[0].guard == "anaphylaxis_signs_low_grade"


def test_ctcae_wording_per_grade_is_data(chair_script: Any) -> None:
    terms = chair_script.floor.reaction_terms
    assert terms.wording[3].startswith("Prolonged")
    assert "recurrence of symptoms following initial improvement" in terms.wording[3]
    assert terms.wording[4].startswith("Life-threatening")
    assert "CTCAE" in terms.source


def test_back_dated_onset_takes_the_pump_rate_recorded_then(chair_script: Any) -> None:
    s = chair_script
    s.to_infusing("ocrevus-600-subsequent")
    s.clock.advance(minutes=31)
    s.run(ChangeRate(80, source="pump"))
    onset = s.clock.now() + timedelta(minutes=9)
    s.clock.advance(minutes=30)
    s.run(ChangeRate(120, source="pump"))
    s.clock.advance(minutes=9)
    state = s.run(RecordReaction(grade=2, signs=("flushing",), onset_at=onset))
    reaction = state.reactions[-1]
    assert (reaction.rate_at_onset_ml_h, reaction.new_rate_ml_h) == (80, 40)
    assert state.pump_rate_at(onset) == 80 and state.pump_rate_at(s.clock.now()) == 120
    assert s.floor.pump_rate_at(s.session_id, onset) == 80


def test_reaction_in_observation_extends_it_and_grade_4_goes_to_observation(chair_script: Any) -> None:
    s = chair_script
    s.to_infusing("ocrevus-600-subsequent")
    s.clock.advance(minutes=210)
    state = s.run(CompleteInfusion(source="pump"))
    ended = s.clock.now()
    assert state.earliest_discharge_at == ended + timedelta(minutes=60)
    s.clock.advance(minutes=50)
    state = s.run(RecordReaction(grade=3, signs=("dyspnea",)))
    assert state.phase is Phase.OBSERVATION and state.earliest_discharge_at is None
    s.clock.advance(minutes=11)  # the issue: 11 min later the app said "may be discharged"
    assert "observation_complete" not in _alarm_rules(state, s.clock.now())
    s.run(RecordVitals({"systolic_mmhg": 120}))
    with pytest.raises(CommandRefused) as caught:
        s.run(Discharge())
    assert codes(caught) == ["reaction_unresolved"]
    s.clock.advance(minutes=20)
    state = s.run(ResolveSymptoms())
    assert state.earliest_discharge_at == s.clock.now() + timedelta(minutes=60)
    s.clock.advance(minutes=59)
    with pytest.raises(CommandRefused) as caught:
        s.run(Discharge())
    assert codes(caught) == ["observation_not_complete"]


def test_discharge_needs_vitals_after_the_end_or_an_override(chair_script: Any) -> None:
    s = chair_script
    s.to_infusing("ocrevus-600-subsequent")
    s.clock.advance(minutes=20)
    s.run(RecordReaction(grade=4, signs=("anaphylaxis",)))
    s.clock.advance(minutes=1)  # the issue: discharge one minute after a grade 4 was accepted
    with pytest.raises(CommandRefused) as caught:
        s.run(Discharge(override=OVERRIDE))
    assert codes(caught) == ["anaphylaxis_observation"] and not caught.value.overridable  # issue 16
    release = PrescriberRelease("Dr Osei", SECOND_NURSE, "transferred to the emergency department")
    with pytest.raises(CommandRefused) as caught:
        s.run(Discharge(release=release))
    assert set(codes(caught)) == {"reaction_unresolved", "vitals_missing_after_infusion"}
    assert caught.value.overridable
    state = s.run(Discharge(override=OVERRIDE, release=release))
    assert state.phase is Phase.DISCHARGED
    assert {o.guard for o in state.events[-1].overrides} == set(codes(caught))


def test_refusal_messages_show_the_display_time_zone(floor: Floor, clock: Any) -> None:
    from zoneinfo import ZoneInfo

    from app.floor import Floor as FloorClass
    from tests.conftest import ChairScript

    zurich = FloorClass(floor.journal, floor.protocols, clock, display_tz=ZoneInfo("Europe/Zurich"))
    s = ChairScript(zurich, clock, chair="Chair 9")
    s.to_infusing("ocrevus-600-subsequent")
    s.clock.advance(minutes=210)
    s.run(CompleteInfusion(source="pump"))
    s.run(RecordVitals({"systolic_mmhg": 120}))
    local = (s.clock.now() + timedelta(minutes=60)).astimezone(ZoneInfo("Europe/Zurich"))
    with pytest.raises(CommandRefused, match=f"observation runs until {local:%H:%M} "):
        s.run(Discharge())


def test_the_banner_never_offers_a_discharge_the_guard_refuses(chair_script: Any) -> None:
    from app.domain.commands import Discontinue
    from app.domain.decide import discharge_failures

    s = chair_script
    s.to_infusing("ocrevus-600-subsequent")
    s.clock.advance(minutes=40)
    s.run(Discontinue("patient asked to stop"))
    for minutes, vitals in ((0, False), (30, True), (61, False), (0, True)):
        s.clock.advance(minutes=minutes)
        if vitals:
            s.run(RecordVitals({"systolic_mmhg": 120}))
        state, now = s.state, s.clock.now()
        action = next_action(state, now, policy=POLICY)
        offers_discharge = action.text.startswith("Discharge")
        assert offers_discharge == (not discharge_failures(state, now)), (minutes, action.text)
    assert s.run(Discharge()).phase is Phase.DISCHARGED
