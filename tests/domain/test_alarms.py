"""Alarm rules and the alarm board: every condition raised and cleared, latching, acknowledgement,
the audio pause and its break-through, escalation, and journaling of the transitions.

States are built with the real Floor and journal (the `chair_script` fixture) and the ManualClock.
The chair is on ocrevus-600-subsequent: 40 mL/h, +40 every 30 min to 200 mL/h; check-in and premeds at
08:00, infusion start at 08:30 (UTC).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.alarm_policy import load_alarm_policy
from app.domain.alarms import (
    ALARM_RULES,
    AlarmBoard,
    AlarmCategory,
    AlarmCondition,
    AlarmInputs,
    AlarmPolicy,
    AlarmPolicyError,
    Priority,
    PumpAlarmReading,
    PumpDelivery,
    PumpReading,
    TransitionKind,
    alarm_name,
    evaluate,
)
from app.domain.chair import ChairState
from app.domain.commands import (
    ChangeRate,
    CompleteInfusion,
    Discharge,
    GivePremedication,
    Override,
    RecordReaction,
    RecordScreening,
    RecordVitals,
    ResumeInfusion,
    StartInfusion,
)
from app.domain.phase import Phase

NURSE = "RN-AB"


@pytest.fixture(scope="module")
def policy() -> AlarmPolicy:
    return load_alarm_policy()


def pump(
    at: datetime,
    rate: float,
    delivery: PumpDelivery = PumpDelivery.INFUSING,
    alarms: tuple[PumpAlarmReading, ...] = (),
    volume: float = 0.0,
) -> PumpReading:
    return PumpReading(at, rate, volume, delivery, alarms)


# The vital-sign rules (schedule reminders, out-of-range values) have their own tests in test_vitals.py;
# these tests follow the pump, the plan and the bag without a nurse taking vitals on schedule.
NON_VITAL_RULES = tuple(rule for rule in ALARM_RULES if not rule.id.startswith("vital"))


class Chair:
    """A chair's alarm board fed by `evaluate`, as the chair controller feeds it."""

    rules_under_test = NON_VITAL_RULES

    def __init__(self, script: Any, policy: AlarmPolicy) -> None:
        self.script = script
        self.policy = policy
        self.board = AlarmBoard(policy)
        self.reading: PumpReading | None = None
        self.link_connected = True
        self.link_lost_since: datetime | None = None
        self.gone = False  # the session left the floor (discharged)

    @property
    def now(self) -> datetime:
        return self.script.clock.now()  # type: ignore[no-any-return]

    def inputs(self) -> AlarmInputs:
        state = None if self.gone else self.script.floor.sessions.get(self.script.session_id)
        return AlarmInputs(
            self.now, state, self.reading, self.link_connected, self.link_lost_since, chair="Chair 4"
        )

    def conditions(self) -> dict[str, AlarmCondition]:
        return {c.rule: c for c in evaluate(self.inputs(), self.policy, self.rules_under_test)}

    def tick(self) -> list[tuple[TransitionKind, str]]:
        transitions = self.board.update(evaluate(self.inputs(), self.policy, self.rules_under_test), self.now)
        return [(t.kind, t.alarm.rule) for t in transitions]

    def set_pump(self, rate: float, **kwargs: Any) -> None:
        """A new pump reading; a rate change while infusing is journaled, as the controller does."""
        self.reading = pump(self.now, rate, **kwargs)
        state = self.script.floor.sessions.get(self.script.session_id)
        if (
            state is not None
            and state.phase is Phase.INFUSING
            and self.reading.delivery is PumpDelivery.INFUSING
            and state.pump_rate_ml_h != rate
        ):
            self.script.run(ChangeRate(rate, source="pump"))

    def rules(self) -> set[str]:
        return {a.rule for a in self.board.active()}


@pytest.fixture
def chair(chair_script: Any, policy: AlarmPolicy) -> Chair:
    return Chair(chair_script, policy)


