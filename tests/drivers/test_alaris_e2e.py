"""The real Alaris driver against simulated pumps over real pseudo-terminals (and TCP)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from drivers.alaris import AlarisDriver
from drivers.base import DeliveryState, LinkStatus
from drivers.sim import (
    AlarisResponder,
    PumpServer,
    ScenarioRunner,
    SimulatedPump,
    builtin_scenarios,
    load_scenario,
    serve_tcp,
)
from tests.drivers.support import Recorder, assert_matches, assert_monitoring_only

Serve = Callable[..., PumpServer]
StartDriver = Callable[..., AlarisDriver]


def infusing(pump: SimulatedPump, rate: float = 100.0) -> SimulatedPump:
    pump.change_bag(500)
    pump.set_rate(rate)
    pump.start()
    return pump


def test_scripted_infusion_matches_the_model_within_one_poll(
    manual_pump: SimulatedPump, serve: Serve, start_driver: StartDriver, recorder: Recorder
) -> None:
    server = serve(manual_pump)
    runner = ScenarioRunner(load_scenario("ocrevus-600-mild-reaction"), manual_pump, server)
    driver = start_driver(server.url, quiet_time_s=2.0)
    recorder.wait_status(LinkStatus.CONNECTED)
    assert driver.identity is not None
    assert (driver.identity.serial, driver.identity.protocol_version) == ("8002-51740", "Asena Rev 2.1.5")
    assert driver.identity.response_max_ms == 4000

    checkpoints = sorted({step.at_s for step in runner.scenario.steps} | set(range(0, 256 * 60, 5 * 60)))
    seen = set()
    for t in checkpoints:
        runner.advance_to(t)
        snap = manual_pump.snapshot()
        assert_matches(recorder.fresh_reading(), snap)
        seen.add(snap.state)
    assert seen == {DeliveryState.INFUSING, DeliveryState.KVO, DeliveryState.STOPPED}
    last = recorder.telemetry[-1]
    assert last.volume_infused_ml == pytest.approx(500, abs=0.2)
    assert driver.stats.losses == 0
    assert driver.stats.bad_frames == 0
    assert_monitoring_only(server, {"8002-51740"})


def test_telemetry_time_comes_from_the_injected_clock(
    manual_pump: SimulatedPump, serve: Serve, start_driver: StartDriver, recorder: Recorder
) -> None:
    when = datetime(2025, 5, 6, 7, 8, 9, tzinfo=UTC)
    server = serve(infusing(manual_pump))
    start_driver(server.url, clock=lambda: when)
    assert recorder.reading(1).at == when


def test_a_reading_is_stamped_once_its_last_answer_is_in(
    manual_pump: SimulatedPump, serve: Serve, start_driver: StartDriver, recorder: Recorder
) -> None:
    """A reading is three answers (INF, INF_VTBI, ALARM). Stamped at the first, it could carry an alarm
    the pump raised after its stamp (the end of the infusion), and the chair would document the end
    before it happened; stamped after the last, every part of it was known at its time."""
    server = serve(infusing(manual_pump))
    when = datetime(2025, 5, 6, 7, 8, 9, tzinfo=UTC)
    alarm_queries_at_stamp: list[int] = []

    def clock() -> datetime:
        alarm_queries_at_stamp.append(server.responder.spy.commands()["ALARM"])
        return when

    start_driver(server.url, clock=clock)
    assert recorder.reading(1).at == when
    assert alarm_queries_at_stamp[0] == 1  # the first poll's ALARM had been asked (and answered)


def test_closing_the_pump_side_is_lost_within_the_quiet_time_and_reopening_recovers(
    manual_pump: SimulatedPump, serve: Serve, start_driver: StartDriver, recorder: Recorder
) -> None:
    server = serve(infusing(manual_pump))
    quiet_s = 2.0
    driver = start_driver(server.url, quiet_time_s=quiet_s)
    recorder.reading(1)

    pulled = time.monotonic()
    server.disconnect()
    lost = recorder.wait_status(LinkStatus.LOST)
    assert time.monotonic() - pulled < quiet_s
    assert "I/O error" in lost.reason

    manual_pump.clock.advance(600)  # ten minutes pass while the cable is out
    server.reconnect()
    recorder.wait_status(LinkStatus.CONNECTED, after=1)
    assert server.connections == 2  # a new pty behind the same path
    assert_matches(recorder.fresh_reading(), manual_pump.snapshot())
    assert driver.stats.sessions >= 2
    assert_monitoring_only(server, {"8002-51740"})


def test_a_silent_pump_is_lost_after_the_quiet_time_then_renegotiated(
    manual_pump: SimulatedPump, serve: Serve, start_driver: StartDriver, recorder: Recorder
) -> None:
    server = serve(infusing(manual_pump))
    start_driver(server.url, quiet_time_s=0.3)
    recorder.reading(1)
    silenced = time.monotonic()
    server.inject("silence", duration_s=1.0)
    lost = recorder.wait_status(LinkStatus.LOST)
    assert time.monotonic() - silenced >= 0.3
    assert "no valid frame" in lost.reason
    recorder.wait_status(LinkStatus.CONNECTED, after=1)
    assert_matches(recorder.fresh_reading(), manual_pump.snapshot())


def test_corrupt_frames_are_counted_and_dropped_without_losing_the_link(
    manual_pump: SimulatedPump, serve: Serve, start_driver: StartDriver, recorder: Recorder
) -> None:
    server = serve(infusing(manual_pump))
    driver = start_driver(server.url, quiet_time_s=2.0)
    recorder.reading(1)
    server.inject("bad_crc", count=3)
    server.inject("garbage", count=5, size=40)
    recorder.wait_for(lambda: server.faults.injected["garbage"] == 5, "the garbage to go out")
    manual_pump.clock.advance(60)
    assert_matches(recorder.fresh_reading(), manual_pump.snapshot())
    assert driver.stats.bad_frames >= 3
    assert driver.stats.losses == 0
    assert recorder.state_count(LinkStatus.LOST) == 0


def test_slow_replies_never_answer_the_wrong_request(
    manual_pump: SimulatedPump, serve: Serve, start_driver: StartDriver, recorder: Recorder
) -> None:
    server = serve(infusing(manual_pump))
    driver = start_driver(server.url, quiet_time_s=2.0, reply_timeout_s=0.1)
    recorder.reading(1)
    server.inject("slow", delay_s=0.15, duration_s=0.6)  # later than the reply time-out
    recorder.wait_for(lambda: driver.stats.stale_frames > 0, "a late reply to be dropped")
    for _ in range(3):
        manual_pump.clock.advance(60)
        assert_matches(recorder.fresh_reading(), manual_pump.snapshot())


def test_power_cycle_with_another_serial_renegotiates(
    manual_pump: SimulatedPump, serve: Serve, start_driver: StartDriver, recorder: Recorder
) -> None:
    server = serve(infusing(manual_pump))
    driver = start_driver(server.url, quiet_time_s=0.5)
    recorder.reading(1)
    manual_pump.power_cycle(new_serial="8002-99999", off_s=30)
    recorder.wait_status(LinkStatus.LOST)  # switched off: silence
    manual_pump.clock.advance(30)
    recorder.wait_status(LinkStatus.CONNECTED, after=1)
    assert driver.identity is not None
    assert driver.identity.serial == "8002-99999"
    reading = recorder.fresh_reading()
    assert reading.serial == "8002-99999"
    assert reading.state is DeliveryState.STOPPED
    assert_monitoring_only(server, {"8002-51740", "8002-99999"})


def test_a_new_serial_without_silence_is_noticed_in_the_poll(
    manual_pump: SimulatedPump, serve: Serve, start_driver: StartDriver, recorder: Recorder
) -> None:
    server = serve(infusing(manual_pump))
    start_driver(server.url, quiet_time_s=2.0)
    recorder.reading(1)
    manual_pump.power_cycle(new_serial="8002-12345", off_s=0)
    lost = recorder.wait_status(LinkStatus.LOST)
    assert "8002-51740 to 8002-12345" in lost.reason
    recorder.wait_status(LinkStatus.CONNECTED, after=1)
    assert recorder.fresh_reading().serial == "8002-12345"


def test_a_pump_that_requires_the_handshake(
    manual_pump: SimulatedPump, serve: Serve, start_driver: StartDriver
) -> None:
    server = serve(infusing(manual_pump), responder=AlarisResponder(manual_pump, require_remote_ctrl=True))
    without, with_ = Recorder(), Recorder()
    first = start_driver(server.url, rec=without, handshake=False, quiet_time_s=0.3)
    without.wait_status(LinkStatus.LOST)
    assert not without.telemetry
    assert "INF" in server.responder.unanswered
    first.stop()
    start_driver(server.url, rec=with_, handshake=True)
    assert_matches(with_.reading(1), manual_pump.snapshot())


def test_the_port_is_exclusive_and_released_on_stop(
    manual_pump: SimulatedPump, serve: Serve, start_driver: StartDriver, recorder: Recorder
) -> None:
    server = serve(infusing(manual_pump))
    first = start_driver(server.url)
    recorder.reading(1)
    second = Recorder()
    start_driver(server.url, rec=second)
    lost = second.wait_status(LinkStatus.LOST)
    assert "cannot open" in lost.reason
    first.stop()
    assert_matches(second.reading(1), manual_pump.snapshot())


@pytest.mark.parametrize("scenario", builtin_scenarios())
def test_every_scenario_runs_with_only_queries_on_the_wire(
    scenario: str, manual_pump: SimulatedPump, serve: Serve, start_driver: StartDriver, recorder: Recorder
) -> None:
    """Each step, then a fresh reading (or, when the pump is switched off, the lost link)."""
    server = serve(manual_pump)
    # Line faults last real seconds; scaled to a fast link they still outlast its quiet time.
    runner = ScenarioRunner(load_scenario(scenario), manual_pump, server, fault_duration_scale=0.1)
    driver = start_driver(server.url, quiet_time_s=0.4, reply_timeout_s=0.1)
    recorder.wait_status(LinkStatus.CONNECTED)
    duration_s = runner.scenario.duration_s
    grid_s = 30 if duration_s <= 2 * 3600 else 300  # look between the steps too (call-back, KVO)
    checkpoints = {step.at_s for step in runner.scenario.steps} | set(range(0, int(duration_s), grid_s))
    for t in sorted(checkpoints):
        lost_before = recorder.state_count(LinkStatus.LOST)
        if any(step.action == "power_cycle" for step in runner.advance_to(t)):
            recorder.wait_status(LinkStatus.LOST, after=lost_before)
        else:
            recorder.fresh_reading()
    runner.advance_to(runner.scenario.duration_s + 60)
    recorder.wait_for(lambda: driver.link_state.status is LinkStatus.CONNECTED, "the link back at the end")
    assert_matches(recorder.fresh_reading(), manual_pump.snapshot())
    serials = {"8002-51740"} | {
        str(s.params["new_serial"]) for s in runner.scenario.steps if "new_serial" in s.params
    }
    assert_monitoring_only(server, serials)
    if scenario == "every-fault":
        injected = server.faults.injected
        assert {"bad_crc", "garbage", "slow", "silence", "disconnect"} <= set(injected)
        assert driver.stats.bad_frames >= injected["bad_crc"]
        assert driver.stats.losses >= 3  # silence, disconnect, power cycle
        assert driver.identity is not None and driver.identity.serial == "8002-99999"
        codes = {alarm.code for reading in recorder.telemetry for alarm in reading.alarms}
        expected = {"AL_OCCLU", "AL_DRDIS", "AL_LWBAT", "AL_AIRIL", "AL_CALLB", "AL_EMBAT", "AL_EOIKV"}
        assert expected <= codes


@pytest.mark.filterwarnings(
    "ignore:set(Daemon|Name)\\(\\) is deprecated:DeprecationWarning"
)  # pyserial 3.5 rfc2217
@pytest.mark.parametrize("rfc2217", [False, True], ids=["socket", "rfc2217"])
def test_tcp_pumps_work_the_same(
    rfc2217: bool, manual_pump: SimulatedPump, start_driver: StartDriver, recorder: Recorder
) -> None:
    with serve_tcp(infusing(manual_pump), rfc2217=rfc2217) as server:
        assert server.url.startswith("rfc2217://" if rfc2217 else "socket://")
        driver = start_driver(server.url, quiet_time_s=2.0)
        recorder.reading(1)
        manual_pump.clock.advance(600)
        assert_matches(recorder.fresh_reading(), manual_pump.snapshot())
        server.disconnect()
        recorder.wait_status(LinkStatus.LOST)
        server.reconnect()
        recorder.wait_status(LinkStatus.CONNECTED, after=1)
        assert_matches(recorder.fresh_reading(), manual_pump.snapshot())
        driver.stop()
        assert_monitoring_only(server, {"8002-51740"})
