"""The live HL7 feed on the production path: a station started from its configuration file streams its
messages over MLLP to a local receiver that drops the connection, NAKs (AE, AR) and restarts; nothing
is lost, order is kept, and a new station on the same database resumes at the cursor."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.domain.clock import ManualClock
from app.domain.commands import AddNote, Discontinue, RecordVitals
from app.export.hl7 import Hl7Builder, SessionFeed
from app.export.hl7_settings import settings_from_table
from app.export.shifts import LocalTime
from app.station.config import StationConfig, StationConfigError, load_station_config
from app.station.hl7_feed import parse_feed
from app.station.start import (
    OpenFloor,
    StationServices,
    attach_configured_pumps,
    open_floor,
    start_services,
    station_for,
)
from app.station.station import Station
from app.store.journal import Journal
from drivers.sim.pump import SimulatedPump
from drivers.sim.server import PtyPumpServer
from tests.station.mllp_receiver import MllpReceiver
from tests.station.test_configured_station import infusing, pump, until

__all__ = ["pump"]  # the simulated pump on a pseudo-terminal (fixture)


def write_config(path: Path, port: int, extra: str = "") -> Path:
    path.write_text(
        f"""
[station]
name = "Feed pod"
display_tz = "Europe/Zurich"
anchor_interval_min = 15

[hl7.feed]
host = "127.0.0.1"
port = {port}
ack_timeout_s = 10
retry_initial_s = 0.02
retry_max_s = 0.2
max_attempts = 3
poll_s = 0.05
{extra}
[[chairs]]
name = "Chair 1"

[[chairs]]
name = "Chair 2"
""",
        encoding="utf-8",
    )
    return path


@dataclass
class Running:
    opened: OpenFloor
    station: Station
    services: StationServices

    def close(self) -> None:
        try:
            self.services.close()
            self.station.close()
        finally:
            self.opened.close()


def start(config: StationConfig, db: Path, clock: ManualClock) -> Running:
    """The station's own start path (app.station.start), as the GUI and a headless station take it."""
    opened = open_floor(db, clock)
    station = station_for(opened.floor, config, clock)
    station.set_nurse("AB")
    return Running(opened, station, start_services(station, config, clock))


def expected_ids(db: Path, config: StationConfig, clock: ManualClock, after: int = 0) -> list[str]:
    """MSH-10 of every message the journal's entries after `after` make, in journal order."""
    builder = Hl7Builder(
        settings_from_table(config.hl7, config.name), LocalTime.named(config.display_tz), clock.now()
    )
    feeds: dict[str, SessionFeed] = {}
    ids: list[str] = []
    with Journal(db, clock, read_only=True) as journal:
        for entry in journal.entries():
            feed = feeds.setdefault(entry.session_id, SessionFeed(builder, entry.session_id))
            messages = feed.on_entry(entry, emit=entry.position > after)
            ids += [m.control_id for m in messages]
    return ids


def some_activity(station: Station, clock: ManualClock, chair: str) -> None:
    session = station.chair(chair)
    clock.advance(minutes=5)
    session.execute(RecordVitals({"systolic_mmhg": 118, "heart_rate_bpm": 70}))
    session.execute(AddNote("tolerating well"))
    station.tick()


@pytest.fixture
def receiver() -> Iterator[MllpReceiver]:
    faults = {2: "drop", 3: "AE", 4: "AR"}  # the n-th distinct message's first arrival
    order: list[str] = []

    def policy(control_id: str, attempt: int) -> str:
        if control_id not in order:
            order.append(control_id)
        if attempt == 1:
            return faults.get(order.index(control_id) + 1, "AA")
        return "AA"

    rx = MllpReceiver(policy).start()
    yield rx
    rx.stop()


