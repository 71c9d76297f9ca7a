"""The production path: a station started from its configuration file attaches every configured pump,
shows each chair's link state, and alarms for an infusing chair whose pump does not answer, right after
a restart too."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from app.domain.clock import ManualClock
from app.domain.commands import GivePremedication, RecordScreening, RecordVitals, StartInfusion
from app.domain.events import EventType
from app.station.config import load_station_config
from app.station.lock import StationLock
from app.station.start import attach_configured_pumps, open_floor, station_for
from app.station.station import Station
from app.station.status_text import link_text
from drivers.sim.pump import SimulatedPump
from drivers.sim.server import PtyPumpServer
from tests.drivers.support import infusing_pump_on_pty
from tests.ui.helpers import check_in_command

ROOT = Path(__file__).resolve().parents[2]
MISSING_URL = "/dev/chairside-test-no-such-port"


@pytest.fixture
def pump() -> Iterator[tuple[SimulatedPump, PtyPumpServer]]:
    with infusing_pump_on_pty() as served:
        yield served


def write_config(path: Path, url: str) -> Path:
    path.write_text(
        f"""
[station]
name = "Test pod"

[[chairs]]
name = "Chair 1"
protocol = "alaris"
url = "{url}"
poll_interval_s = 0.05

[[chairs]]
name = "Chair 2"
protocol = "alaris"
url = "{MISSING_URL}"
reconnect_max_s = 0.5

[[chairs]]
name = "Chair 3"
""",
        encoding="utf-8",
    )
    return path


def infusing(station: Station, chair: str, clock: ManualClock) -> None:
    session = station.chair(chair)
    session.execute(check_in_command(chair, clock), "AB")
    protocol = session.state.require_protocol()  # type: ignore[union-attr]
    session.execute(RecordVitals({"systolic_mmhg": 124, "heart_rate_bpm": 72}), "AB")  # baseline
    session.execute(RecordScreening({i.id: i.acceptable_answer for i in protocol.screening}), "AB")
    for premed in protocol.premedications:
        session.execute(GivePremedication(premed.drug, premed.suggested_dose, premed.suggested_route), "AB")
    clock.advance(minutes=31)
    session.execute(StartInfusion(), "AB")


def until(station: Station, what: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not what():
        assert time.monotonic() < deadline, "timed out"
        station.process(timeout=0.1)


def test_a_restarted_station_attaches_its_pumps_and_alarms_for_the_missing_one(
    tmp_path: Path, pump: tuple[SimulatedPump, PtyPumpServer]
) -> None:
    _sim, server = pump
    config = load_station_config(write_config(tmp_path / "station.toml", server.url))
    db = tmp_path / "station.sqlite"
    clock = ManualClock()

    # The first run: two infusions under way, then the station goes away (closed without discharge)
    opened = open_floor(db, clock)
    station = station_for(opened.floor, config, clock)
    infusing(station, "Chair 1", clock)
    infusing(station, "Chair 2", clock)
    infusing(station, "Chair 3", clock)  # a chair with no pump configured
    station.close()
    opened.close()

    # The restart, from the configuration file alone
    clock.advance(minutes=5)
    opened = open_floor(db, clock)
    station = station_for(opened.floor, config, clock)
    try:
        attach_configured_pumps(station, config)
        one, two, three = station.chairs
        assert [c.has_pump for c in station.chairs] == [True, True, False]
        until(station, lambda: one.pump_connected and one.telemetry is not None)
        until(station, lambda: two.link is not None and two.link.status.value == "lost")
        assert link_text(True, "connected", None).long == "● pump connected"
        lost = link_text(True, two.link.status.value, two.link_lost_since)  # type: ignore[union-attr]
        assert lost.long.startswith("✕ PUMP LINK LOST since ") and lost.problem
        assert link_text(three.has_pump, None, None).short == "○ no pump"
        assert "no pump configured" in link_text(three.has_pump, None, None).long

        # Within the quiet time: nothing yet; after it: the high-priority link alarm, journaled
        station.tick(clock.now())
        assert not [a for a in two.active_alarms if a.rule.startswith("link_lost")]
        clock.advance(seconds=station.alarm_policy.link_lost_quiet_s + 1)
        station.tick(clock.now())
        rules = [a.rule for a in two.active_alarms]
        assert "link_lost_infusing" in rules
        raised = [e for e in two.state.events if e.type is EventType.ALARM_RAISED]  # type: ignore[union-attr]
        assert raised and raised[-1].data["rule"] == "link_lost_infusing"
        assert raised[-1].at - clock.now() <= timedelta(seconds=1)
        # The connected chair and the chair without a pump raise no link alarm
        assert not [a for a in one.active_alarms if a.rule.startswith("link_lost")]
        # No pump configured is a notice on the chair (above), not an alarm: nothing to fix at the chair
        assert not [a for a in three.active_alarms if a.rule.startswith("link_lost")]
    finally:
        station.close()
        opened.close()


def run_station(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *argv],
        cwd=ROOT,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen", **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_no_configuration_says_where_to_create_one(tmp_path: Path) -> None:
    done = run_station(env={"CHAIRSIDE_CONFIG_DIR": str(tmp_path / "config")})
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert f"no station configuration at {tmp_path / 'config' / 'station.toml'}" in done.stderr
    assert "docs/station.example.toml" in done.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text("[station]\nname = 'x'\n[[chairs]]\nname = 'Chair 1'\nprotocol = 'alaris'\n")
    done = run_station("--config", str(bad))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert str(bad) in done.stderr and "Chair 1" in done.stderr


def test_a_second_station_on_the_same_database_exits_at_once(tmp_path: Path) -> None:
    config = write_config(tmp_path / "station.toml", MISSING_URL + "-1")
    db = tmp_path / "station.sqlite"
    with StationLock(db):  # the first station (this process) holds the database
        done = run_station("--config", str(config), "--db", str(db), "--quit-after", "30")
    assert done.returncode == 2
    assert f"in use by {os.uname().nodename} pid {os.getpid()} since " in done.stderr
    assert "Traceback" not in done.stderr
