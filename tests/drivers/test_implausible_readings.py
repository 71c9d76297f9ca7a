"""Implausible telemetry is a link fault in the driver layer: counted, logged, never handed over."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest

from drivers import open_driver
from drivers.alaris.driver import MAX_RATE_ML_H
from drivers.base import DeliveryState, LinkStatus, Telemetry, implausibility
from drivers.probe import EXIT_NO_PUMP
from drivers.probe import run as run_probe
from drivers.sim.clock import ManualClock
from drivers.sim.pump import SimulatedPump
from drivers.sim.scenario import load_scenario
from drivers.sim.server import serve_pty
from tests.drivers.support import FAST_LINK, Recorder
from tests.drivers.test_registry_probe_cli import probe_args


def reading(**changes: Any) -> Telemetry:
    values: dict[str, Any] = {
        "at": datetime(2026, 1, 5, 9, 0, tzinfo=UTC),
        "rate_ml_h": 100.0,
        "volume_infused_ml": 50.0,
        "vtbi_ml": 200.0,
        "pressure_mmhg": 20.0,
        "time_remaining_min": 120.0,
        "state": DeliveryState.INFUSING,
        "alarms": (),
        "serial": "8002-51740",
    }
    values.update(changes)
    return Telemetry(**values)


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"rate_ml_h": -250.0}, "rate -250 mL/h is negative"),
        ({"rate_ml_h": MAX_RATE_ML_H + 1}, "rate 1201 mL/h is above the pump's maximum of 1200 mL/h"),
        ({"volume_infused_ml": 99_999_999_999.0}, "volume infused 1e+11 mL is above 10 L"),
        ({"volume_infused_ml": -1.0}, "volume infused -1 mL is negative"),
        ({"vtbi_ml": 10_001.0}, "volume to be infused 10001 mL is above 10 L"),
        ({"rate_ml_h": math.nan}, "rate nan mL/h is not a number"),
        ({"pressure_mmhg": math.inf}, "pressure inf mmHg is not a number"),
        ({"time_remaining_min": math.nan}, "time remaining nan min is not a number"),
    ],
)
def test_what_no_pump_can_read(changes: dict[str, Any], says: str) -> None:
    assert implausibility(reading(**changes), MAX_RATE_ML_H) == says


def test_plausible_edges_pass() -> None:
    assert implausibility(reading(), MAX_RATE_ML_H) is None
    assert implausibility(reading(rate_ml_h=MAX_RATE_ML_H, volume_infused_ml=10_000.0), MAX_RATE_ML_H) is None
    assert implausibility(reading(rate_ml_h=0.0, vtbi_ml=None, pressure_mmhg=None), MAX_RATE_ML_H) is None


def _running_pump() -> SimulatedPump:
    pump = SimulatedPump("8002-51740", clock=ManualClock())
    pump.change_bag(520, 500)
    pump.set_rate(120)
    pump.start()
    return pump


@pytest.mark.parametrize(
    "raw",
    [{"rate": "-250"}, {"rate": "99999"}, {"volume": "99999999999"}, {"rate": "nan"}, {"volume": "inf"}],
)
def test_the_driver_drops_implausible_frames_from_the_simulator(raw: dict[str, str]) -> None:
    pump = _running_pump()
    recorder = Recorder()
    with serve_pty(pump) as server:
        driver = open_driver(
            {"protocol": "alaris", "url": server.url, **FAST_LINK, "quiet_time_s": 5.0},
            on_telemetry=recorder.on_telemetry,
            on_link_state=recorder.on_link_state,
        )
        driver.start()
        try:
            recorder.reading(1)
            server.inject("implausible", count=4, **raw)
            recorder.wait_for(lambda: server.faults.injected["implausible"] >= 4, "the bad replies")
            after = len(recorder.telemetry)
            recorder.reading(after + 2)  # good readings resume
        finally:
            driver.stop()
    stats = driver.stats  # type: ignore[attr-defined]
    assert stats.implausible + stats.bad_replies >= 4
    assert "implausible" in stats.last_fault or "not a" in stats.last_fault
    for t in recorder.telemetry:
        assert implausibility(t, MAX_RATE_ML_H) is None
        assert t.rate_ml_h == pytest.approx(120, abs=0.01)
    assert recorder.state_count(LinkStatus.LOST) == 0  # a few bad frames are not a lost link


def test_readings_that_stay_implausible_lose_the_link() -> None:
    pump = _running_pump()
    recorder = Recorder()
    with serve_pty(pump) as server:
        server.inject("implausible", count=10_000, rate="-250")
        driver = open_driver(
            {"protocol": "alaris", "url": server.url, **FAST_LINK},
            on_telemetry=recorder.on_telemetry,
            on_link_state=recorder.on_link_state,
        )
        driver.start()
        try:
            lost = recorder.wait_status(LinkStatus.LOST)
        finally:
            driver.stop()
    assert "no usable reading" in lost.reason and "rate -250 mL/h is negative" in lost.reason
    assert recorder.telemetry == []


def test_probe_reports_an_implausible_pump(capsys: pytest.CaptureFixture[str]) -> None:
    pump = _running_pump()
    with serve_pty(pump) as server:
        server.inject("implausible", count=10_000, volume="99999999999")
        code = run_probe(probe_args(server.url, "--timeout", "2"))
    assert code == EXIT_NO_PUMP
    err = capsys.readouterr().err
    assert "no usable reading" in err and "volume infused 1e+11 mL is above 10 L" in err


def test_the_every_fault_scenario_injects_implausible_readings() -> None:
    steps = [s for s in load_scenario("every-fault").steps if s.action == "fault"]
    assert {s.params["kind"] for s in steps} >= {"implausible", "bad_crc", "silence", "disconnect"}