def test_feed_survives_drops_naks_engine_restart_and_station_restart(
    tmp_path: Path, receiver: MllpReceiver
) -> None:
    config = load_station_config(write_config(tmp_path / "station.toml", receiver.port))
    db = tmp_path / "station.sqlite"
    clock = ManualClock()

    # First run: two infusions under way, the receiver drops a connection, says AE once, AR once.
    run = start(config, db, clock)
    try:
        assert run.services.feed is not None
        infusing(run.station, "Chair 1", clock)
        infusing(run.station, "Chair 2", clock)
        run.station.tick()
        first = expected_ids(db, config, clock)
        assert len(first) >= 5
        assert receiver.wait_accepted(len(first)), (receiver.accepted, first)
        assert receiver.accepted == first  # in journal order, each once
        feed = run.services.feed
        assert feed.wait_for(lambda status: status.delivered == len(first), 10)  # ACK read, cursor saved
        assert receiver.received.count(first[1]) == 2  # dropped, sent again
        assert receiver.received.count(first[2]) == 2  # AE, sent again
        assert receiver.received.count(first[3]) == 2  # AR once, sent again

        # The engine goes down; the station keeps recording (the feed never holds it up).
        receiver.stop()
        some_activity(run.station, clock, "Chair 1")
        run.station.chair("Chair 2").execute(Discontinue("patient request"))
    finally:
        run.close()  # station shut down before the engine is back
    delivered_before = len(receiver.accepted)

    # The engine comes back, a new station on the same database file resumes at its cursor.
    receiver.start()
    run = start(load_station_config(tmp_path / "station.toml"), db, clock)
    try:
        some_activity(run.station, clock, "Chair 1")
        everything = expected_ids(db, config, clock)
        assert len(everything) > delivered_before
        assert receiver.wait_accepted(len(everything)), (receiver.accepted, everything)
        assert receiver.accepted == everything  # nothing lost, nothing sent twice, order kept
    finally:
        run.close()
    with sqlite3.connect(db) as conn:
        (position,) = conn.execute("SELECT position FROM hl7_feed_cursor").fetchone()
        after = [row[0] for row in conn.execute("SELECT type FROM events WHERE position > ?", (position,))]
    assert after in (
        [],
        ["journal_anchored"],
    )  # only the shutdown's anchor, recorded after the feed's last look


def test_a_message_the_receiver_keeps_rejecting_is_set_aside_and_the_feed_goes_on(tmp_path: Path) -> None:
    refused: list[str] = []

    def policy(control_id: str, _attempt: int) -> str:
        if not refused:
            refused.append(control_id)  # the first message is rejected every time
        return "AR" if control_id == refused[0] else "AA"

    receiver = MllpReceiver(policy).start()
    config = load_station_config(write_config(tmp_path / "station.toml", receiver.port))
    db = tmp_path / "station.sqlite"
    clock = ManualClock()
    run = start(config, db, clock)
    try:
        infusing(run.station, "Chair 1", clock)
        run.station.tick()
        ids = expected_ids(db, config, clock)
        assert receiver.wait_accepted(len(ids) - 1)
        assert receiver.accepted == ids[1:]
        assert receiver.attempts[ids[0]] == 3  # max_attempts
        feed = run.services.feed
        assert feed is not None and feed.wait_for(lambda s: s.set_aside == 1, 10)
    finally:
        run.close()
        receiver.stop()
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT control_id, ack_code, er7 FROM hl7_feed_set_aside").fetchall()
    assert [(r[0], r[1]) for r in rows] == [(ids[0], "AR")] and rows[0][2].startswith("MSH|")


