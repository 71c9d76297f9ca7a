"""A chair session through an infusion on the station core alone (no Qt): run by the tests in a
subprocess where PySide6 and pyqtgraph cannot be imported. Prints one JSON line with what happened."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path


def _block_qt() -> None:
    for name in ("PySide6", "pyqtgraph", "shiboken6"):
        sys.modules[name] = None  # type: ignore[assignment]  # import now raises ImportError


def run(db_path: Path) -> dict[str, object]:
    from app.domain.clock import ManualClock
    from app.domain.commands import CheckIn, GivePremedication, RecordScreening, RecordVitals, StartInfusion
    from app.domain.events import EventType
    from app.domain.phase import Phase
    from app.floor import Floor
    from app.station.station import Station
    from app.store.journal import Journal
    from drivers.sim.clock import ManualClock as SimClock
    from drivers.sim.pump import SimulatedPump
    from drivers.sim.server import serve_pty

    clock = ManualClock()
    sim_clock = SimClock()
    pump = SimulatedPump("8002-51740", clock=sim_clock)
    server = serve_pty(pump)
    floor = Floor(Journal(db_path, clock), clock=clock)
    station = Station(floor, 2, clock)
    station.set_nurse("AB")
    chair = station.chair(1)

    def advance(minutes: float) -> None:
        clock.advance(minutes=minutes)
        sim_clock.advance(minutes * 60.0)

    def until(what: Callable[[], bool], timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not what():
            if time.monotonic() > deadline:
                raise TimeoutError("the core did not get there")
            station.process(timeout=0.2)
            station.tick()

    try:
        chair.execute(
            CheckIn(
                chair=chair.name,
                patient_mrn="MRN-0042",
                patient_initials="JD",
                protocol_id="ocrevus-600-subsequent",
                bag_volume_ml=500.0,
                bag_lot="LOT-H1234",
                bag_expiry=date(2027, 6, 30),
                bag_prepared_at=clock.now() - timedelta(minutes=20),
                prior_infusions=2,
                prior_serious_reaction=False,
                last_dose_on=(clock.now() - timedelta(days=182)).date(),
            )
        )
        protocol = chair.state.require_protocol()  # type: ignore[union-attr]
        chair.execute(RecordVitals({"systolic_mmhg": 124, "heart_rate_bpm": 72}))  # baseline
        chair.execute(RecordScreening({i.id: i.acceptable_answer for i in protocol.screening}))
        for premed in protocol.premedications:
            chair.execute(GivePremedication(premed.drug, premed.suggested_dose, premed.suggested_route))
        advance(31)
        chair.execute(StartInfusion())
        pump.set_rate(40)
        pump.change_bag(520, 500)
        pump.start()
        station.attach_pumps({chair.name: {"protocol": "alaris", "url": server.url, "poll_interval_s": 0.05}})
        until(lambda: chair.pump_connected and chair.telemetry is not None)
        advance(30)
        pump.set_rate(80)
        until(lambda: chair.state is not None and chair.state.pump_rate_ml_h == 80)
        advance(400)  # the bag runs out: the pump's end of infusion starts the observation
        until(lambda: chair.state is not None and chair.state.phase is Phase.OBSERVATION)
        state = chair.state
        assert state is not None
        stored = floor.journal.telemetry(chair.name)
        return {
            "events": [str(e.type) for e in state.events],
            "rate_source": next(e.data["source"] for e in state.events if e.type is EventType.RATE_CHANGED),
            "completed_source": next(
                e.data["source"] for e in state.events if e.type is EventType.INFUSION_COMPLETED
            ),
            "telemetry_rows": len(stored),
            "history": len(chair.history),
            "qt_loaded": [m for m in ("PySide6", "pyqtgraph") if sys.modules.get(m) is not None],
            "verified": floor.journal.verify().intact,
        }
    finally:
        station.close()
        server.close()
        floor.close()


if __name__ == "__main__":
    _block_qt()
    print(json.dumps(run(Path(sys.argv[1]))))
