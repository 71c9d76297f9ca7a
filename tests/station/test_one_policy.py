"""One alarm policy, loaded once and handed down: a policy handed to a Station is the one its pump
debounce, its banner (the next action) and its telemetry recorder use; and one definition of "the same
rate" for documenting and storing a pump reading (AlarmPolicy.same_rate)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest

from app.alarm_policy import load_alarm_policy
from app.domain.alarms import AlarmPolicy
from app.domain.clock import ManualClock
from app.domain.commands import ChangeRate, GivePremedication, RecordScreening, RecordVitals, StartInfusion
from app.domain.events import EventType, RateChanged
from app.floor import Floor
from app.station.snapshot import chair_snapshot
from app.station.station import Station
from app.store.telemetry import Why, readings
from drivers.sim.pump import SimulatedPump
from drivers.sim.server import PtyPumpServer
from tests.drivers.support import infusing_pump_on_pty
from tests.ui.helpers import check_in_command

SHIPPED = load_alarm_policy()
# A site's own policy: pump rates within 10 mL/h are one rate, and 50 mL/h off plan is no alarm.
CUSTOM = replace(SHIPPED, same_rate_ml_h=10.0, rate_tolerance_ml_h=50.0)


@pytest.fixture
def pump() -> Iterator[tuple[SimulatedPump, PtyPumpServer]]:
    with infusing_pump_on_pty(40.0) as served:
        yield served


def until(station: Station, what: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not what():
        assert time.monotonic() < deadline, "timed out"
        station.process(timeout=0.1)


def fresh_readings(station: Station, count: int) -> None:
    """Wait for `count` new readings of Chair 1's pump (the debounce needs two to act)."""
    chair = station.chair(1)
    for _ in range(count):
        seen = chair.telemetry
        until(station, lambda seen=seen: chair.telemetry is not None and chair.telemetry is not seen)  # type: ignore[misc]


def infusing_station(floor: Floor, clock: ManualClock, policy: AlarmPolicy | None, url: str) -> Station:
    station = Station(floor, ["Chair 1"], clock, alarm_policy=policy)
    session = station.chair(1)
    session.execute(check_in_command("Chair 1", clock), "AB")
    protocol = session.state.require_protocol()  # type: ignore[union-attr]
    session.execute(RecordVitals({"systolic_mmhg": 124, "heart_rate_bpm": 72}), "AB")
    session.execute(RecordScreening({i.id: i.acceptable_answer for i in protocol.screening}), "AB")
    for premed in protocol.premedications:
        session.execute(GivePremedication(premed.drug, premed.suggested_dose, premed.suggested_route), "AB")
    clock.advance(minutes=31)
    session.execute(StartInfusion(), "AB")
    station.attach_pumps({"Chair 1": {"protocol": "alaris", "url": url, "poll_interval_s": 0.05}})
    until(station, lambda: session.pump_connected and session.telemetry is not None)
    return station


def documented_rates(station: Station) -> list[float]:
    state = station.chair(1).state
    assert state is not None
    return [e.payload_as(RateChanged).rate_ml_h for e in state.events if e.type is EventType.RATE_CHANGED]


def stored_rate_changes(station: Station) -> list[float]:
    rows = readings(station.floor.journal.conn, "Chair 1")
    return [r.rate_ml_h for r in rows if r.why & Why.RATE]


def test_40_to_44_is_journaled_and_stored_as_a_change(
    floor: Floor, clock: ManualClock, pump: tuple[SimulatedPump, PtyPumpServer]
) -> None:
    sim, server = pump
    station = infusing_station(floor, clock, None, server.url)
    try:
        assert station.chair(1).state.pump_rate_ml_h == 40.0  # type: ignore[union-attr]
        sim.set_rate(44.0)
        until(station, lambda: 44.0 in documented_rates(station))
        assert 44.0 in stored_rate_changes(station)
    finally:
        station.close()


def test_a_policy_handed_to_the_station_reaches_the_debounce_the_recorder_and_the_banner(
    floor: Floor, clock: ManualClock, pump: tuple[SimulatedPump, PtyPumpServer]
) -> None:
    sim, server = pump
    station = infusing_station(floor, clock, CUSTOM, server.url)
    try:
        chair = station.chair(1)
        assert chair.debounce.policy is CUSTOM
        assert floor.journal.recorder.same_rate_ml_h == CUSTOM.same_rate_ml_h
        sim.set_rate(44.0)
        until(station, lambda: chair.telemetry is not None and chair.telemetry.rate_ml_h == 44.0)
        fresh_readings(station, 3)
        assert documented_rates(station) == []  # within this site's same rate: not a change
        assert 44.0 not in stored_rate_changes(station)
        sim.set_rate(60.0)
        until(station, lambda: 60.0 in documented_rates(station))
        assert 60.0 in stored_rate_changes(station)
        # 60 mL/h against a planned 40: off plan by the shipped tolerance, not by this site's
        action = chair_snapshot(chair, clock.now(), station="pod", index=0)["next"]["action"]
        assert "Set pump" not in action
        assert SHIPPED.off_plan(60.0, 40.0)
    finally:
        station.close()


def test_the_banner_follows_the_policy_it_is_handed(floor: Floor, clock: ManualClock) -> None:
    texts = {}
    for name, policy in (("shipped", SHIPPED), ("custom", CUSTOM)):
        station = Station(floor, [f"Chair {name}"], clock, alarm_policy=policy)
        session = station.chair(1)
        session.execute(check_in_command(session.name, clock), "AB")
        protocol = session.state.require_protocol()  # type: ignore[union-attr]
        session.execute(RecordVitals({"systolic_mmhg": 124, "heart_rate_bpm": 72}), "AB")
        session.execute(RecordScreening({i.id: i.acceptable_answer for i in protocol.screening}), "AB")
        for premed in protocol.premedications:
            session.execute(
                GivePremedication(premed.drug, premed.suggested_dose, premed.suggested_route), "AB"
            )
        clock.advance(minutes=31)
        session.execute(StartInfusion(), "AB")
        session.execute(ChangeRate(60.0, source="nurse", reason="set by hand"), "AB")
        texts[name] = chair_snapshot(session, clock.now(), station="pod", index=0)["next"]["action"]
        station.close()
    assert texts["shipped"].startswith("⚠ Set pump to")
    assert not texts["custom"].startswith("⚠ Set pump to")