@pytest.mark.parametrize(
    ("hl7", "named"),
    [
        ('feed = "http://engine:2575"', "[hl7]: feed"),
        ('feed = "mllps://engine:2575"', "TLS"),
        ('feed = "mllp://engine"', "[hl7]: feed"),
        ("[hl7.feed]\nport = 2575", "[hl7.feed]: host"),
        ('[hl7.feed]\nhost = "engine"\nport = 0', "[hl7.feed]: port"),
        ('[hl7.feed]\nhost = "engine"\nport = 2575\nack_timeout_s = -1', "[hl7.feed]: ack_timeout_s"),
        ('[hl7.feed]\nhost = "engine"\nport = 2575\nretries = 3', "[hl7.feed]: retries"),
    ],
)
def test_a_bad_feed_setting_names_the_file_and_the_key(tmp_path: Path, hl7: str, named: str) -> None:
    path = tmp_path / "station.toml"
    section = "" if hl7.startswith("[") else "[hl7]\n"
    path.write_text(
        f'[station]\nname = "P"\n\n{section}{hl7}\n\n[[chairs]]\nname = "Chair 1"\n', encoding="utf-8"
    )
    with pytest.raises(StationConfigError) as error:
        load_station_config(path)
    assert str(path) in str(error.value) and named in str(error.value)


def test_the_feed_url_form() -> None:
    settings = parse_feed({"feed": "mllp://10.1.2.3:2575"}, "station.toml")
    assert settings is not None and (settings.host, settings.port) == ("10.1.2.3", 2575)
    assert parse_feed({}, "station.toml") is None


def test_a_station_writes_signed_anchors_at_its_interval_and_at_shutdown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli import main
    from app.export.seals import AnchorLog, anchor_log_path

    path = tmp_path / "station.toml"
    path.write_text(
        '[station]\nname = "P"\nanchor_interval_min = 15\n\n[[chairs]]\nname = "Chair 1"\n', encoding="utf-8"
    )
    config = load_station_config(path)
    db = tmp_path / "station.sqlite"
    clock = ManualClock()
    run = start(config, db, clock)
    log = AnchorLog(anchor_log_path(db))
    try:
        infusing(run.station, "Chair 1", clock)  # 31 minutes pass inside
        run.station.tick()
        assert len(log.records()) == 1  # one tick after 31 minutes: one anchor, not one per missed interval
        clock.advance(minutes=14)
        run.station.tick()
        assert len(log.records()) == 1
        clock.advance(minutes=1)
        some_activity(run.station, clock, "Chair 1")
        assert len(log.records()) == 2
    finally:
        run.close()
    records = log.records()
    assert len(records) == 3  # and one at the clean shutdown
    with Journal(db, clock, read_only=True) as journal:
        assert records[-1]["position"] == journal.head()[0]
    capsys.readouterr()
    assert main(["verify", "--db", str(db)]) == 1  # no witness given: not confirmed, nothing wrong
    err = capsys.readouterr().err
    assert "NOT confirmed" in err and "3 anchors in" in err and "NOT intact" not in err, err


def test_pump_readings_reach_the_receiver_as_pcd01_between_the_entries(
    tmp_path: Path, pump: tuple[SimulatedPump, PtyPumpServer]
) -> None:
    _sim, server = pump
    receiver = MllpReceiver().start()
    extra = (
        f'\n[[chairs]]\nname = "Chair 3"\nprotocol = "alaris"\nurl = "{server.url}"\npoll_interval_s = 0.05\n'
    )
    config = load_station_config(write_config(tmp_path / "station.toml", receiver.port, extra))
    db = tmp_path / "station.sqlite"
    clock = ManualClock()
    run = start(config, db, clock)
    try:
        attach_configured_pumps(run.station, config)
        chair = run.station.chair("Chair 3")
        until(run.station, lambda: chair.pump_connected and chair.telemetry is not None)
        infusing(run.station, "Chair 3", clock)

        def sampled() -> bool:
            run.station.tick()
            return any(
                len(msh10.split(".")) == 3 and len(msh10.split(".")[2]) == 14 for msh10 in receiver.accepted
            )

        until(run.station, sampled)
        entries = expected_ids(db, config, clock)
        assert receiver.wait_accepted(len(entries) + 1)
        samples = [m for m in receiver.accepted if m not in entries]
        assert [m for m in receiver.accepted if m in entries] == entries  # the entries in journal order
        assert len(samples) == len(set(samples)) >= 1
        sample = receiver.messages[samples[0]]
        assert "ORU^R01" in sample and "MDC_FLOW_FLUID_PUMP" in sample and "|40|" in sample  # the pump's rate
    finally:
        run.close()
        receiver.stop()