def infusing(chair: Chair, override: Override | None = None, **check_in: Any) -> ChairState:
    s = chair.script
    s.check_in(**check_in)
    s.screen()
    s.premedicate()
    s.clock.advance(minutes=30)
    state: ChairState = s.run(StartInfusion(override=override))
    chair.set_pump(40)
    return state


RAISED, ACKED, CLEARED = TransitionKind.RAISED, TransitionKind.ACKNOWLEDGED, TransitionKind.CLEARED


# --------------------------------------------------------------------------------------------------
# Rate against the plan


def test_pump_still_at_onset_rate_after_a_mild_reaction_is_high_and_names_the_reaction(chair: Chair) -> None:
    infusing(chair)
    chair.script.clock.advance(minutes=70)  # 09:40, third step: 120 mL/h
    chair.set_pump(120)
    assert chair.tick() == []
    chair.script.run(RecordReaction(grade=2, signs=("flushing",)))
    chair.set_pump(120)
    assert chair.tick() == [], "the nurse has a grace period to set the pump"
    chair.script.clock.advance(seconds=61)
    chair.set_pump(120)
    assert chair.tick() == [(RAISED, "rate_above_plan_after_reaction")]
    alarm = chair.board.highest()
    assert alarm is not None
    assert alarm.priority is Priority.HIGH
    assert alarm.category is AlarmCategory.CLINICAL
    assert alarm.message == "Chair 4: pump 120 mL/h, plan 60 mL/h after reaction at 09:40 (grade 2)"
    chair.set_pump(60)
    assert chair.tick() == [(CLEARED, "rate_above_plan_after_reaction")]
    assert chair.board.active() == []


def test_pump_running_during_a_severe_reaction_stop(chair: Chair) -> None:
    infusing(chair)
    chair.script.clock.advance(minutes=40)  # 80 mL/h
    state = chair.script.run(RecordReaction(grade=3))
    assert state.phase is Phase.PAUSED
    chair.script.clock.advance(minutes=2)
    chair.set_pump(80)
    assert chair.conditions()["rate_above_plan_after_reaction"].message == (
        "Chair 4: pump 80 mL/h, plan 0 mL/h after reaction at 09:10 (grade 3)"
    )
    chair.set_pump(0, delivery=PumpDelivery.STOPPED)
    assert chair.conditions() == {}


def test_pump_above_plan_without_a_reaction_is_medium_with_tolerance_and_early_step_up(chair: Chair) -> None:
    infusing(chair)
    chair.script.clock.advance(minutes=10)
    chair.set_pump(43)  # within 5 mL/h
    assert chair.conditions() == {}
    chair.set_pump(80)
    assert chair.tick() == [(RAISED, "rate_above_plan")]
    alarm = chair.board.highest()
    assert alarm is not None
    assert (alarm.priority, alarm.message) == (Priority.MEDIUM, "Chair 4: pump 80 mL/h, plan 40 mL/h")
    chair.script.clock.advance(minutes=19, seconds=20)  # 40 s before the step to 80 mL/h
    chair.set_pump(80)
    assert chair.tick() == [(CLEARED, "rate_above_plan")], "a step-up 40 s early is within plan"


def test_journaled_rate_is_used_without_a_pump_reading(chair: Chair) -> None:
    infusing(chair)
    chair.reading = None
    chair.script.clock.advance(minutes=5)
    chair.script.run(ChangeRate(120, source="nurse"))
    assert set(chair.conditions()) == {"rate_above_plan"}


# --------------------------------------------------------------------------------------------------
# Step-up


def test_step_up_due_and_not_done_after_the_grace_period(chair: Chair, policy: AlarmPolicy) -> None:
    infusing(chair)
    chair.script.clock.advance(minutes=30)  # 09:00: step to 80 mL/h due
    chair.set_pump(40)
    assert chair.tick() == []
    chair.script.clock.advance(seconds=policy.step_up_grace_s - 1)
    chair.set_pump(40)
    assert chair.tick() == []
    chair.script.clock.advance(seconds=1)
    chair.set_pump(40)
    assert chair.tick() == [(RAISED, "step_up_overdue")]
    alarm = chair.board.highest()
    assert alarm is not None
    assert alarm.priority is Priority.LOW
    assert alarm.message == "Chair 4: step up to 80 mL/h was due at 09:00 (pump 40 mL/h)"
    chair.set_pump(80)
    assert chair.tick() == [(CLEARED, "step_up_overdue")]


