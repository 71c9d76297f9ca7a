"""The session timeline through the real Floor and journal: delivery segments with their stop reasons,
reactions with their holds, who was responsible when, the earliest discharge."""

from __future__ import annotations

from app.domain.clock import ManualClock
from app.domain.commands import (
    ChangeRate,
    CompleteInfusion,
    Discharge,
    Discontinue,
    HandOver,
    PauseInfusion,
    RecordAlarm,
    RecordReaction,
    RecordVitals,
    ResolveSymptoms,
    ResumeInfusion,
)
from app.domain.delivery import PUMP_ALARM_REASON, ChangeKind, StopReason
from app.domain.phase import Phase
from app.domain.timeline import SessionTimeline

from ..conftest import ChairScript


def _story(script: ChairScript) -> list[tuple[float, StopReason | None]]:
    return [(s.rate_ml_h, s.stop_reason) for s in SessionTimeline.of(script.state).segments]


def test_a_grade_4_reaction_ends_the_segment_and_the_infusion(
    clock: ManualClock, chair_script: ChairScript
) -> None:
    chair_script.to_infusing()
    clock.advance(minutes=20)
    state = chair_script.run(RecordReaction(4, ("hypotension", "stridor")))
    timeline = SessionTimeline.of(state)
    assert state.phase is Phase.OBSERVATION  # the patient stays under observation
    assert _story(chair_script) == [(40.0, StopReason.REACTION_DISCONTINUED)]
    assert timeline.stopped_for_good and timeline.outcome == "discontinued for a reaction"
    assert timeline.infusion_ended_at == clock.now()
    assert timeline.reactions[0].stopped_delivery and timeline.reactions[0].holds


def test_a_pump_alarm_pause_a_rate_change_and_a_completion(
    clock: ManualClock, chair_script: ChairScript
) -> None:
    chair_script.to_infusing()
    clock.advance(minutes=30)
    chair_script.run(ChangeRate(80, "pump"))
    clock.advance(minutes=5)
    chair_script.run(PauseInfusion(f"{PUMP_ALARM_REASON}: occlusion downstream", source="pump"))
    clock.advance(minutes=3)
    chair_script.run(ResumeInfusion(source="pump"))
    clock.advance(minutes=3)
    chair_script.run(PauseInfusion("line check"))
    clock.advance(minutes=100)
    chair_script.run(CompleteInfusion("pump", 500))
    assert _story(chair_script) == [
        (40.0, StopReason.RATE_CHANGE),
        (80.0, StopReason.PUMP_ALARM),
        (80.0, StopReason.PAUSED),
    ]
    timeline = SessionTimeline.of(chair_script.state)
    complete = timeline.changes[-1]
    assert complete.kind is ChangeKind.COMPLETE and complete.volume_ml == 500  # completed while paused
    assert timeline.infusion_end is StopReason.COMPLETE and not timeline.stopped_for_good


def test_a_severe_reaction_stops_and_the_restart_runs_at_the_restart_rate(
    clock: ManualClock, chair_script: ChairScript
) -> None:
    chair_script.to_infusing()
    clock.advance(minutes=40)
    reaction = chair_script.run(RecordReaction(3, ("rigors",))).reactions[-1]
    clock.advance(minutes=30)
    state = chair_script.run(ResumeInfusion())
    assert _story(chair_script) == [
        (reaction.rate_at_onset_ml_h, StopReason.REACTION),
        (reaction.restart_rate_ml_h, None),
    ]
    assert reaction.restart_rate_ml_h < reaction.rate_at_onset_ml_h
    assert state.pump_rate_ml_h == reaction.restart_rate_ml_h  # the chair says what the pump runs at
    assert state.pump_rate_at(clock.now()) == reaction.restart_rate_ml_h
    assert SessionTimeline.of(state).changes[-1].resumed


def test_a_mild_reaction_holds_until_resolved_and_a_discontinuation_has_its_reason(
    clock: ManualClock, chair_script: ChairScript
) -> None:
    chair_script.to_infusing()
    clock.advance(minutes=20)
    chair_script.run(RecordReaction(1, ("flushing",)))
    assert SessionTimeline.of(chair_script.state).reactions[0].holds
    assert not SessionTimeline.of(chair_script.state).reactions[0].stopped_delivery
    clock.advance(minutes=10)
    chair_script.run(ResolveSymptoms())
    assert not SessionTimeline.of(chair_script.state).reactions[0].holds
    clock.advance(minutes=5)
    state = chair_script.run(Discontinue("patient asked to stop"))
    timeline = SessionTimeline.of(state)
    assert timeline.segments[-1].ended is not None
    assert timeline.segments[-1].ended.detail == "patient asked to stop"
    assert timeline.infusion_end is StopReason.DISCONTINUED and timeline.outcome == "discontinued"


def test_who_was_responsible_when_and_the_earliest_discharge(
    clock: ManualClock, chair_script: ChairScript
) -> None:
    chair_script.to_infusing()
    checked_in = chair_script.state.checked_in_at
    assert checked_in is not None
    clock.advance(minutes=60)
    handed = clock.now()
    chair_script.run(HandOver("RN-CD", "lunch"))
    clock.advance(minutes=200)
    state = chair_script.run(CompleteInfusion("pump", 500))
    timeline = SessionTimeline.of(state)
    assert [(r.nurse, r.handed_over_by) for r in timeline.responsible] == [("RN-AB", ""), ("RN-CD", "RN-AB")]
    assert timeline.responsible_at(checked_in) == "RN-AB" and timeline.responsible_at(handed) == "RN-CD"
    assert timeline.earliest_discharge_at == state.earliest_discharge_at is not None
    assert SessionTimeline.of(state) is timeline  # derived once per state


def test_an_alarm_ends_when_cleared_or_at_discharge_at_the_latest(
    clock: ManualClock, chair_script: ChairScript
) -> None:
    chair_script.to_infusing()
    clock.advance(minutes=5)
    cleared = ("Chair 1-occl", "pump_occlusion", "high", "Chair 1: occlusion")
    left = ("Chair 1-link", "link_lost_infusing", "high", "Chair 1: no data from the pump")
    chair_script.run(RecordAlarm("raised", *cleared))
    chair_script.run(RecordAlarm("raised", *left))
    clock.advance(minutes=2)
    chair_script.run(RecordAlarm("cleared", *cleared))
    timeline = SessionTimeline.of(chair_script.state)
    assert [a.alarm_id for a in timeline.open_alarms] == ["Chair 1-link"]
    by_id = {a.alarm_id: a for a in timeline.alarms}
    assert timeline.alarm_ended_at(by_id["Chair 1-occl"]) == clock.now()
    clock.advance(minutes=200)
    chair_script.run(CompleteInfusion("pump", 500))
    chair_script.run(RecordVitals({"heart_rate_bpm": 70.0, "systolic_mmhg": 118.0}))
    clock.advance(minutes=61)
    state = chair_script.run(Discharge())
    timeline = SessionTimeline.of(state)
    by_id = {a.alarm_id: a for a in timeline.alarms}
    assert timeline.open_alarms == () and timeline.alarm_ended_at(by_id["Chair 1-link"]) == clock.now()
