"""Scenario files and their runner, on the model alone (the wire comes in test_alaris_e2e)."""

from __future__ import annotations

import threading

import pytest

from drivers.base import DeliveryState
from drivers.sim import (
    ManualClock,
    ScenarioError,
    ScenarioRunner,
    SimAlarm,
    SimulatedPump,
    Step,
    builtin_scenarios,
    load_scenario,
    parse_scenario,
)


def test_the_builtin_scenarios_load() -> None:
    assert {"ocrevus-600-mild-reaction", "every-fault", "basic-infusion"} <= set(builtin_scenarios())
    for name in builtin_scenarios():
        assert load_scenario(name).steps


def test_ocrevus_600_mild_reaction_follows_the_label() -> None:
    pump = SimulatedPump(clock=ManualClock())
    runner = ScenarioRunner(load_scenario("ocrevus-600-mild-reaction.toml"), pump)
    runner.advance_to(69 * 60)
    assert pump.snapshot().rate_ml_h == 120.0
    runner.advance_to(70 * 60)
    snap = pump.snapshot()
    assert snap.rate_ml_h == 60.0  # half the rate at the onset of the reaction
    assert snap.volume_infused_ml == pytest.approx(20 + 40 + 20)
    runner.advance_to(243 * 60)
    assert pump.snapshot().state is DeliveryState.INFUSING
    runner.advance_to(245 * 60)
    snap = pump.snapshot()
    assert snap.state is DeliveryState.KVO
    assert snap.alarms == (SimAlarm.END_OF_INFUSION,)
    runner.advance_to(runner.scenario.duration_s)
    snap = pump.snapshot()
    assert snap.state is DeliveryState.STOPPED
    assert snap.volume_infused_ml == pytest.approx(500.0, abs=0.2)  # + a few minutes of KVO
    assert runner.done.is_set()


def test_every_fault_scenario_needs_the_server() -> None:
    with pytest.raises(ScenarioError, match="server"):
        ScenarioRunner(load_scenario("every-fault"), SimulatedPump(clock=ManualClock()))


LATE_START = """
name = "late start"
[[steps]]
at_min = 0
do = "set_rate"
ml_h = 60
[[steps]]
at_min = 10
do = "start"
"""


def test_the_runner_thread_follows_the_clock() -> None:
    clock = ManualClock()
    pump = SimulatedPump(clock=clock)
    applied: list[str] = []
    step_done = threading.Semaphore(0)

    def on_step(step: Step) -> None:
        applied.append(step.action)
        step_done.release()

    runner = ScenarioRunner(parse_scenario(LATE_START), pump, on_step=on_step).start()
    try:
        assert step_done.acquire(timeout=5.0)
        assert applied == ["set_rate"]
        clock.advance(9 * 60)
        assert not step_done.acquire(timeout=0.05)  # nothing due before minute 10
        clock.advance(60)
        assert step_done.acquire(timeout=5.0)
        assert runner.done.wait(5.0)
        assert applied == ["set_rate", "start"]
        clock.advance(3600)
        assert pump.snapshot().volume_infused_ml == pytest.approx(60.0)
    finally:
        runner.stop()


def test_scenarios_say_what_is_wrong_with_them() -> None:
    def problem(text: str) -> str:
        with pytest.raises(ScenarioError) as error:
            parse_scenario(text, "x.toml")
        return str(error.value)

    assert "unknown action 'fly'" in problem('[[steps]]\nat_min = 0\ndo = "fly"\n')
    assert "unknown action []" in problem("[[steps]]\nat_min = 0\ndo = []\n")  # found by the fuzz test
    assert "unknown fault {}" in problem('[[steps]]\nat_min = 0\ndo = "fault"\nkind = {}\n')
    assert "alarm must be a text, not [1]" in problem(
        '[[steps]]\nat_min = 0\ndo = "raise_alarm"\nalarm = [1]\n'
    )
    assert "missing ['ml_h']" in problem('[[steps]]\nat_min = 0\ndo = "set_rate"\n')
    assert "unknown ['rate']" in problem('[[steps]]\nat_min = 0\ndo = "set_rate"\nml_h = 1\nrate = 2\n')
    assert "unknown alarm" in problem('[[steps]]\nat_min = 0\ndo = "raise_alarm"\nalarm = "fire"\n')
    assert "unknown fault" in problem('[[steps]]\nat_min = 0\ndo = "fault"\nkind = "fire"\n')
    assert "missing ['duration_s']" in problem('[[steps]]\nat_min = 0\ndo = "fault"\nkind = "silence"\n')
    assert "unknown ['count']" in problem(
        '[[steps]]\nat_min = 0\ndo = "fault"\nkind = "slow"\ndelay_s = 1\ncount = 2\n'
    )
    assert "at_s or at_min" in problem('[[steps]]\ndo = "start"\n')
    assert "time order" in problem(
        '[[steps]]\nat_min = 5\ndo = "start"\n[[steps]]\nat_min = 1\ndo = "stop"\n'
    )
    assert "no [[steps]]" in problem('name = "empty"\n')
    assert "x.toml" in problem("not toml =")
    with pytest.raises(ScenarioError, match="ocrevus-600-mild-reaction"):
        load_scenario("no-such-scenario")
