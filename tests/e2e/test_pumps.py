"""The e2e helpers wait for what they say: `wait_polls` returns once the chair has handled readings
taken after the call, even when older readings are still queued for the GUI thread (a loaded machine)."""

from __future__ import annotations

import threading

from pytestqt.qtbot import QtBot

from app.chairs import FloorController
from app.domain.clock import ManualClock
from app.floor import Floor
from tests.e2e.pumps import CONNECT_TIMEOUT_S, PumpOnPty, connect, pump_on_pty, wait_polls

__all__ = ["pump_on_pty"]


def test_wait_polls_skips_the_readings_already_on_their_way(
    qtbot: QtBot, floor: Floor, clock: ManualClock, pump_on_pty: PumpOnPty
) -> None:
    controller = FloorController(floor, 1, clock)
    chair = controller.chair(1)
    pump = pump_on_pty
    pump.program(40, 500)
    pump.pump.start()
    connect(qtbot, chair, pump)
    try:
        # Hold the GUI thread (no Qt events handled) while the driver keeps polling: readings of the pump
        # at 40 mL/h pile up in the GUI thread's queue, as they do on a loaded machine.
        piled_up = threading.Event()
        target = pump.polls_received() + 4
        feed = pump.server.responder.feed

        def counting_feed(data: bytes, now: float) -> list[tuple[float, bytes]]:
            replies = feed(data, now)
            if pump.polls_received() >= target:
                piled_up.set()
            return replies

        pump.server.responder.feed = counting_feed  # type: ignore[method-assign]
        assert piled_up.wait(CONNECT_TIMEOUT_S)
        pump.pump.set_rate(55)

        wait_polls(qtbot, chair, count=1)

        assert chair.telemetry is not None and chair.telemetry.rate_ml_h == 55
    finally:
        chair.detach_driver()
        controller.close()