def test_step_up_from_journaled_rates_when_there_is_no_pump(chair: Chair) -> None:
    infusing(chair)
    chair.reading = None
    chair.script.clock.advance(minutes=40)
    assert chair.tick() == [(RAISED, "step_up_overdue")]
    chair.script.run(ChangeRate(80, source="nurse"))
    assert chair.tick() == [(CLEARED, "step_up_overdue")]


def test_a_stopped_pump_is_not_a_missed_step_up(chair: Chair) -> None:
    infusing(chair)
    chair.script.clock.advance(minutes=40)
    chair.set_pump(0, delivery=PumpDelivery.STOPPED)
    assert chair.conditions() == {}


# --------------------------------------------------------------------------------------------------
# Pump alarms


@pytest.mark.parametrize(
    ("kind", "rule", "priority", "latching"),
    [
        ("occlusion", "pump_occlusion", Priority.HIGH, True),
        ("air", "pump_air_in_line", Priority.HIGH, True),
        ("fault", "pump_fault", Priority.HIGH, True),
        ("door", "pump_door_open", Priority.MEDIUM, False),
        ("battery", "pump_battery_low", Priority.MEDIUM, False),
        ("call_back", "pump_attention", Priority.MEDIUM, False),
    ],
)
def test_pump_alarm_kinds(chair: Chair, kind: str, rule: str, priority: Priority, latching: bool) -> None:
    infusing(chair)
    chair.script.clock.advance(minutes=5)
    alarm_reading = PumpAlarmReading(f"AL_{kind.upper()}", kind, f"{kind} text")
    chair.set_pump(0, delivery=PumpDelivery.ALARM, alarms=(alarm_reading,))
    assert chair.tick() == [(RAISED, rule)]
    alarm = chair.board.highest()
    assert alarm is not None
    assert (alarm.priority, alarm.category, alarm.latching) == (priority, AlarmCategory.TECHNICAL, latching)
    assert f"{kind} text (AL_{kind.upper()})" in alarm.message
    chair.set_pump(40)  # the nurse cleared it at the pump
    if not latching:
        assert chair.tick() == [(CLEARED, rule)]
        return
    assert chair.tick() == [], "a latching alarm stays until acknowledged"
    assert not chair.board.active()[0].condition_active
    result = chair.board.acknowledge(alarm.id, NURSE, chair.now)
    assert [(t.kind, t.by) for t in result] == [(ACKED, NURSE), (CLEARED, "")]
    assert chair.board.active() == []


def test_acknowledged_alarm_stays_while_its_condition_holds_then_clears(chair: Chair) -> None:
    infusing(chair)
    occlusion = (PumpAlarmReading("AL_OCCLU", "occlusion", "Downstream occlusion"),)
    chair.set_pump(0, delivery=PumpDelivery.ALARM, alarms=occlusion)
    chair.tick()
    alarm = chair.board.active()[0]
    assert [t.kind for t in chair.board.acknowledge(alarm.id, NURSE, chair.now)] == [ACKED]
    assert chair.board.sounding(chair.now) is None
    assert chair.tick() == []
    assert chair.board.active()[0].acknowledged_by == NURSE
    chair.set_pump(40)
    assert chair.tick() == [(CLEARED, "pump_occlusion")]


def test_end_of_infusion_alarm_is_not_a_pump_fault(chair: Chair) -> None:
    infusing(chair)
    end = (PumpAlarmReading("AL_EOI", "end_of_infusion", "End of infusion"),)
    chair.set_pump(40, delivery=PumpDelivery.KVO, alarms=end)
    assert set(chair.conditions()) == {"infusion_complete"}


