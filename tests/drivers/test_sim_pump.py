"""The simulated pump's model, on a hand-moved clock."""

from __future__ import annotations

import threading

import pytest

from drivers.base import DeliveryState
from drivers.sim import ManualClock, PumpOperationError, ScaledClock, SimAlarm, SimulatedPump


def running(rate: float = 40.0, bag: float = 500.0, **kwargs: object) -> tuple[SimulatedPump, ManualClock]:
    clock = ManualClock()
    pump = SimulatedPump("8002-51740", clock=clock, **kwargs)  # type: ignore[arg-type]
    pump.change_bag(bag)
    pump.set_rate(rate)
    pump.start()
    return pump, clock


def test_volume_integrates_over_simulated_time() -> None:
    pump, clock = running(40.0)
    clock.advance(30 * 60)
    snap = pump.snapshot()
    assert snap.state is DeliveryState.INFUSING
    assert snap.volume_infused_ml == pytest.approx(20.0)
    assert snap.vtbi_ml == pytest.approx(480.0)
    assert snap.time_remaining_s == pytest.approx(480 / 40 * 3600)
    pump.set_rate(80.0)
    clock.advance(30 * 60)
    assert pump.snapshot().volume_infused_ml == pytest.approx(60.0)


def test_end_of_vtbi_then_kvo_at_the_exact_moment() -> None:
    pump, clock = running(100.0, bag=500.0, kvo_rate_ml_h=1.0)
    pump.set_vtbi(50.0)  # 30 min at 100 mL/h
    clock.advance(90 * 60)  # one step well past the end
    snap = pump.snapshot()
    assert snap.state is DeliveryState.KVO
    assert snap.alarms == (SimAlarm.END_OF_INFUSION,)
    assert snap.rate_ml_h == 1.0
    assert snap.vtbi_ml == 0.0
    assert snap.volume_infused_ml == pytest.approx(50.0 + 1.0)  # then one hour of KVO at 1 mL/h
    assert snap.time_remaining_s == 0.0
    pump.stop()
    assert pump.snapshot().state is DeliveryState.STOPPED
    assert pump.snapshot().alarms == ()


def test_end_of_vtbi_with_stop_completes() -> None:
    pump, clock = running(100.0)
    pump.set_vtbi(10.0, end_action="STOP")
    clock.advance(3600)
    snap = pump.snapshot()
    assert snap.state is DeliveryState.COMPLETE
    assert snap.volume_infused_ml == pytest.approx(10.0)
    with pytest.raises(PumpOperationError, match="VTBI is done"):
        pump.start()


def test_pause_resume_and_the_call_back_alarm() -> None:
    pump, clock = running(60.0)
    clock.advance(60)
    pump.pause()
    clock.advance(119)
    assert pump.snapshot().alarms == ()
    clock.advance(1)
    snap = pump.snapshot()
    assert snap.state is DeliveryState.PAUSED
    assert snap.alarms == (SimAlarm.CALL_BACK,)
    assert snap.volume_infused_ml == pytest.approx(1.0)  # nothing while on hold
    pump.resume()
    clock.advance(60)
    snap = pump.snapshot()
    assert snap.state is DeliveryState.INFUSING
    assert snap.alarms == ()
    assert snap.volume_infused_ml == pytest.approx(2.0)


@pytest.mark.parametrize(
    "alarm", [SimAlarm.OCCLUSION, SimAlarm.AIR_IN_LINE, SimAlarm.DOOR_OPEN, SimAlarm.EMPTY_BATTERY]
)
def test_stopping_alarms_stop_delivery_until_cleared_and_restarted(alarm: SimAlarm) -> None:
    pump, clock = running(60.0)
    pump.raise_alarm(alarm)
    clock.advance(600)
    snap = pump.snapshot()
    assert snap.state is DeliveryState.ALARM
    assert snap.alarms[0] is alarm
    assert snap.volume_infused_ml == 0.0
    with pytest.raises(PumpOperationError, match="alarms"):
        pump.start()
    pump.clear_alarm(alarm)
    assert pump.snapshot().state is DeliveryState.PAUSED
    pump.resume()
    clock.advance(60)
    assert pump.snapshot().volume_infused_ml == pytest.approx(1.0)


