"""The chair state machine: allowed moves, self-explaining guards, overrides, and replay."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from app.domain.chair import ChairState, InvalidEventSequence
from app.domain.commands import (
    AddNote,
    ChangeRate,
    CompleteInfusion,
    Correct,
    Discharge,
    Discontinue,
    GivePremedication,
    Override,
    PauseInfusion,
    RecordReaction,
    RecordScreening,
    RecordVitals,
    ResolveSymptoms,
    ResumeInfusion,
    StartInfusion,
)
from app.domain.decide import CommandRefused
from app.domain.events import CorrectionRecorded, Event, EventType, InfusionResumed, VitalsRecorded
from app.domain.phase import ALLOWED_MOVES, Phase, can_move
from app.domain.protocol import ReactionAction

OVERRIDE = Override(by="RN-CD (charge nurse)", reason="prescriber approved by phone")


def codes(caught: pytest.ExceptionInfo[CommandRefused]) -> list[str]:
    return [f.code for f in caught.value.failures]


def test_transition_table_has_every_phase_and_discharged_is_final() -> None:
    assert set(ALLOWED_MOVES) == set(Phase)
    assert ALLOWED_MOVES[Phase.DISCHARGED] == frozenset()
    assert not can_move(Phase.EMPTY, Phase.INFUSING)
    assert not can_move(Phase.OBSERVATION, Phase.INFUSING)
    assert can_move(Phase.PAUSED, Phase.INFUSING)


def test_happy_path_through_every_phase(chair_script: Any) -> None:
    s = chair_script
    assert s.check_in().phase is Phase.SCREENING
    assert s.screen().phase is Phase.PREMEDICATION
    s.premedicate()
    state = s.start()
    assert state.phase is Phase.INFUSING
    assert state.pump_rate_ml_h == 40
    s.clock.advance(minutes=210)
    state = s.run(CompleteInfusion(source="pump", volume_infused_ml=500.0))
    assert state.phase is Phase.OBSERVATION
    assert state.observation_ends_at == s.clock.now() + timedelta(minutes=60)
    s.clock.advance(minutes=60)
    s.run(RecordVitals({"systolic_mmhg": 122, "heart_rate_bpm": 72}))
    assert s.run(Discharge()).phase is Phase.DISCHARGED
    assert s.floor.session_for_chair("Chair 1") is None


def test_start_before_premed_lead_time_is_refused_with_the_reason_then_overridable(chair_script: Any) -> None:
    s = chair_script
    s.check_in()
    s.screen()
    s.premedicate()
    s.clock.advance(minutes=10)
    with pytest.raises(CommandRefused) as caught:
        s.run(StartInfusion())
    assert caught.value.overridable
    assert "premedication_lead_time" in codes(caught)
    assert "methylprednisolone was given 10 min ago; wait 30 min" in str(caught.value)
    state = s.run(StartInfusion(override=OVERRIDE))
    started = state.events[-1]
    assert started.type is EventType.INFUSION_STARTED
    assert {o.guard for o in started.overrides} == {"premedication_lead_time"}
    assert started.overrides[0].by == OVERRIDE.by


def test_missing_required_premedication_is_named(chair_script: Any) -> None:
    s = chair_script
    s.check_in()
    s.screen()
    s.run(GivePremedication("methylprednisolone", "100 mg", "IV"))
    s.clock.advance(minutes=40)
    with pytest.raises(
        CommandRefused, match=r"diphenhydramine \(or another antihistamine\) has not been given"
    ):
        s.run(StartInfusion())


def test_discharge_before_observation_ends_is_refused(chair_script: Any) -> None:
    s = chair_script
    s.to_infusing()
    s.clock.advance(minutes=210)
    s.run(CompleteInfusion(source="nurse"))
    s.clock.advance(minutes=45)
    s.run(RecordVitals({"systolic_mmhg": 122, "heart_rate_bpm": 72}))
    with pytest.raises(CommandRefused) as caught:
        s.run(Discharge())
    assert codes(caught) == ["observation_not_complete"]
    assert "15 min left" in str(caught.value)


def test_short_protocol_when_not_eligible_is_refused(chair_script: Any) -> None:
    with pytest.raises(CommandRefused) as caught:
        chair_script.check_in("ocrevus-600-short", prior_infusions=2, prior_serious_reaction=True)
    assert codes(caught) == ["not_eligible"]
    with pytest.raises(CommandRefused) as caught:
        chair_script.check_in("ocrevus-600-short", prior_infusions=0)
    assert "needs at least 2 prior infusion(s)" in str(caught.value)
    state = chair_script.check_in("ocrevus-600-short", prior_infusions=0, override=OVERRIDE)
    assert state.events[-1].overrides[0].guard == "not_eligible"


def test_dose_too_soon_is_refused(chair_script: Any) -> None:
    soon = (chair_script.clock.now() - timedelta(days=100)).date()
    with pytest.raises(CommandRefused, match="last dose 100 days ago"):
        chair_script.check_in(last_dose_on=soon)


def test_expired_bag_cannot_start(chair_script: Any) -> None:
    s = chair_script
    s.check_in(bag_prepared_at=s.clock.now() - timedelta(hours=7, minutes=45))
    s.screen()
    s.premedicate()
    s.clock.advance(minutes=30)
    with pytest.raises(CommandRefused) as caught:
        s.run(StartInfusion())
    assert codes(caught) == ["bag_expired"]


def test_screening_finding_blocks_until_overridden(chair_script: Any) -> None:
    s = chair_script
    s.check_in()
    answers = {item.id: item.acceptable_answer for item in s.state.require_protocol().screening}
    answers["active_infection"] = True
    with pytest.raises(CommandRefused) as caught:
        s.run(RecordScreening(answers))
    assert codes(caught) == ["screening_delay"]
    with pytest.raises(CommandRefused, match="unanswered"):
        s.run(RecordScreening({"active_infection": False}))
    state = s.run(Discontinue("delayed: active infection, rebook in 1 week"))
    assert state.phase is Phase.DISCONTINUED
    assert s.run(Discharge()).phase is Phase.DISCHARGED


def test_wrong_phase_is_refused_and_not_overridable(chair_script: Any) -> None:
    s = chair_script
    s.check_in()
    with pytest.raises(CommandRefused) as caught:
        s.run(StartInfusion(override=OVERRIDE))
    assert not caught.value.overridable
    assert "not possible while the chair is in Screening" in str(caught.value)


def test_mild_reaction_halves_the_pump_rate_at_onset_and_replans(chair_script: Any) -> None:
    s = chair_script
    s.to_infusing()
    s.clock.advance(minutes=70)
    s.run(ChangeRate(120, source="pump"))
    state = s.run(RecordReaction(grade=2, signs=("flushing", "pruritus")))
    reaction = state.reactions[-1]
    assert reaction.action is ReactionAction.HALVE_RATE
    assert (reaction.rate_at_onset_ml_h, reaction.new_rate_ml_h) == (120, 60)
    assert state.planned_rate_ml_h(s.clock.now()) == 60
    # held until the nurse records the symptoms resolved, however long that takes
    assert state.planned_rate_ml_h(s.clock.now() + timedelta(minutes=31)) == 60
    s.clock.advance(minutes=10)
    state = s.run(ResolveSymptoms())
    assert state.planned_rate_ml_h(s.clock.now() + timedelta(minutes=19)) == 60
    assert state.planned_rate_ml_h(s.clock.now() + timedelta(minutes=21)) == 80
    assert state.phase is Phase.INFUSING


def test_severe_reaction_stops_and_resume_restarts_at_half(chair_script: Any) -> None:
    s = chair_script
    s.to_infusing()
    s.clock.advance(minutes=70)
    s.run(ChangeRate(120, source="pump"))
    state = s.run(RecordReaction(grade=3, signs=("dyspnea", "rigors")))  # hypotension: anaphylaxis
    assert state.phase is Phase.PAUSED
    assert state.reactions[-1].new_rate_ml_h == 0
    assert state.reactions[-1].restart_rate_ml_h == 60
    assert state.projected_end(s.clock.now()) is not None
    s.clock.advance(minutes=40)
    state = s.run(ResumeInfusion())
    assert state.phase is Phase.INFUSING
    assert state.events[-1].payload_as(InfusionResumed).restart_rate_ml_h == 60
    assert state.planned_rate_ml_h(s.clock.now()) == 60
    assert state.reactions[-1].resolved_at == s.clock.now()


def test_life_threatening_reaction_discontinues(chair_script: Any) -> None:
    s = chair_script
    s.to_infusing()
    s.clock.advance(minutes=20)
    state = s.run(RecordReaction(grade=4, signs=("anaphylaxis",)))
    assert state.phase is Phase.OBSERVATION  # stopped for good, and watched
    assert state.infusion_ended_at == state.discontinued_at == s.clock.now()
    assert state.completed_at is None  # never completed
    assert state.earliest_discharge_at is None  # until the symptoms are recorded resolved
    assert "permanently discontinued" in state.discontinued_reason
    with pytest.raises(CommandRefused):
        s.run(ResumeInfusion())


def test_pause_and_resume_shift_the_projected_end(chair_script: Any) -> None:
    s = chair_script
    state = s.to_infusing()
    end_before = state.projected_end(s.clock.now())
    s.clock.advance(minutes=10)
    s.run(PauseInfusion("patient to bathroom"))
    s.clock.advance(minutes=15)
    state = s.run(ResumeInfusion())
    assert state.projected_end(s.clock.now()) == end_before + timedelta(minutes=15)  # type: ignore[operator]


def test_reaction_during_observation_is_recorded_without_rate_action(chair_script: Any) -> None:
    s = chair_script
    s.to_infusing()
    s.clock.advance(minutes=210)
    s.run(CompleteInfusion(source="pump"))
    s.clock.advance(minutes=20)
    state = s.run(RecordReaction(grade=1, signs=("headache",)))
    assert state.reactions[-1].action is None
    assert state.phase is Phase.OBSERVATION


def test_vitals_plausibility(chair_script: Any) -> None:
    s = chair_script
    s.check_in()
    with pytest.raises(CommandRefused, match="Heart rate .* 720 is outside the plausible range"):
        s.run(RecordVitals({"heart_rate_bpm": 720}))
    with pytest.raises(CommandRefused, match="diastolic 130 is not below systolic 120"):
        s.run(RecordVitals({"systolic_mmhg": 120, "diastolic_mmhg": 130}))
    state = s.run(RecordVitals({"temperature_c": 38.4, "heart_rate_bpm": 88}))
    assert state.events[-1].payload_as(VitalsRecorded).alerts == ("Temperature (°C) high: 38.4 (above 38)",)


def test_correction_references_the_old_entry_and_nothing_is_edited(chair_script: Any) -> None:
    s = chair_script
    s.check_in()
    s.run(RecordVitals({"heart_rate_bpm": 98}))
    wrong = s.state.vitals[-1].seq
    with pytest.raises(CommandRefused, match="a correction needs a reason"):
        s.run(Correct(wrong, " ", {"values": {"heart_rate_bpm": 89}}))
    with pytest.raises(CommandRefused, match="can correct values; not grade"):
        s.run(Correct(wrong, "typo", {"grade": 2}))
    state = s.run(Correct(wrong, "digits swapped", {"values": {"heart_rate_bpm": 89}}))
    assert state.vitals[-1].values["heart_rate_bpm"] == 89
    original = state.event(wrong)
    assert original is not None and original.payload_as(VitalsRecorded).values["heart_rate_bpm"] == 98
    assert state.events[-1].payload_as(CorrectionRecorded).target_seq == wrong
    state = s.run(AddNote("patient anxious; HR settled", target_seq=wrong))
    assert state.events[-1].type is EventType.NOTE_ADDED


def test_state_is_a_pure_fold_of_the_events(chair_script: Any) -> None:
    s = chair_script
    s.to_infusing()
    s.clock.advance(minutes=70)
    s.run(RecordReaction(grade=2))
    s.clock.advance(minutes=5)
    s.run(PauseInfusion("line check"))
    live = s.state
    replayed = ChairState.replay(live.session_id, s.floor.journal.events(live.session_id))
    assert replayed == live


def test_replay_refuses_an_impossible_sequence(chair_script: Any) -> None:
    s = chair_script
    s.check_in()
    bogus = Event(EventType.DISCHARGED, s.clock.now(), "RN", {}, seq=2)
    with pytest.raises(InvalidEventSequence, match="moves SCREENING to DISCHARGED"):
        ChairState.replay(s.session_id, [*s.floor.journal.events(s.session_id), bogus])


def test_one_open_session_per_chair_and_an_identified_nurse(chair_script: Any) -> None:
    chair_script.check_in()
    with pytest.raises(CommandRefused, match="already has a patient"):
        chair_script.check_in()
    with pytest.raises(CommandRefused, match="identify yourself"):
        chair_script.floor.execute(chair_script.session_id, RecordVitals({"heart_rate_bpm": 70}), " ")


def test_what_if_projection_does_not_change_the_record(chair_script: Any) -> None:
    s = chair_script
    state = s.to_infusing()
    s.clock.advance(minutes=70)
    state = s.run(ChangeRate(120, source="pump"))
    now = s.clock.now()
    baseline = state.plan(resume_open_at=now).end_min
    assert baseline is not None
    paused = state.what_if(now, pause_min=20).end_min
    assert paused == pytest.approx(baseline + 20)
    reaction = state.what_if(now, reaction_grade=2)
    assert reaction.rate_at(71) == 60
    assert reaction.end_min is not None
    assert reaction.end_min > baseline
    discontinued = state.what_if(now, reaction_grade=4)
    assert discontinued.end_min == pytest.approx(70)
    assert s.state == state  # asking changes nothing