# --------------------------------------------------------------------------------------------------
# Link lost


def test_link_lost_is_high_while_infusing_after_the_quiet_time(chair: Chair, policy: AlarmPolicy) -> None:
    infusing(chair)
    chair.script.clock.advance(minutes=5)
    occlusion = (PumpAlarmReading("AL_OCCLU", "occlusion", "Downstream occlusion"),)
    chair.set_pump(0, delivery=PumpDelivery.ALARM, alarms=occlusion)
    chair.link_connected = False
    chair.link_lost_since = chair.now
    assert chair.tick() == [], "a stale reading says nothing; the quiet time has not passed"
    chair.script.clock.advance(seconds=policy.link_lost_quiet_s)
    assert chair.tick() == [(RAISED, "link_lost_infusing")]
    alarm = chair.board.highest()
    assert alarm is not None
    assert (alarm.priority, alarm.category) == (Priority.HIGH, AlarmCategory.TECHNICAL)
    assert alarm.message == (
        "Chair 4: infusing, but no data from the pump since 08:35: check the pump and its cable"
    )
    chair.link_connected = True
    chair.link_lost_since = None
    chair.set_pump(40)
    assert chair.tick() == [(CLEARED, "link_lost_infusing")]


def test_link_lost_is_medium_in_a_session_and_low_for_an_empty_chair(chair: Chair) -> None:
    chair.link_connected = False
    chair.link_lost_since = chair.now - timedelta(minutes=1)
    assert chair.tick() == [(RAISED, "link_lost_idle")]
    chair.script.check_in()
    assert chair.tick() == [(RAISED, "link_lost"), (CLEARED, "link_lost_idle")]
    assert chair.board.highest() is not None
    assert chair.board.active()[0].priority is Priority.MEDIUM


# --------------------------------------------------------------------------------------------------
# Completion, observation, discharge


def test_infusion_complete_from_the_pump_then_observation_complete(chair: Chair) -> None:
    state = infusing(chair)
    chair.script.clock.advance(minutes=200)
    chair.set_pump(1, delivery=PumpDelivery.KVO, volume=500)
    assert chair.tick() == [(RAISED, "infusion_complete")]
    assert "pump reports end of infusion at 11:50 (500 mL)" in chair.board.active()[0].message
    assert chair.board.active()[0].priority is Priority.LOW
    # the controller journals the pump's own end of infusion, timed from telemetry
    reading = chair.reading
    assert reading is not None
    chair.script.run(CompleteInfusion(source="pump", volume_infused_ml=500, at=reading.at))
    assert chair.tick() == []
    assert chair.board.active()[0].message == (
        "Chair 4: infusion complete at 11:50 (500 mL); observation until 12:50"
    )
    chair.script.clock.advance(minutes=60)
    assert chair.tick() == [(RAISED, "observation_complete"), (CLEARED, "infusion_complete")]
    assert chair.board.active()[0].message == (
        "Chair 4: observation complete at 12:50: the patient may be discharged"
    )
    # notifications, not alarms: on the tile and in the record, but they never sound nor escalate
    assert chair.board.active()[0].category is AlarmCategory.NOTIFICATION
    assert chair.board.sounding(chair.now) is None
    chair.script.clock.advance(minutes=120)
    assert chair.board.escalated(chair.now) == []
    chair.script.run(RecordVitals({"systolic_mmhg": 120}))
    chair.script.run(Discharge())
    assert chair.script.state.phase is Phase.DISCHARGED
    assert chair.tick() == [(CLEARED, "observation_complete")]
    assert state.session_id not in chair.script.floor.sessions


# --------------------------------------------------------------------------------------------------
# Bag expiry


