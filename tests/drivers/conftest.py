"""Fixtures for driver tests: simulated pumps on ptys and started drivers, all closed at the end."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from drivers.alaris import AlarisDriver
from drivers.sim import ManualClock, PumpServer, SimulatedPump, serve_pty
from tests.drivers.support import FAST_LINK, Recorder


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def manual_pump() -> SimulatedPump:
    return SimulatedPump("8002-51740", clock=ManualClock())


@pytest.fixture
def serve() -> Iterator[Callable[..., PumpServer]]:
    """``serve(pump, **kwargs)``: the pump on a pty, closed at the end of the test."""
    servers: list[PumpServer] = []

    def make(pump: SimulatedPump, **kwargs: Any) -> PumpServer:
        server = serve_pty(pump, **kwargs)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


@pytest.fixture
def start_driver(recorder: Recorder) -> Iterator[Callable[..., AlarisDriver]]:
    """``start_driver(url, **overrides)``: a started AlarisDriver wired to ``recorder``, stopped at the end."""
    drivers: list[AlarisDriver] = []

    def make(url: str, rec: Recorder | None = None, **overrides: Any) -> AlarisDriver:
        rec = rec or recorder
        driver = AlarisDriver(
            url,
            on_telemetry=rec.on_telemetry,
            on_link_state=rec.on_link_state,
            **{**FAST_LINK, **overrides},
        )
        drivers.append(driver)
        driver.start()
        return driver

    yield make
    for driver in drivers:
        driver.stop()
