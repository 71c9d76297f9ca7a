"""Helpers for driver tests: a recorder to wait on driver callbacks, and checks of a reading or the wire.

Nothing here sleeps: tests wait on a condition variable with a time-out, and simulated time moves
only when a test advances a ManualClock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from drivers.alaris.codec import FrameDecoder, crc_text
from drivers.base import LinkState, LinkStatus, Telemetry
from drivers.sim import PumpServer, PumpSnapshot
from drivers.sim.clock import ManualClock as SimClock
from drivers.sim.pump import SimulatedPump
from drivers.sim.responder import wire_alarm_code
from drivers.sim.server import PtyPumpServer, serve_pty

WAIT_S = 30.0
"""Upper bound for anything to happen on a healthy link: a time-out, not a delay (a passing run never
waits it out), generous for a loaded 2-core CI box. The one home of the tests' pump-wait bound."""

FAST_LINK: dict[str, Any] = {
    "poll_interval_s": 0.02,
    "quiet_time_s": 0.5,
    "reply_timeout_s": 0.15,
    "reconnect_max_s": 0.1,
}


class Recorder:
    """Collects a driver's callbacks (called on its I/O thread) and lets the test wait for them."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self.telemetry: list[Telemetry] = []
        self.states: list[LinkState] = []

    def on_telemetry(self, telemetry: Telemetry) -> None:
        with self._changed:
            self.telemetry.append(telemetry)
            self._changed.notify_all()

    def on_link_state(self, state: LinkState) -> None:
        with self._changed:
            self.states.append(state)
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
        with self._changed:
            if not self._changed.wait_for(predicate, timeout_s):
                pytest.fail(
                    f"timed out after {timeout_s} s waiting for {what}; last states {self.states[-4:]}"
                )

    def reading(self, number: int, timeout_s: float = WAIT_S) -> Telemetry:
        """The ``number``-th Telemetry (1-based), waiting for it."""
        self.wait_for(lambda: len(self.telemetry) >= number, f"reading #{number}", timeout_s)
        return self.telemetry[number - 1]

    def fresh_reading(self) -> Telemetry:
        """A reading from a poll that began after this call: at most one poll may be in flight."""
        return self.reading(len(self.telemetry) + 2)

    def state_count(self, status: LinkStatus) -> int:
        return sum(1 for state in self.states if state.status is status)

    def wait_status(self, status: LinkStatus, after: int = 0, timeout_s: float = WAIT_S) -> LinkState:
        """Wait until ``status`` occurs more than ``after`` times; returns that state."""
        self.wait_for(
            lambda: self.state_count(status) > after, f"link {status.value} #{after + 1}", timeout_s
        )
        return [s for s in self.states if s.status is status][after]


def assert_matches(telemetry: Telemetry, snap: PumpSnapshot) -> None:
    """Telemetry says what the model says, to the precision of the wire (2 decimals rate, 3 volume)."""
    assert telemetry.serial == snap.serial
    assert telemetry.state is snap.state
    assert telemetry.rate_ml_h == pytest.approx(snap.rate_ml_h, abs=0.0051)
    assert telemetry.volume_infused_ml == pytest.approx(snap.volume_infused_ml, abs=0.00051)
    if snap.vtbi_ml is None:
        assert telemetry.vtbi_ml is None
    else:
        assert telemetry.vtbi_ml == pytest.approx(snap.vtbi_ml, abs=0.00051)
    assert telemetry.pressure_mmhg == pytest.approx(snap.pressure_mmhg, abs=0.0051)
    if snap.time_remaining_s is None or snap.time_remaining_s >= 24 * 3600:
        assert telemetry.time_remaining_min is None
    else:
        assert telemetry.time_remaining_min == pytest.approx(snap.time_remaining_s / 60, abs=1 / 60)
    expected = [wire_alarm_code(snap.alarms[0], snap)] if snap.alarms else []
    assert [alarm.code for alarm in telemetry.alarms] == expected


QUERIES_ALLOWED = {"INST_SERIALNO", "COMMS_RESPONSE_MAX", "COMMS_PROTOCOL", "INF", "INF_VTBI", "ALARM"}
FORBIDDEN_ON_THE_WIRE = (
    b"INF_START",
    b"INF_STOP",
    b"INF_VI_CLEAR",
    b"INF_RATE^",
    b"INF_VTBI^",
    b"REMOTE_CFG",
)


def assert_monitoring_only(server: PumpServer, serials: set[str]) -> int:
    """The wire spy at the pump's end saw only queries and the handshake; returns the frame count.

    Written out here rather than reusing the driver's allow-list, so a wrong allow-list fails this.
    """
    raw = server.responder.spy.raw
    for word in FORBIDDEN_ON_THE_WIRE:
        assert word not in raw, f"{word!r} went out on the wire"
    handshakes = {f"REMOTE_CTRL^ENABLED^{crc_text(serial)}" for serial in serials}
    frames = [item for item in FrameDecoder().feed(raw) if not isinstance(item, Exception)]
    assert frames, "the spy saw nothing"
    for frame in frames:
        body = frame.body.decode("ascii")
        assert body in QUERIES_ALLOWED or body in handshakes, f"not allowed on the wire: {body!r}"
    assert server.responder.delivery_commands == []
    return len(frames)


@contextmanager
def infusing_pump_on_pty(rate_ml_h: float = 40.0) -> Iterator[tuple[SimulatedPump, PtyPumpServer]]:
    """A simulated pump infusing a 500 mL VTBI from a 520 mL bag, served on a pseudo-terminal."""
    sim = SimulatedPump("8002-51740", clock=SimClock())
    sim.change_bag(520, 500)
    sim.set_rate(rate_ml_h)
    sim.start()
    server = serve_pty(sim)
    try:
        yield sim, server
    finally:
        server.close()