def test_bag_expiry_near_then_past(chair: Chair, policy: AlarmPolicy) -> None:
    # prepared 7 h 10 min before check-in: the 8 h room-temperature limit ends at 08:50
    # the start is past the bag's end (a guard since issue 10): started with an override
    late = Override("RN-CD", "new bag on its way; started to keep the slot")
    infusing(chair, late, bag_prepared_at=chair.now - timedelta(hours=7, minutes=10))
    assert chair.now.strftime("%H:%M") == "08:30"
    assert chair.tick() == [(RAISED, "bag_expiry_near")]
    alarm = chair.board.highest()
    assert alarm is not None
    assert alarm.priority is Priority.MEDIUM
    assert alarm.message.startswith(
        "Chair 4: the bag expires at 08:50 (in 20 min); the infusion would end at"
    )
    chair.script.clock.advance(minutes=20)
    chair.set_pump(40)
    assert chair.tick() == [(RAISED, "bag_expired"), (CLEARED, "bag_expiry_near")]
    alarm = chair.board.highest()
    assert alarm is not None
    assert (alarm.priority, alarm.message) == (
        Priority.HIGH,
        "Chair 4: the bag expired at 08:50 (prepared 00:50): stop and replace it",
    )
    chair.script.clock.advance(minutes=200)
    chair.script.run(CompleteInfusion(source="nurse", volume_infused_ml=500))
    assert (CLEARED, "bag_expired") in chair.tick()


def test_bag_expiry_from_the_label_date(chair: Chair) -> None:
    chair.script.check_in(bag_expiry=date(2026, 1, 4))  # expired at midnight
    assert set(chair.conditions()) == {"bag_expired"}


# --------------------------------------------------------------------------------------------------
# Started before the premedication lead time


def test_start_before_premedication_lead_time_latches_until_acknowledged(chair: Chair) -> None:
    s = chair.script
    s.check_in()
    s.screen()
    s.premedicate()
    s.clock.advance(minutes=10)
    s.run(StartInfusion(override=Override(by="RN-CD", reason="patient must leave by noon")))
    chair.set_pump(40)
    assert chair.tick() == [(RAISED, "started_before_premedication")]
    alarm = chair.board.highest()
    assert alarm is not None
    assert (alarm.priority, alarm.latching) == (Priority.MEDIUM, True)
    assert "infusion started at 08:10 before the premedication lead time" in alarm.message
    assert "override by RN-CD: patient must leave by noon" in alarm.message
    s.clock.advance(minutes=20)  # 08:30: the lead time has passed; the alarm stays until acknowledged
    chair.set_pump(40)
    assert chair.tick() == []
    assert chair.board.active()[0].condition_active is False
    assert [t.kind for t in chair.board.acknowledge(alarm.id, NURSE, chair.now)] == [ACKED, CLEARED]


def test_start_with_a_premedication_missing_raises_it_too(chair: Chair) -> None:
    s = chair.script
    s.check_in()
    s.screen()
    premed = s.state.require_protocol().premedications[0]
    s.run(GivePremedication(premed.drug, premed.suggested_dose, premed.suggested_route))
    s.clock.advance(minutes=30)
    s.run(StartInfusion(override=Override(by="RN-CD", reason="antihistamine refused by patient")))
    chair.set_pump(40)
    message = chair.conditions()["started_before_premedication"].message
    assert "has not been given" in message


# --------------------------------------------------------------------------------------------------
# The board: pause, break-through, escalation, journaling, restore


def condition(rule: str, priority: Priority, latching: bool = False) -> AlarmCondition:
    return AlarmCondition(rule, priority, AlarmCategory.CLINICAL, latching, f"{rule} message")


