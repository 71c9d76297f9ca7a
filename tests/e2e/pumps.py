"""A simulated pump on a pseudo-terminal whose time follows the test's ManualClock."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from PySide6.QtCore import QCoreApplication
from pytestqt.qtbot import QtBot

from app.chairs import ChairController
from app.domain.clock import ManualClock
from drivers.base import LinkStatus
from drivers.sim.clock import ManualClock as SimManualClock
from drivers.sim.pump import SimulatedPump
from drivers.sim.server import PtyPumpServer, serve_pty
from tests.drivers.support import WAIT_S

POLL_S = 0.05
CONNECT_TIMEOUT_S = WAIT_S
"""How long a test waits for a simulated pump to connect or answer (tests.drivers.support.WAIT_S)."""
CONNECT_TIMEOUT_MS = round(CONNECT_TIMEOUT_S * 1000)
WAIT_MS = CONNECT_TIMEOUT_MS
"""How long a test waits for the chair to show what the pump did: the same bound (a passing run never
waits it out; a loaded CI box may need much of it)."""


@dataclass
class PumpOnPty:
    pump: SimulatedPump
    server: PtyPumpServer
    sim_clock: SimManualClock
    clock: ManualClock

    @property
    def config(self) -> dict[str, Any]:
        # A reply may be late on a loaded CI box: a generous reply time-out (a bound, not a delay) keeps
        # the driver from starting over while the simulator's thread waits for a core.
        return {
            "protocol": "alaris",
            "url": self.server.url,
            "poll_interval_s": POLL_S,
            "reply_timeout_s": 5.0,
        }

    def advance(self, *, minutes: float = 0.0, seconds: float = 0.0) -> None:
        """Move the app's clock and the pump's together."""
        self.clock.advance(minutes=minutes, seconds=seconds)
        self.sim_clock.advance(minutes * 60.0 + seconds)

    def polls_received(self) -> int:
        """How many polls (INF queries) the simulated pump has been sent so far."""
        return self.server.responder.spy.commands()["INF"]

    def program(self, rate_ml_h: float, vtbi_ml: float) -> None:
        self.pump.set_rate(rate_ml_h)
        self.pump.change_bag(vtbi_ml + 20, vtbi_ml)  # a VTBI under the bag, as nurses set it


@pytest.fixture
def pump_on_pty(clock: ManualClock) -> Iterator[PumpOnPty]:
    sim_clock = SimManualClock()
    pump = SimulatedPump("8002-51740", clock=sim_clock)
    server = serve_pty(pump)
    try:
        yield PumpOnPty(pump, server, sim_clock, clock)
    finally:
        server.close()


def connect(qtbot: QtBot, chair: ChairController, pump: PumpOnPty) -> None:
    chair.attach_driver(pump.config)

    def read_once() -> None:  # on a time-out, the failure names the link's last state and its reason
        assert chair.pump_connected and chair.telemetry is not None, f"no reading yet; link {chair.link}"

    qtbot.waitUntil(read_once, timeout=CONNECT_TIMEOUT_MS)


def polls_read(chair: ChairController) -> int:
    """How many polls the chair's driver has read (a poll that timed out or was refused does not count)."""
    link = chair.session.pump
    driver = link.driver if link is not None else None
    return 0 if driver is None else int(driver.stats.polls)


def wait_polls(qtbot: QtBot, chair: ChairController, count: int = 3) -> None:
    """Until the chair has handled `count` readings taken after this call: after the clocks moved or the
    pump was changed, never one that was already on its way (a poll answered just before, or a reading
    still queued for the GUI thread, which a loaded machine can hold back for several polls).

    The driver polls one at a time, counts a poll it read, then hands its reading over before it starts
    the next. The poll under way at this call may have been answered before it: the fresh ones start
    with the one after. Once the driver has counted the poll after the last fresh one, every fresh
    reading has been posted to the GUI thread, behind every older one; delivering the posted events
    hands all of them to the chair, in order."""
    first_fresh = polls_read(chair) + 2
    qtbot.waitUntil(lambda: polls_read(chair) >= first_fresh + count, timeout=CONNECT_TIMEOUT_MS)
    QCoreApplication.sendPostedEvents()


__all__ = ["WAIT_MS", "LinkStatus", "PumpOnPty", "connect", "pump_on_pty", "wait_polls"]
