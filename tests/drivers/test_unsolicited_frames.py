"""The driver accepts only replies to its own requests (issue 19, item 6): CRC-valid INF frames in the
pump's own format, sent unasked by the simulated pump on a pty, are counted and dropped as a link fault
and never become a reading; the flood is logged one line per kind per minute, with a count. The driver
never sends a command that changes delivery."""

from __future__ import annotations

import logging

import pytest

from drivers import open_driver
from drivers.link import FaultLog
from drivers.sim.clock import ManualClock
from drivers.sim.pump import SimulatedPump
from drivers.sim.server import serve_pty
from tests.drivers.support import FAST_LINK, Recorder, assert_monitoring_only

FLOOD = 400


def _pump_at_120() -> SimulatedPump:
    pump = SimulatedPump("8002-51740", clock=ManualClock())
    pump.change_bag(520, 500)
    pump.set_rate(120)
    pump.start()
    return pump


def test_unsolicited_inf_frames_never_become_readings(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="drivers")
    recorder = Recorder()
    with serve_pty(_pump_at_120()) as server:
        driver = open_driver(
            {"protocol": "alaris", "url": server.url, **FAST_LINK, "quiet_time_s": 30.0},
            on_telemetry=recorder.on_telemetry,
            on_link_state=recorder.on_link_state,
        )
        driver.start()
        try:
            recorder.reading(1)
            caplog.clear()
            server.inject("unsolicited", count=FLOOD, rate="777.00", interval_s=0.002)
            stats = driver.stats  # type: ignore[attr-defined]
            recorder.wait_for(lambda: stats.unsolicited >= FLOOD, "every unasked frame counted")
            after = len(recorder.telemetry)
            recorder.reading(after + 2)  # real readings resume
        finally:
            driver.stop()
        assert_monitoring_only(server, {"8002-51740"})
    assert stats.unsolicited >= FLOOD and "unasked" in stats.last_fault
    assert [t.rate_ml_h for t in recorder.telemetry if abs(t.rate_ml_h - 120) > 0.01] == []
    flood_lines = [r for r in caplog.records if r.levelno >= logging.INFO and r.name.startswith("drivers")]
    assert len(flood_lines) <= 6, [r.getMessage() for r in flood_lines]  # not one per frame


def test_fault_log_says_one_line_per_kind_per_minute_with_a_count(caplog: pytest.LogCaptureFixture) -> None:
    now = [1000.0]
    faults = FaultLog(logging.getLogger("drivers.test"), clock=lambda: now[0])
    caplog.set_level(logging.INFO, logger="drivers.test")
    for _ in range(500):
        faults.note("corrupt", "socket://x < corrupt frame dropped")
        faults.note("unasked", "socket://x dropped a frame it did not ask for")
    assert [r.getMessage() for r in caplog.records] == [
        "socket://x < corrupt frame dropped",
        "socket://x dropped a frame it did not ask for",
    ]
    now[0] += 61.0
    faults.note("corrupt", "socket://x < corrupt frame dropped")
    assert (
        caplog.records[-1].getMessage()
        == "socket://x < corrupt frame dropped (and 499 more in the last 61 s)"
    )