def test_audio_pause_counts_down_and_is_broken_through_by_a_higher_priority(
    policy: AlarmPolicy, clock: Any
) -> None:
    board = AlarmBoard(policy)
    t0 = clock.now()
    board.update([condition("a", Priority.MEDIUM)], t0)
    assert board.sounding(t0) is Priority.MEDIUM
    board.pause_audio(t0)
    assert board.audio_paused_remaining_s(t0) == policy.audio_pause_s == 120
    assert board.sounding(t0) is None
    t1 = t0 + timedelta(seconds=30)
    assert board.audio_paused_remaining_s(t1) == 90
    board.update([condition("a", Priority.MEDIUM), condition("b", Priority.MEDIUM)], t1)
    assert board.audio_paused_remaining_s(t1) == 90, "the same priority does not break through"
    assert board.sounding(t1) is None
    t2 = t1 + timedelta(seconds=10)
    board.update(
        [condition("a", Priority.MEDIUM), condition("b", Priority.MEDIUM), condition("c", Priority.HIGH)], t2
    )
    assert board.audio_paused_remaining_s(t2) == 0
    assert board.sounding(t2) is Priority.HIGH


def test_audio_pause_ends_after_the_policy_time(policy: AlarmPolicy, clock: Any) -> None:
    board = AlarmBoard(policy)
    now = clock.now()
    board.update([condition("a", Priority.LOW)], now)
    board.pause_audio(now)
    later = now + timedelta(seconds=policy.audio_pause_s)
    assert board.audio_paused_remaining_s(later) == 0
    assert board.sounding(later) is Priority.LOW


def test_unacknowledged_alarms_escalate_after_the_delay(policy: AlarmPolicy, clock: Any) -> None:
    board = AlarmBoard(policy)
    t0 = clock.now()
    board.update([condition("high", Priority.HIGH), condition("low", Priority.LOW)], t0)
    high_delay = timedelta(seconds=policy.escalation_after_s[Priority.HIGH])
    assert board.escalated(t0 + high_delay - timedelta(seconds=1)) == []
    assert [a.rule for a in board.escalated(t0 + high_delay)] == ["high"]
    low_delay = timedelta(seconds=policy.escalation_after_s[Priority.LOW])
    assert [a.rule for a in board.escalated(t0 + low_delay)] == ["high", "low"]
    board.acknowledge("high#1", "RN-AB", t0 + low_delay)
    assert [a.rule for a in board.escalated(t0 + low_delay)] == ["low"]


def test_order_history_and_new_ids_after_a_clear(policy: AlarmPolicy, clock: Any) -> None:
    board = AlarmBoard(policy)
    t0 = clock.now()
    board.update([condition("low", Priority.LOW), condition("high", Priority.HIGH)], t0)
    assert [a.id for a in board.active()] == ["high#1", "low#1"]
    board.acknowledge("high#1", "RN-AB", t0)
    assert board.highest() is not None
    board.update([], t0 + timedelta(seconds=5))
    board.update([condition("high", Priority.HIGH)], t0 + timedelta(seconds=9))
    assert [a.id for a in board.active()] == ["high#2"]
    assert [(t.kind, t.alarm.id) for t in board.history] == [
        (RAISED, "low#1"),
        (RAISED, "high#1"),
        (ACKED, "high#1"),
        (CLEARED, "low#1"),
        (CLEARED, "high#1"),
        (RAISED, "high#2"),
    ]
    with pytest.raises(KeyError):
        board.acknowledge("high#1", "RN-AB", t0)
    with pytest.raises(ValueError, match="who"):
        board.acknowledge("high#2", " ", t0)