def test_occlusion_raises_the_line_pressure() -> None:
    pump, _ = running(100.0)
    assert pump.snapshot().pressure_mmhg == pytest.approx(20.0)
    pump.raise_alarm("occlusion")
    assert pump.snapshot().pressure_mmhg == 350.0


def test_low_battery_warns_without_stopping() -> None:
    pump, clock = running(60.0)
    pump.raise_alarm("low_battery")
    clock.advance(60)
    snap = pump.snapshot()
    assert snap.state is DeliveryState.INFUSING
    assert snap.alarms == (SimAlarm.LOW_BATTERY,)
    pump.raise_alarm("occlusion")
    assert pump.snapshot().alarms == (SimAlarm.OCCLUSION, SimAlarm.LOW_BATTERY)


def test_an_empty_bag_is_air_in_line() -> None:
    pump, clock = running(100.0, bag=50.0)
    pump.set_vtbi(80.0)  # more than the bag holds
    clock.advance(3600)
    snap = pump.snapshot()
    assert snap.state is DeliveryState.ALARM
    assert snap.alarms == (SimAlarm.AIR_IN_LINE,)
    assert snap.volume_infused_ml == pytest.approx(52.5)  # the bag's 5 % overfill included
    pump.change_bag(250.0, vtbi_ml=30.0)
    snap = pump.snapshot()
    assert (snap.state, snap.alarms, snap.vtbi_ml, snap.bag_ml) == (DeliveryState.PAUSED, (), 30.0, 262.5)


def test_power_cycle_boots_unprogrammed_with_another_serial() -> None:
    pump, clock = running(60.0)
    clock.advance(600)
    pump.power_cycle(new_serial="8002-99999", off_s=30)
    clock.advance(29)
    snap = pump.snapshot()
    assert not snap.powered
    assert snap.serial == "8002-51740"
    with pytest.raises(PumpOperationError, match="off"):
        pump.start()
    clock.advance(1)
    snap = pump.snapshot()
    assert snap.powered
    assert snap.boot_count == 1
    assert (snap.serial, snap.state, snap.set_rate_ml_h, snap.vtbi_ml, snap.volume_infused_ml) == (
        "8002-99999",
        DeliveryState.STOPPED,
        0.0,
        None,
        0.0,
    )


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (lambda p: p.start(), "rate"),
        (lambda p: p.set_rate(0), "rate"),
        (lambda p: p.set_rate(5000), "rate"),
        (lambda p: p.set_vtbi(-1), "VTBI"),
        (lambda p: p.set_vtbi(10, "DRIP"), "end action"),
        (lambda p: p.resume(), "hold"),
        (lambda p: p.raise_alarm("call_back"), "pump's own"),
    ],
)
def test_the_pump_refuses_what_a_real_one_would(action: object, message: str) -> None:
    pump = SimulatedPump(clock=ManualClock())
    with pytest.raises(PumpOperationError, match=message):
        action(pump)  # type: ignore[operator]


def test_manual_clock_wakes_a_waiter() -> None:
    clock = ManualClock()
    stop = threading.Event()
    reached = threading.Event()
    waiter = threading.Thread(target=lambda: reached.set() if clock.wait_until(10.0, stop) else None)
    waiter.start()
    clock.advance(10.0)
    waiter.join(5.0)
    assert reached.is_set()
    stop.set()
    assert clock.wait_until(5.0, stop)  # already past
    assert not clock.wait_until(20.0, stop)


def test_scaled_clock_runs_fast_and_can_jump() -> None:
    clock = ScaledClock(speed=1000.0)
    first = clock.now()
    clock.advance(3600)
    assert clock.now() >= first + 3600
    clock.set_speed(1.0)
    assert clock.speed == 1.0
    stop = threading.Event()
    assert clock.wait_until(clock.now() - 1, stop)
    stop.set()
    assert not clock.wait_until(clock.now() + 3600, stop)
    with pytest.raises(ValueError, match="speed"):
        ScaledClock(speed=0)
