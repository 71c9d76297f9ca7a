"""ChairController and FloorController against a real floor, journal and a simulated pump on a pty."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pytestqt.qtbot import QtBot

from app.chairs import ChairController, FloorController, PumpHistory, chair_names
from app.domain.clock import ManualClock
from app.domain.commands import (
    GivePremedication,
    RecordReaction,
    RecordScreening,
    RecordVitals,
    StartInfusion,
)
from app.domain.decide import CommandRefused
from app.domain.events import EventType
from app.domain.phase import Phase
from app.floor import Floor
from app.store.journal import JournalWriteError
from tests.e2e.pumps import PumpOnPty, connect, pump_on_pty, wait_polls
from tests.ui.helpers import check_in_command

__all__ = ["pump_on_pty"]


def _to_infusing(controller: FloorController, clock: ManualClock) -> None:
    chair = controller.chair(1)
    chair.check_in(check_in_command(chair.name, clock))
    state = chair.state
    assert state is not None and state.protocol is not None
    chair.execute(RecordVitals({"systolic_mmhg": 124, "heart_rate_bpm": 72}))  # baseline, before the start
    chair.execute(RecordScreening({i.id: i.acceptable_answer for i in state.protocol.screening}))
    for premed in state.protocol.premedications:
        chair.execute(GivePremedication(premed.drug, premed.suggested_dose, premed.suggested_route))
    clock.advance(minutes=31)
    chair.execute(StartInfusion())


def test_chair_names_and_limits() -> None:
    assert chair_names(3) == ["Chair 1", "Chair 2", "Chair 3"]
    with pytest.raises(ValueError, match="1 to 48"):
        chair_names(49)


def test_ring_buffer_keeps_the_newest_in_order() -> None:
    history = PumpHistory(capacity=4)
    for i in range(6):
        history.append(float(i), 10.0 * i, 1.0 * i)
    t, rate, _volume = history.arrays()
    assert list(t) == [2.0, 3.0, 4.0, 5.0]
    assert list(rate) == [20.0, 30.0, 40.0, 50.0]
    assert len(history) == 4


def test_commands_need_a_nurse(qtbot: QtBot, floor: Floor, clock: ManualClock) -> None:
    controller = FloorController(floor, 2, clock)
    chair = controller.chair(1)
    with qtbot.waitSignal(chair.message) as blocker, pytest.raises(CommandRefused, match="identified"):
        chair.check_in(check_in_command(chair.name, clock))
    assert "Nobody is identified" in blocker.args[0]
    assert floor.journal.session_ids() == []
    with qtbot.waitSignal(controller.nurse_changed):
        controller.set_nurse(" ab ")
    chair.check_in(check_in_command(chair.name, clock))
    assert [e.actor for e in floor.journal.events(chair.state.session_id)] == ["AB"]  # type: ignore[union-attr]


def test_journal_write_failure_is_a_message_not_a_traceback(
    qtbot: QtBot, floor: Floor, clock: ManualClock
) -> None:
    controller = FloorController(floor, 1, clock)
    controller.set_nurse("AB")
    chair = controller.chair(1)
    floor.journal.conn.execute("PRAGMA query_only = 1")  # every write now fails, as on a read-only disk
    with qtbot.waitSignal(chair.message) as blocker, pytest.raises(JournalWriteError):
        chair.check_in(check_in_command(chair.name, clock))
    assert "NOT RECORDED" in blocker.args[0]
    assert chair.journal_problem
    floor.journal.conn.execute("PRAGMA query_only = 0")
    with qtbot.waitSignal(chair.alarms_changed):
        chair.check_in(check_in_command(chair.name, clock))
    assert chair.journal_problem == ""


def test_tick_follows_the_injected_clock(qtbot: QtBot, floor: Floor, clock: ManualClock) -> None:
    controller = FloorController(floor, 1, clock)
    with qtbot.waitSignal(controller.ticked) as blocker:
        controller.tick()
    assert blocker.args == [clock.now()]


def _infusing_with_pump(
    qtbot: QtBot, floor: Floor, clock: ManualClock, pump: PumpOnPty
) -> tuple[FloorController, ChairController, PumpOnPty]:
    """Chair 1 infusing Ocrevus 600 at 40 mL/h, its simulated pump running and read by the real driver."""
    controller = FloorController(floor, 1, clock)
    controller.set_nurse("AB")
    chair = controller.chair(1)
    _to_infusing(controller, clock)
    pump.program(40, 500)
    pump.pump.start()
    connect(qtbot, chair, pump)
    return controller, chair, pump


def test_pump_changes_are_documented_by_themselves(
    qtbot: QtBot, floor: Floor, clock: ManualClock, pump_on_pty: PumpOnPty
) -> None:
    _controller, chair, pump = _infusing_with_pump(qtbot, floor, clock, pump_on_pty)
    try:
        wait_polls(qtbot, chair)
        state = chair.state
        assert state is not None
        assert not [e for e in state.events if e.type is EventType.RATE_CHANGED]  # 40 is what was started

        pump.advance(minutes=30)
        pump.pump.set_rate(80)
        qtbot.waitUntil(lambda: chair.state.pump_rate_ml_h == 80, timeout=10_000)  # type: ignore[union-attr]
        change = [e for e in chair.state.events if e.type is EventType.RATE_CHANGED][-1]  # type: ignore[union-attr]
        assert change.data["source"] == "pump"
        assert change.data["previous_rate_ml_h"] == 40
        assert change.at == clock.now()

        pump.advance(minutes=5)
        pump.pump.pause()
        qtbot.waitUntil(lambda: chair.state.phase is Phase.PAUSED, timeout=10_000)  # type: ignore[union-attr]
        pump.advance(minutes=2)
        pump.pump.resume()
        qtbot.waitUntil(lambda: chair.state.phase is Phase.INFUSING, timeout=10_000)  # type: ignore[union-attr]

        # Run the bag out: the pump's own end of infusion starts the observation, with its time and volume
        pump.advance(minutes=400)
        qtbot.waitUntil(lambda: chair.state.phase is Phase.OBSERVATION, timeout=10_000)  # type: ignore[union-attr]
        state = chair.state
        assert state is not None
        done = next(e for e in state.events if e.type is EventType.INFUSION_COMPLETED)
        assert done.data["source"] == "pump"
        assert done.data["volume_infused_ml"] == pytest.approx(500, abs=1.0)  # + a little KVO
        assert done.at == clock.now()
        assert state.observation_ends_at == clock.now() + timedelta(minutes=60)
        assert len(chair.history) > 5
    finally:
        chair.detach_driver()


def test_rate_above_plan_after_a_reaction_raises_a_journaled_alarm(
    qtbot: QtBot, floor: Floor, clock: ManualClock, pump_on_pty: PumpOnPty
) -> None:
    controller, chair, pump = _infusing_with_pump(qtbot, floor, clock, pump_on_pty)
    try:
        pump.advance(minutes=10)
        chair.execute(RecordReaction(grade=2, signs=("flushing",)))
        pump.advance(minutes=5)  # the nurse did not turn the pump down
        controller.tick()
        qtbot.waitUntil(lambda: bool(chair.active_alarms), timeout=10_000)
        top = chair.active_alarms[0]
        assert top.rule == "rate_above_plan_after_reaction"
        assert "pump 40 mL/h, plan 20 mL/h after reaction" in top.message
        chair.acknowledge(top.id)
        pump.pump.set_rate(20)
        qtbot.waitUntil(lambda: not chair.active_alarms, timeout=10_000)
        kinds = [
            (e.type, e.actor)
            for e in chair.state.events  # type: ignore[union-attr]
            if e.type.value.startswith("alarm_")
        ]
        assert kinds == [
            (EventType.ALARM_RAISED, "system"),
            (EventType.ALARM_ACKNOWLEDGED, "AB"),
            (EventType.ALARM_CLEARED, "system"),
        ]
    finally:
        chair.detach_driver()