def _waiting_entries(tmp_path: Path, port: int) -> tuple[Path, Path, list[str]]:
    """A station file pointing at the receiver, and a check-in and vital signs recorded while no feed
    ran (with a cursor from before them): what a starting station must stream."""
    from tests.ui.helpers import check_in_command

    config_path = write_config(tmp_path / "station.toml", port)
    db = tmp_path / "station.sqlite"
    clock = ManualClock()
    opened = open_floor(db, clock)
    try:
        station = station_for(opened.floor, load_station_config(config_path), clock)
        station.chair("Chair 1").execute(check_in_command("Chair 1", clock), "AB")
        station.chair("Chair 1").execute(RecordVitals({"systolic_mmhg": 124, "heart_rate_bpm": 72}), "AB")
        opened.floor.journal.conn.execute(
            "INSERT INTO hl7_feed_cursor (receiver, position, samples_since_ms, updated_at) VALUES (?, 0, 0, '')",
            (f"127.0.0.1:{port}",),
        )
    finally:
        opened.close()
    return config_path, db, expected_ids(db, load_station_config(config_path), clock)


def test_the_desktop_station_starts_the_feed_the_key_and_the_anchors_from_its_file(tmp_path: Path) -> None:
    """The GUI's production path (python -m app --config FILE) goes through start_services too."""
    import os
    import subprocess
    import sys

    from app.export.seals import AnchorLog, anchor_log_path

    receiver = MllpReceiver().start()
    config_path, db, wanted = _waiting_entries(tmp_path, receiver.port)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "CHAIRSIDE_CONFIG_DIR": str(tmp_path / "config")}
    command = [sys.executable, "-m", "app", "--config", str(config_path), "--db", str(db)]
    process = subprocess.Popen([*command, "--quit-after", "120"], env=env, cwd=Path(__file__).parents[2])
    try:
        assert wanted and receiver.wait_accepted(len(wanted), 60)
        assert receiver.accepted == wanted
    finally:
        process.terminate()
        process.wait(30)
        receiver.stop()
    before = len(AnchorLog(anchor_log_path(db)).records())
    done = subprocess.run(
        [*command, "--quit-after", "0"], env=env, cwd=Path(__file__).parents[2], timeout=120
    )
    assert done.returncode == 0
    assert (tmp_path / "config" / "station-ed25519.pem").exists()  # the key, created at start
    assert len(AnchorLog(anchor_log_path(db)).records()) == before + 1  # the anchor of the clean shutdown


def test_the_headless_station_starts_the_feed_the_key_and_the_anchors_from_its_file(tmp_path: Path) -> None:
    """`chairside headless` (no screen) takes the same start path: feed, station key, shutdown anchor."""
    import os
    import signal
    import subprocess
    import sys

    from app.export.seals import AnchorLog, anchor_log_path

    receiver = MllpReceiver().start()
    config_path, db, wanted = _waiting_entries(tmp_path, receiver.port)
    env = {**os.environ, "CHAIRSIDE_CONFIG_DIR": str(tmp_path / "config")}
    command = [sys.executable, "-m", "app.station.headless", "--config", str(config_path), "--db", str(db)]
    process = subprocess.Popen(command, env=env, cwd=Path(__file__).parents[2])
    try:
        assert wanted and receiver.wait_accepted(len(wanted), 60)
        assert receiver.accepted == wanted
        before = len(AnchorLog(anchor_log_path(db)).records())
        process.send_signal(signal.SIGTERM)  # a clean stop
        assert process.wait(60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)
        receiver.stop()
    assert (tmp_path / "config" / "station-ed25519.pem").exists()
    assert len(AnchorLog(anchor_log_path(db)).records()) == before + 1  # the anchor of the clean shutdown