def test_transitions_are_journaled_and_a_restarted_board_carries_on(
    chair: Chair, policy: AlarmPolicy
) -> None:
    infusing(chair)
    s = chair.script
    s.clock.advance(minutes=10)
    chair.set_pump(120)
    occlusion = (PumpAlarmReading("AL_OCCLU", "occlusion", "Downstream occlusion"),)
    journaled = chair.board.update(evaluate(chair.inputs(), policy, NON_VITAL_RULES), chair.now)
    journaled += chair.board.acknowledge("rate_above_plan#1", "RN-CD", chair.now)
    chair.set_pump(0, delivery=PumpDelivery.ALARM, alarms=occlusion)
    journaled += chair.board.update(evaluate(chair.inputs(), policy, NON_VITAL_RULES), chair.now)
    for transition in journaled:
        s.floor.execute(s.session_id, transition.command(), transition.by or "chairside")
    state = s.state
    assert set(state.alarms) == {"rate_above_plan#1", "pump_occlusion#1"}
    assert state.alarms["rate_above_plan#1"].cleared_at == chair.now  # the stopped pump cleared it
    assert state.alarms["rate_above_plan#1"].acknowledged_by == "RN-CD"
    assert [a.alarm_id for a in state.active_alarms] == ["pump_occlusion#1"]
    assert s.floor.journal.verify().intact

    restored = AlarmBoard(policy, state.alarms.values())
    assert [(a.id, a.priority, a.category, a.latching) for a in restored.active()] == [
        ("pump_occlusion#1", Priority.HIGH, AlarmCategory.TECHNICAL, True)
    ]
    chair.board = restored
    assert chair.tick() == []  # the same alarm, not a new one
    chair.set_pump(160)
    assert chair.tick() == [(RAISED, "rate_above_plan")]
    assert restored.get("rate_above_plan#2") is not None


def test_resume_after_a_severe_reaction_at_the_restart_rate_raises_nothing(chair: Chair) -> None:
    infusing(chair)
    chair.script.clock.advance(minutes=40)
    chair.set_pump(80)
    chair.script.run(RecordReaction(grade=3))
    chair.set_pump(0, delivery=PumpDelivery.PAUSED)
    chair.script.clock.advance(minutes=20)
    assert chair.tick() == []
    chair.script.run(ResumeInfusion())
    chair.set_pump(40)
    assert chair.tick() == []
    chair.set_pump(80)
    assert chair.conditions()["rate_above_plan_after_reaction"].message == (
        "Chair 4: pump 80 mL/h, plan 40 mL/h after reaction at 09:10 (grade 3)"
    )


# --------------------------------------------------------------------------------------------------
# Rules as data; policy file


def test_rules_are_unique_and_each_template_names_the_chair() -> None:
    ids = [rule.id for rule in ALARM_RULES]
    assert len(ids) == len(set(ids))
    assert all(rule.message.startswith("{chair}: ") for rule in ALARM_RULES)
    assert {rule.category for rule in ALARM_RULES} == set(AlarmCategory)


def test_priority_presentation_is_never_colour_alone() -> None:
    assert [(p.label, p.colour, p.symbol) for p in Priority] == [
        ("High", "red", "!!!"),
        ("Medium", "yellow", "!!"),
        ("Low", "cyan", "!"),
    ]


def test_shipped_policy_cites_a_source_for_every_table(policy: AlarmPolicy) -> None:
    assert set(policy.sources) == {
        "rate_above_plan",
        "step_up",
        "link_lost",
        "bag_expiry",
        "escalation",
        "audio_pause",
        "display",
        "vital_signs",
    }
    assert "IEC 60601-1-8" in policy.sources["display"]
    assert policy.flash_hz == {Priority.HIGH: 2.0, Priority.MEDIUM: 0.5, Priority.LOW: 0.0}


