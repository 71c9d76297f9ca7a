"""The demo runs headless with a ManualClock: a floor of chairs from check-in to discharge, every nurse
action journaled through the app's commands, pumps that followed the plan, and the alarm rules quiet
except where the script makes something worth an alarm."""

from __future__ import annotations

import threading
from collections import defaultdict
from pathlib import Path

import pytest

from app.alarm_policy import load_alarm_policy
from app.demo import SHOWCASE_MIN, Demo, SpeedClock
from app.domain.alarms import AlarmBoard, AlarmInputs, PumpAlarmReading, PumpDelivery, PumpReading, evaluate
from app.domain.chair import ChairState
from app.domain.clock import ManualClock
from app.domain.events import EventType
from app.domain.phase import Phase
from app.floor import Floor
from drivers import open_driver
from drivers.base import LinkState, Telemetry
from drivers.sim import PumpSnapshot

ALARM_KINDS = {
    "occlusion": "occlusion",
    "air_in_line": "air",
    "door_open": "door",
    "low_battery": "battery",
    "empty_battery": "battery",
    "end_of_infusion": "end_of_infusion",
    "call_back": "call_back",
}


def reading(snapshot: PumpSnapshot, clock: ManualClock) -> PumpReading:
    """What the chair controller would make of the pump's telemetry."""
    alarms = tuple(PumpAlarmReading(a.value, ALARM_KINDS[a.value], a.value) for a in snapshot.alarms)
    return PumpReading(
        clock.now(),
        snapshot.rate_ml_h,
        snapshot.volume_infused_ml,
        PumpDelivery(snapshot.state.value),
        alarms,
    )


def test_four_chairs_run_from_check_in_to_discharge(floor: Floor, clock: ManualClock) -> None:
    policy = load_alarm_policy()
    demo = Demo(floor, clock, chairs=4, speed=1.0)
    boards = {chair.name: AlarmBoard(policy) for chair in demo.chairs}
    raised: dict[str, set[str]] = defaultdict(set)
    showcase: set[Phase] = set()
    urls = demo.start()
    try:
        assert list(urls) == ["Chair 1", "Chair 2", "Chair 3", "Chair 4"]
        assert all(Path(url).exists() for url in urls.values())
        for minute in range(1, 12 * 60):
            clock.advance(minutes=1)
            demo.advance()
            phases = set()
            for chair in demo.chairs:
                state = floor.sessions.get(chair.session_id) if chair.session_id else None
                if state is not None:
                    phases.add(state.phase)
                inputs = AlarmInputs(
                    clock.now(), state, reading(chair.pump.snapshot(), clock), chair=chair.name
                )
                for t in boards[chair.name].update(evaluate(inputs, policy), clock.now()):
                    raised[chair.name].add(t.alarm.rule)
            if minute == SHOWCASE_MIN:
                showcase = phases
            if demo.finished:
                break
        assert demo.finished, [chair.actions[-1:] for chair in demo.chairs]
    finally:
        demo.stop()
    assert not any(Path(url).exists() for url in urls.values())
    # the grade 4 chair is watched in observation after its reaction (it used to sit in DISCONTINUED)
    assert showcase == {Phase.INFUSING, Phase.PREMEDICATION, Phase.PAUSED, Phase.OBSERVATION}

    states = [ChairState.replay(c.session_id, floor.journal.events(c.session_id)) for c in demo.chairs]
    assert [s.phase for s in states] == [Phase.DISCHARGED] * 4
    assert [c.final_phase for c in demo.chairs] == [
        Phase.DISCHARGED,
        Phase.DISCHARGED,
        Phase.DISCHARGED,
        Phase.DISCONTINUED,
    ]
    mild, late, severe, life_threatening = states
    # grade 2: the pump was set to half the onset rate, and the bag was delivered
    reaction = mild.reactions[0]
    assert (reaction.grade, reaction.new_rate_ml_h) == (2, reaction.rate_at_onset_ml_h / 2)
    halved = [
        e
        for e in mild.events
        if e.type is EventType.RATE_CHANGED and e.data["rate_ml_h"] == reaction.new_rate_ml_h
    ]
    assert halved and halved[0].at == reaction.onset_at
    assert mild.volume_infused_ml == pytest.approx(500, abs=1)
    assert late.volume_infused_ml == pytest.approx(250, abs=1)
    # grade 3: stopped, restarted at half the onset rate once resolved
    assert severe.reactions[0].grade == 3
    assert severe.reactions[0].resolved_at is not None
    assert severe.completed_at is not None
    # grade 4: discontinued, never completed
    assert life_threatening.discontinued_at is not None
    assert life_threatening.completed_at is None
    # every entry by a nurse, and the record is intact
    # every entry by a nurse, or by the pump with the chair's nurse responsible
    nurses = ("AB", "CD", "EF")
    assert all(
        e.actor in nurses or (e.actor == "pump" and e.data["responsible"] in nurses)
        for s in states
        for e in s.events
    )
    assert floor.journal.verify().intact

    # the rules were quiet where the nurses followed the plan, and spoke where the script asked
    assert raised["Chair 2"] >= {"step_up_overdue"}, "this nurse makes the step-ups 7 min late"
    for name, rules in raised.items():
        assert not rules & {"rate_above_plan", "rate_above_plan_after_reaction", "bag_expiry_near"}, name
    assert {"infusion_complete", "observation_complete"} <= raised["Chair 1"]
    assert "pump_attention" in raised["Chair 3"], "the pump calls back while on hold for the grade 3 stop"


