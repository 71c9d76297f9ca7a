"""The station's configuration reaches the code that uses it, on the production path (a station built by
app.station.start from a configuration file): the telemetry heartbeat, the display zone in refusals and
alarm texts, and link changes stored as readings."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.domain.clock import ManualClock
from app.domain.commands import GivePremedication, RecordScreening, RecordVitals, StartInfusion
from app.domain.decide import CommandRefused
from app.station.config import load_station_config
from app.station.start import OpenFloor, attach_configured_pumps, open_floor, station_for
from app.station.station import Station
from app.station.status_text import next_action
from app.store.telemetry import Why, readings
from drivers.sim.clock import ManualClock as SimClock
from drivers.sim.pump import SimulatedPump
from drivers.sim.server import PtyPumpServer, serve_pty
from tests.e2e.pumps import CONNECT_TIMEOUT_S
from tests.ui.helpers import check_in_command

MISSING_URL = "/dev/chairside-test-no-such-port"


@pytest.fixture
def server() -> Iterator[PtyPumpServer]:
    sim = SimulatedPump("8002-51741", clock=SimClock())
    sim.change_bag(520, 500)
    sim.set_rate(40)
    sim.start()
    served = serve_pty(sim)
    try:
        yield served
    finally:
        served.close()


def started(tmp_path: Path, url: str, extra: str = "") -> tuple[OpenFloor, Station, ManualClock]:
    path = tmp_path / "station.toml"
    path.write_text(
        f"""
[station]
name = "Test pod"
{extra}

[[chairs]]
name = "Chair 1"
protocol = "alaris"
url = "{url}"
poll_interval_s = 0.05
reconnect_max_s = 0.5
""",
        encoding="utf-8",
    )
    config = load_station_config(path)
    clock = ManualClock()
    opened = open_floor(tmp_path / "station.sqlite", clock)
    station = station_for(opened.floor, config, clock)
    return opened, station, clock


def until(station: Station, what: Callable[[], bool], timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not what():
        assert time.monotonic() < deadline, "timed out"
        station.process(timeout=0.1)


def steady_readings(station: Station, clock: ManualClock, count: int) -> None:
    """`count` readings of the chair's pump, one station-clock second apart."""
    chair = station.chair(1)
    for _ in range(count):
        seen = chair.telemetry
        until(station, lambda seen=seen: chair.telemetry is not None and chair.telemetry is not seen)  # type: ignore[misc]
        clock.advance(seconds=1)


def heartbeat_spacing(tmp_path: Path, url: str, heartbeat: str) -> list[float]:
    opened, station, clock = started(tmp_path, url, heartbeat)
    try:
        attach_configured_pumps(station, load_station_config(tmp_path / "station.toml"))
        steady_readings(station, clock, 24)
        stored = readings(opened.floor.journal.conn, "Chair 1")
    finally:
        station.close()
        opened.close()
    beats = [s.at for s in stored if s.why == Why.HEARTBEAT]
    return [(b - a).total_seconds() for a, b in itertools.pairwise(beats)]


def test_the_heartbeat_from_the_file_sets_the_stored_readings_spacing(
    tmp_path: Path, server: PtyPumpServer
) -> None:
    (tmp_path / "default").mkdir()
    (tmp_path / "five").mkdir()
    default = heartbeat_spacing(tmp_path / "default", server.url, "")
    configured = heartbeat_spacing(tmp_path / "five", server.url, "[telemetry]\nheartbeat_s = 5")
    assert default == []  # the 60 s default: no second heartbeat in 24 s of a steady pump
    assert len(configured) >= 2
    assert all(5 <= gap < 7 for gap in configured), configured


def premedicated(station: Station, clock: ManualClock) -> None:
    session = station.chair(1)
    session.execute(check_in_command("Chair 1", clock), "AB")
    protocol = session.state.require_protocol()  # type: ignore[union-attr]
    session.execute(RecordVitals({"systolic_mmhg": 124, "heart_rate_bpm": 72}), "AB")
    session.execute(RecordScreening({i.id: i.acceptable_answer for i in protocol.screening}), "AB")
    for premed in protocol.premedications:
        session.execute(GivePremedication(premed.drug, premed.suggested_dose, premed.suggested_route), "AB")


def test_the_display_zone_from_the_file_shows_in_refusals_and_alarm_texts(tmp_path: Path) -> None:
    # 2026-01-05 08:00 UTC is 21:00 in Auckland (NZDT, +13); this machine's zone is not Auckland's
    opened, station, clock = started(tmp_path, MISSING_URL, 'display_tz = "Pacific/Auckland"')
    try:
        premedicated(station, clock)
        with pytest.raises(CommandRefused) as refused:
            station.chair(1).execute(StartInfusion(), "AB")  # premedication lead time not over
        assert "(until 21:30)" in str(refused.value), str(refused.value)

        clock.advance(minutes=31)
        station.chair(1).execute(StartInfusion(), "AB")  # at 08:31 UTC, 21:31 in Auckland
        shown = next_action(
            station.chair(1).state, clock.now(), None, station.display_tz, policy=station.alarm_policy
        ).text
        assert shown.endswith(" at 22:01"), shown  # the screens: the first step-up, 30 min later
        attach_configured_pumps(station, load_station_config(tmp_path / "station.toml"))
        lost_at = clock.now()  # the quiet time starts when the pump is attached
        clock.advance(seconds=station.alarm_policy.link_lost_quiet_s + 1)
        station.tick(clock.now())
        texts = [a.message for a in station.chair(1).active_alarms if a.rule.startswith("link_lost")]
        assert texts, [a.rule for a in station.chair(1).active_alarms]
        assert lost_at.strftime("%H:%M") == "08:31"
        assert "21:31" in texts[0], texts
    finally:
        station.close()
        opened.close()


def test_a_link_loss_is_stored_as_a_reading(tmp_path: Path, server: PtyPumpServer) -> None:
    opened, station, clock = started(tmp_path, server.url)
    try:
        attach_configured_pumps(station, load_station_config(tmp_path / "station.toml"))
        steady_readings(station, clock, 3)
        server.close()  # the cable is pulled
        chair = station.chair(1)
        until(station, lambda: chair.link is not None and chair.link.status.value == "lost")
        stored = readings(opened.floor.journal.conn, "Chair 1")
    finally:
        station.close()
        opened.close()
    assert stored[-1].link == "lost" and Why.LINK in stored[-1].why, stored[-1]
    assert stored[-1].rate_ml_h == 40  # the last reading's values, with the link state


def test_the_station_tick_deletes_readings_past_the_configured_retention(
    tmp_path: Path, server: PtyPumpServer
) -> None:
    opened, station, clock = started(tmp_path, server.url, "[telemetry]\nretention_days = 2")
    try:
        attach_configured_pumps(station, load_station_config(tmp_path / "station.toml"))
        steady_readings(station, clock, 2)  # an idle chair's pump: readings between sessions
        station.chair(1).detach_driver()
        conn = opened.floor.journal.conn
        assert readings(conn, "Chair 1")
        clock.advance(minutes=24 * 60)
        station.tick(clock.now())
        assert readings(conn, "Chair 1")  # within the 2 days
        clock.advance(minutes=26 * 60)
        station.tick(clock.now())
        assert readings(conn, "Chair 1") == []
    finally:
        station.close()
        opened.close()
