"""Simulated pumps that speak the real byte protocol on a pseudo-terminal or TCP.

In-process use (the demo, tests, the benchmark)::

    from drivers.sim import ScaledClock, ScenarioRunner, SimulatedPump, load_scenario, serve_pty

    pump = SimulatedPump("8002-51740", clock=ScaledClock(speed=60))
    server = serve_pty(pump)                      # server.url: a path to open with the alaris driver
    runner = ScenarioRunner(load_scenario("ocrevus-600-mild-reaction"), pump, server).start()
    ...
    runner.stop(); server.close()
"""

from drivers.sim.clock import ManualClock, ScaledClock, SimClock
from drivers.sim.pump import PumpOperationError, PumpSnapshot, SimAlarm, SimulatedPump
from drivers.sim.responder import AlarisResponder, Faults, WireSpy
from drivers.sim.scenario import (
    Scenario,
    ScenarioError,
    ScenarioRunner,
    Step,
    builtin_scenarios,
    load_scenario,
    parse_scenario,
)
from drivers.sim.server import (
    PtyPumpServer,
    PumpServer,
    SimulatorFleet,
    TcpPumpServer,
    serve_pty,
    serve_tcp,
)

__all__ = [
    "AlarisResponder",
    "Faults",
    "ManualClock",
    "PtyPumpServer",
    "PumpOperationError",
    "PumpServer",
    "PumpSnapshot",
    "ScaledClock",
    "Scenario",
    "ScenarioError",
    "ScenarioRunner",
    "SimAlarm",
    "SimClock",
    "SimulatedPump",
    "SimulatorFleet",
    "Step",
    "TcpPumpServer",
    "WireSpy",
    "builtin_scenarios",
    "load_scenario",
    "parse_scenario",
    "serve_pty",
    "serve_tcp",
]