def test_a_driver_reads_a_demo_pump_over_its_pseudo_terminal(floor: Floor, clock: ManualClock) -> None:
    demo = Demo(floor, clock, chairs=1)
    url = demo.start()["Chair 1"]
    for _ in range(45):
        clock.advance(minutes=1)
        demo.advance()
    assert floor.sessions[demo.chairs[0].session_id].phase is Phase.INFUSING
    got: list[Telemetry] = []
    arrived = threading.Event()

    def on_telemetry(t: Telemetry) -> None:
        got.append(t)
        arrived.set()

    def on_link(_link: LinkState) -> None:
        pass

    driver = open_driver(
        {"protocol": "alaris", "url": url, "poll_interval_s": 0.2},
        on_telemetry=on_telemetry,
        on_link_state=on_link,
        clock=clock.now,
    )
    driver.start()
    try:
        assert arrived.wait(20), "no telemetry from the simulated pump"
    finally:
        driver.stop()
        demo.stop()
    assert got[0].rate_ml_h == demo.chairs[0].pump.snapshot().set_rate_ml_h == 40
    assert got[0].state.value == "infusing"


def test_speed_clock_runs_faster_than_wall_time() -> None:
    ticks = iter([100.0, 100.0, 101.5])
    clock = SpeedClock(60, monotonic=lambda: next(ticks))
    first = clock.now()
    assert (clock.now() - first).total_seconds() == 90
    with pytest.raises(ValueError, match="positive"):
        SpeedClock(0)


def test_fast_forward_shows_every_phase_on_a_floor_of_six(floor: Floor, clock: ManualClock) -> None:
    demo = Demo(floor, clock, chairs=6)
    start = clock.now()
    demo.fast_forward()
    assert (clock.now() - start).total_seconds() == SHOWCASE_MIN * 60
    assert {state.phase for state in floor.sessions.values()} == {
        Phase.SCREENING,
        Phase.PREMEDICATION,
        Phase.INFUSING,
        Phase.PAUSED,
        Phase.OBSERVATION,  # two chairs: one after its bag, one watched after a grade 4 reaction
    }
    assert any(state.discontinued_at is not None for state in floor.sessions.values())


def test_a_new_demo_closes_what_the_last_one_left_open_and_never_touches_a_real_patient(
    floor: Floor, clock: ManualClock, chair_script: object
) -> None:
    from app.demo import DEMO_ACTOR, DemoChairOccupied

    first = Demo(floor, clock, chairs=2, speed=1.0)
    first.start()
    try:
        for _ in range(90):
            clock.advance(minutes=1)
            first.advance()
    finally:
        first.stop()
    left_open = {name: floor.session_for_chair(name) for name in ("Chair 1", "Chair 2")}
    left_open = {name: state for name, state in left_open.items() if state is not None}
    assert left_open  # the first demo stopped mid-way

    second = Demo(floor, clock, chairs=2, speed=1.0)
    assert sorted(second.release_leftovers()) == sorted(left_open)
    for state in left_open.values():
        assert state is not None
        closed = ChairState.replay(state.session_id, floor.journal.events(state.session_id))
        assert closed.phase is Phase.DISCHARGED
        assert closed.events[-1].actor == DEMO_ACTOR
        assert closed.events[-2].type is EventType.DISCONTINUED
        assert closed.events[-2].data["reason"] == "demo restarted"
    assert floor.journal.verify().intact

    chair_script.check_in()  # a real patient on Chair 1 (MRN-0042)
    with pytest.raises(DemoChairOccupied, match="Chair 1 holds a real patient"):
        Demo(floor, clock, chairs=2, speed=1.0).release_leftovers()


def test_starting_after_a_preroll_keeps_the_demo_own_sessions(floor: Floor, clock: ManualClock) -> None:
    demo = Demo(floor, clock, chairs=2, speed=1.0)
    demo.fast_forward(60)  # the GUI's --preroll runs before the pumps are served
    own = {name: floor.session_for_chair(name) for name in ("Chair 1", "Chair 2")}
    assert own["Chair 1"] is not None
    try:
        demo.start()
        assert demo.release_leftovers() == []
        assert floor.session_for_chair("Chair 1") == own["Chair 1"]
    finally:
        demo.stop()
