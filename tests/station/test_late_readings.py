"""A reading delivered late (taken before the last one the chair accepted, held back on a loaded
machine) does not move the chair's alarm evaluation back in time: no alarm goes off and on again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from app.domain.clock import ManualClock
from app.domain.commands import ChangeRate, RecordReaction
from app.domain.events import EventType
from app.floor import Floor
from app.station.station import Station
from drivers.base import Telemetry
from drivers.sim.pump import SimulatedPump
from drivers.sim.server import PtyPumpServer
from tests.drivers.support import infusing_pump_on_pty
from tests.station.test_one_policy import fresh_readings, infusing_station, until


@pytest.fixture
def pump() -> Iterator[tuple[SimulatedPump, PtyPumpServer]]:
    with infusing_pump_on_pty(40.0) as served:
        yield served


def alarm_entries(station: Station, rule: str) -> list[EventType]:
    state = station.chair(1).state
    assert state is not None
    kinds = (EventType.ALARM_RAISED, EventType.ALARM_CLEARED)
    return [e.type for e in state.events if e.type in kinds and e.data.get("rule") == rule]


def test_a_late_reading_does_not_clear_an_alarm_the_clock_raised(
    floor: Floor, clock: ManualClock, pump: tuple[SimulatedPump, PtyPumpServer]
) -> None:
    _sim, server = pump
    station = infusing_station(floor, clock, None, server.url)
    try:
        chair = station.chair(1)
        taken_before_expiry = chair.telemetry
        assert taken_before_expiry is not None and chair.state is not None
        expires = chair.state.bag_expires_at
        assert expires is not None and taken_before_expiry.at < expires
        clock.set(expires + timedelta(minutes=1))
        station.tick()
        fresh_readings(station, 2)  # the driver's readings, taken after the expiry
        assert "bag_expired" in {a.rule for a in chair.active_alarms}

        assert chair.pump is not None
        station.post(chair, chair.pump, taken_before_expiry)  # delivered now, through the inbox
        station.process()  # hands over everything queued, the late reading among it
        fresh_readings(station, 2)
        station.tick()

        assert "bag_expired" in {a.rule for a in chair.active_alarms}
        assert alarm_entries(station, "bag_expired") == [EventType.ALARM_RAISED]
    finally:
        station.close()


def test_a_reading_taken_before_the_pump_was_set_after_a_reaction_raises_no_rate_alarm(
    floor: Floor, clock: ManualClock, pump: tuple[SimulatedPump, PtyPumpServer]
) -> None:
    sim, server = pump
    station = infusing_station(floor, clock, None, server.url)
    try:
        chair = station.chair(1)
        clock.advance(minutes=2)
        fresh_readings(station, 2)
        chair.execute(RecordReaction(grade=2, signs=("flushing",)), "AB")  # the plan halves: 20 mL/h
        clock.advance(seconds=20)
        fresh_readings(station, 1)
        taken_before_the_change = chair.telemetry
        assert taken_before_the_change is not None and taken_before_the_change.rate_ml_h == 40
        sim.set_rate(20.0)  # the nurse sets the pump within the grace time
        until(station, lambda: chair.state is not None and chair.state.pump_rate_ml_h == 20.0)
        clock.advance(seconds=70)  # past the grace time
        fresh_readings(station, 2)
        station.handoff = lambda *_: None  # the owner's thread is busy: the driver's readings wait
        station.process()
        assert chair.pump is not None
        station.deliver(chair, chair.pump, taken_before_the_change)  # then the late one is handed over
        station.tick()

        assert alarm_entries(station, "rate_above_plan_after_reaction") == []
        assert "rate_above_plan_after_reaction" not in {a.rule for a in chair.active_alarms}
        assert chair.telemetry is not None and chair.telemetry.rate_ml_h == 20  # the pump now
    finally:
        station.close()


def test_a_reading_taken_before_the_nurse_documented_the_rate_neither_alarms_nor_documents(
    floor: Floor, clock: ManualClock, pump: tuple[SimulatedPump, PtyPumpServer]
) -> None:
    sim, server = pump
    station = infusing_station(floor, clock, None, server.url)
    try:
        chair = station.chair(1)
        clock.advance(minutes=2)
        fresh_readings(station, 2)
        chair.execute(RecordReaction(grade=2, signs=("flushing",)), "AB")  # the plan halves: 20 mL/h
        held: list[Telemetry] = []
        station.handoff = lambda _c, _p, item: held.append(item) if isinstance(item, Telemetry) else None
        station.process()
        clock.advance(seconds=20)
        until(station, lambda: len([t for t in held if t.at == clock.now()]) >= 2)  # the owner is busy
        sim.set_rate(20.0)
        clock.advance(seconds=10)
        chair.execute(ChangeRate(20.0, source="nurse", reason="after the reaction"), "AB")
        clock.advance(seconds=60)  # past the grace time
        station.tick()
        assert chair.pump is not None
        for late in [t for t in held if t.rate_ml_h == 40.0]:  # taken at 40 mL/h, before the entry
            station.deliver(chair, chair.pump, late)
            station.tick()

        assert alarm_entries(station, "rate_above_plan_after_reaction") == []
        assert chair.state is not None and chair.state.pump_rate_ml_h == 20.0  # nothing documented back
    finally:
        station.close()