@pytest.mark.parametrize(
    ("edit", "field", "problem"),
    [
        (lambda t: t.replace("grace_s = 300", 'grace_s = "five"'), "step_up.grace_s", "must be a number"),
        (lambda t: t.replace("duration_s = 120\n", ""), "audio_pause.duration_s", "is missing"),
        (lambda t: t.replace("high_s = 60", "high_s = -1"), "escalation.high_s", "must be positive"),
        (lambda t: t.split("[display]")[0], "display", "table is missing"),
        (
            lambda t: t.replace('[bag_expiry]\nsource = "', '[bag_expiry]\nold = "'),
            "bag_expiry.source",
            "cite",
        ),
        (lambda t: t + "\n[[[", "(file)", "not valid TOML"),
    ],
)
def test_a_bad_policy_file_names_the_field(tmp_path: Path, edit: Any, field: str, problem: str) -> None:
    shipped = Path(__file__).resolve().parents[2] / "resources" / "alarms.toml"
    bad = tmp_path / "alarms.toml"
    bad.write_text(edit(shipped.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(AlarmPolicyError) as caught:
        load_alarm_policy(bad)
    assert caught.value.field_name == field
    assert problem in str(caught.value)
    assert str(caught.value).startswith("alarms.toml: field")


def test_screening_phase_has_no_alarm_when_all_is_well(chair: Chair) -> None:
    chair.script.check_in()
    assert chair.conditions() == {}
    protocol = chair.script.state.require_protocol()
    chair.script.run(RecordScreening({i.id: i.acceptable_answer for i in protocol.screening}))
    assert chair.conditions() == {}


def test_a_pump_still_running_the_last_rate_past_the_projected_end_is_within_plan(chair: Chair) -> None:
    state = infusing(chair)
    end = state.projected_end(chair.now)
    assert end is not None
    chair.script.clock.set(end - timedelta(minutes=1))
    chair.set_pump(200)
    chair.script.clock.set(end + timedelta(minutes=3))
    chair.set_pump(200, volume=480)
    assert chair.conditions() == {}
    chair.set_pump(260, volume=490)
    assert set(chair.conditions()) == {"rate_above_plan"}


def test_storage_failing_is_high_and_technical_at_a_busy_chair_until_storage_returns(
    chair: Chair, policy: AlarmPolicy
) -> None:
    now = chair.script.clock.now()
    problem = "the disk holding x.sqlite is full"
    idle = AlarmInputs(now, None, chair="Chair 2", storage_problem=problem)
    assert not [c for c in evaluate(idle, policy) if c.rule == "storage_failing"]  # nothing to lose there
    state = infusing(chair)
    failing = AlarmInputs(now, state, chair="Chair 4", storage_problem=problem)
    (condition,) = [c for c in evaluate(failing, policy) if c.rule == "storage_failing"]
    assert condition.priority is Priority.HIGH and condition.category is AlarmCategory.TECHNICAL
    assert condition.message == f"Chair 4: entries are not being recorded: {problem}"
    board = AlarmBoard(policy)
    raised = board.update(evaluate(failing, policy), now)
    assert [(t.kind, t.alarm.rule) for t in raised if t.alarm.rule == "storage_failing"] == [
        (RAISED, "storage_failing")
    ]
    back = AlarmInputs(now + timedelta(seconds=5), state, chair="Chair 4")
    cleared = board.update(evaluate(back, policy), back.now)
    assert ("storage_failing", CLEARED) in [(t.alarm.rule, t.kind) for t in cleared]


def test_journal_lost_entries_is_high_and_technical_at_every_chair_in_session(
    chair: Chair, policy: AlarmPolicy
) -> None:
    now = chair.script.clock.now()
    loss = "the broker holds the anchor of entry 28 but the journal ended at entry 24"
    idle = AlarmInputs(now, None, chair="Chair 2", journal_loss=loss)
    assert not [c for c in evaluate(idle, policy) if c.rule == "journal_lost_entries"]  # no record there
    state = infusing(chair)
    busy = AlarmInputs(now, state, chair="Chair 4", journal_loss=loss)
    (condition,) = [c for c in evaluate(busy, policy) if c.rule == "journal_lost_entries"]
    assert condition.priority is Priority.HIGH and condition.category is AlarmCategory.TECHNICAL
    assert condition.message == f"Chair 4: the journal lost entries: {loss}"
    intact = AlarmInputs(now, state, chair="Chair 4")
    assert not [c for c in evaluate(intact, policy) if c.rule == "journal_lost_entries"]


def test_every_alarm_has_a_short_name_and_one_no_rule_makes_is_named_by_its_id() -> None:
    """The name a tile and the wall board's banner give an alarm where a line has room for no more."""
    assert all(rule.short and len(rule.short) <= 16 for rule in ALARM_RULES)
    assert alarm_name("link_lost_infusing") == "link lost"
    assert alarm_name("pump_occlusion") == "occlusion"
    assert alarm_name("journal_write_failed") == "journal write failed"  # the station's own
