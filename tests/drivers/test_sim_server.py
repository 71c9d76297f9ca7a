"""The simulated pump's pseudo-terminal server (drivers/sim/server.py)."""

from __future__ import annotations

import os
from collections.abc import Callable

from pytestqt.qtbot import QtBot

from drivers.sim import PumpServer
from drivers.sim.clock import ManualClock as SimClock
from drivers.sim.pump import SimulatedPump
from drivers.sim.server import PtyPumpServer
from tests.drivers.support import WAIT_S

WAIT_MS = round(WAIT_S * 1000)


def test_while_the_cable_is_out_its_path_leads_to_no_terminal(
    qtbot: QtBot, serve: Callable[..., PumpServer]
) -> None:
    """A closed pty's number goes to the next pty anyone opens (another test's pump, on a shared CI
    box): a path still pointing there would let a driver reconnecting during the outage open, lock and
    read that other pump."""
    server = serve(SimulatedPump("8002-51740", clock=SimClock()))
    assert isinstance(server, PtyPumpServer)
    assert os.path.realpath(server.url) == server.device
    server.disconnect()
    qtbot.waitUntil(lambda: not server.is_up, timeout=WAIT_MS)
    master, slave = os.openpty()  # the system may give it the number just freed
    try:
        assert not os.path.lexists(server.url)
        assert os.path.realpath(server.url) != os.ttyname(slave)
    finally:
        os.close(master)
        os.close(slave)
    server.reconnect()
    qtbot.waitUntil(lambda: server.is_up, timeout=WAIT_MS)
    assert os.path.realpath(server.url) == server.device
