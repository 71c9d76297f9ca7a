"""The live HL7 feed on the production path: a station started from its configuration file streams its
messages over MLLP to a local receiver that drops the connection, NAKs (AE, AR) and restarts; nothing
is lost, order is kept, and a new station on the same database resumes at the cursor."""

from __future__ import annotations

import sqlite3
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from app.domain.clock import ManualClock
from app.domain.commands import AddNote, Discontinue, RecordVitals
from app.export.hl7 import Hl7Builder, SessionFeed
from app.export.hl7_settings import settings_from_table, station_eui64
from app.export.shifts import LocalTime
from app.station.config import StationConfig, StationConfigError, load_station_config
from app.station.hl7_feed import Hl7Feed, parse_feed
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
from tests.station.certificates import Pki, make_pki
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
        settings_from_table(config.hl7, config.name, station_eui64()),
        LocalTime.named(config.display_tz),
        clock.now(),
    )
    feeds: dict[str, SessionFeed] = {}
    ids: list[str] = []
    with Journal(db, clock, read_only=True) as journal:
        for entry in journal.entries():
            feed = feeds.setdefault(entry.session_id, SessionFeed(builder, entry.session_id))
            messages = feed.on_entry(entry, emit=entry.position > after)
            ids += [m.control_id for m in messages]
    return ids


def run_clock(feed: Hl7Feed, clock: ManualClock, done: Callable[[], bool], timeout_s: float = 60.0) -> None:
    """The feed's waits pass on the station's clock: whenever it waits for a moment the clock has not
    reached, move the (manual) clock there and wake it, until `done()`."""
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, feed.status
        feed.wait_for(lambda s: done() or (s.retry_at is not None and s.retry_at > clock.now()), 0.5)
        retry_at = feed.status.retry_at
        if retry_at is not None and retry_at > clock.now():
            clock.set(retry_at)
        feed.wake()


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
        run_clock(run.services.feed, clock, lambda: len(receiver.accepted) >= len(first))
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
        assert run.services.feed is not None
        run_clock(run.services.feed, clock, lambda: len(receiver.accepted) >= len(everything))
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


def _gaps_s(moments: list[datetime]) -> list[float]:
    return [(b - a).total_seconds() for a, b in pairwise(moments)]


def test_a_message_refused_for_an_hour_is_set_aside_and_the_feed_goes_on(tmp_path: Path) -> None:
    refused: list[str] = []
    attempts: list[datetime] = []  # when the refused message arrived (the station's clock)
    clock_of: list[ManualClock] = []

    def policy(control_id: str, _attempt: int) -> str:
        if not refused:
            refused.append(control_id)  # the first message is rejected every time
        if control_id == refused[0]:
            attempts.append(clock_of[0].now())
            return "AR"
        return "AA"

    receiver = MllpReceiver(policy).start()
    config, db, clock, ids = _waiting_shift(tmp_path, receiver.port)
    clock_of.append(clock)
    run = start(config, db, clock)
    try:
        feed = run.services.feed
        assert feed is not None
        run_clock(feed, clock, lambda: feed.status.set_aside == 1)
        gaps = _gaps_s(attempts)
        assert gaps[:9] == [1, 2, 4, 8, 16, 32, 64, 128, 256]  # doubling from retry_initial_s
        assert set(gaps[9:]) == {300}  # capped at 5 minutes
        refused_for = attempts[-1] - attempts[0]
        assert timedelta(minutes=60) <= refused_for < timedelta(minutes=65)  # an hour, not 4 s
        run_clock(feed, clock, lambda: len(receiver.accepted) >= len(ids) - 1)
        assert receiver.accepted == ids[1:]
        run.station.tick()  # the station's status bar and the floor's station status read this
        assert "1 message(s) set aside" in run.station.service_warnings["hl7_feed"]
    finally:
        run.close()
        receiver.stop()
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT control_id, ack_code, er7 FROM hl7_feed_set_aside").fetchall()
    assert [(r[0], r[1]) for r in rows] == [(ids[0], "AR")] and rows[0][2].startswith("MSH|")


def _waiting_shift(tmp_path: Path, port: int) -> tuple[StationConfig, Path, ManualClock, list[str]]:
    """A station file pointing at the receiver and a shift recorded while no feed ran (cursor at 0):
    an infusion under way and an alarm raised, what a starting feed must deliver."""
    config = load_station_config(write_config(tmp_path / "station.toml", port))
    db = tmp_path / "station.sqlite"
    clock = ManualClock()
    opened = open_floor(db, clock)
    try:
        station = station_for(opened.floor, config, clock)
        infusing(station, "Chair 1", clock)
        clock.advance(minutes=45)  # the first step-up is overdue: an alarm
        station.tick()
        opened.floor.journal.conn.execute(
            "INSERT INTO hl7_feed_cursor (receiver, position, samples_since_ms, updated_at) VALUES (?, 0, 0, '')",
            (f"127.0.0.1:{port}",),
        )
    finally:
        opened.close()
    return config, db, clock, expected_ids(db, config, clock)


def test_an_engine_answering_ae_for_ten_minutes_loses_nothing(tmp_path: Path) -> None:
    outage_until: list[datetime] = []
    clock_of: list[ManualClock] = []

    def policy(_control_id: str, _attempt: int) -> str:
        return "AE" if clock_of[0].now() < outage_until[0] else "AA"

    receiver = MllpReceiver(policy).start()
    config, db, clock, wanted = _waiting_shift(tmp_path, receiver.port)
    clock_of.append(clock)
    outage_until.append(clock.now() + timedelta(minutes=10))
    run = start(config, db, clock)
    try:
        feed = run.services.feed
        assert feed is not None
        run_clock(feed, clock, lambda: len(receiver.accepted) >= len(wanted))
        assert receiver.accepted == wanted  # all delivered, in order, each accepted once
        first = [a for a in receiver.received if a == wanted[0]]
        assert len(first) == 11  # at 0, 1, 3, 7, ... 511 s refused (AE); at 811 s accepted
        assert clock.now() - (outage_until[0] - timedelta(minutes=10)) == timedelta(seconds=811)
        assert feed.status.set_aside == 0 and feed.status.warning(clock.now()) == ""
    finally:
        run.close()
        receiver.stop()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM hl7_feed_set_aside").fetchone() == (0,)


def test_alarms_are_never_set_aside(tmp_path: Path) -> None:
    """An engine refusing every other message, and each alarm for three hours: the others are set
    aside after an hour each, every alarm is sent again until the engine takes it."""
    clock_of: list[ManualClock] = []
    first_seen: dict[str, datetime] = {}

    def policy(control_id: str, _attempt: int) -> str:
        now = first_seen.setdefault(control_id, clock_of[0].now())
        alarm = "ORU^R40" in receiver.messages[control_id]
        return "AA" if alarm and clock_of[0].now() - now >= timedelta(hours=3) else "AR"

    receiver = MllpReceiver(policy)
    receiver.start()
    config, db, clock, wanted = _waiting_shift(tmp_path, receiver.port)
    clock_of.append(clock)
    run = start(config, db, clock)
    try:
        feed = run.services.feed
        assert feed is not None
        with Journal(db, clock, read_only=True) as journal:
            alarms = [m for m in wanted if m.split(".")[1] in _alarm_positions(journal)]
        assert alarms, "the shift has an alarm"
        run_clock(feed, clock, lambda: len(receiver.accepted) >= len(alarms), timeout_s=120)
        assert receiver.accepted == alarms
        run_clock(feed, clock, lambda: feed.status.set_aside == len(wanted) - len(alarms), timeout_s=120)
        warning = feed.status.warning(clock.now())
    finally:
        run.close()
        receiver.stop()
    assert f"{len(wanted) - len(alarms)} message(s) set aside" in warning
    with sqlite3.connect(db) as conn:
        set_aside = [row[0] for row in conn.execute("SELECT er7 FROM hl7_feed_set_aside")]
    assert set_aside and not [er7 for er7 in set_aside if "ORU^R40" in er7]


def _alarm_positions(journal: Journal) -> set[str]:
    return {str(e.position) for e in journal.entries() if e.type.startswith("alarm_")}


@pytest.mark.parametrize(
    ("hl7", "named"),
    [
        ('feed = "http://engine:2575"', "[hl7]: feed"),
        ('feed = "mllps://engine"', "[hl7]: feed"),
        ('[hl7.feed]\nhost = "engine"\nport = 2575\nca_file = "/nonexistent/ca.pem"', "[hl7.feed]: ca_file"),
        ('[hl7.feed]\nhost = "engine"\nport = 2575\nretry_max_s = 3600', "[hl7.feed]: retry_max_s"),
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
    tls = parse_feed({"feed": "mllps://engine.hospital:2576"}, "station.toml")
    assert tls is not None and tls.tls and tls.url == "mllps://engine.hospital:2576"


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


def test_the_desktop_station_starts_the_feed_the_key_and_the_anchors_from_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The GUI's production path (python -m app --config FILE) goes through start_services too."""
    import os
    import subprocess
    import sys

    from app.export.seals import AnchorLog, anchor_log_path

    monkeypatch.setenv("CHAIRSIDE_CONFIG_DIR", str(tmp_path / "config"))  # the station's own folder
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


def test_the_headless_station_starts_the_feed_the_key_and_the_anchors_from_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`chairside headless` (no screen) takes the same start path: feed, station key, shutdown anchor."""
    import os
    import signal
    import subprocess
    import sys

    from app.export.seals import AnchorLog, anchor_log_path

    monkeypatch.setenv("CHAIRSIDE_CONFIG_DIR", str(tmp_path / "config"))  # the station's own folder
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


def _tls_config(tmp_path: Path, port: int, pki: Pki, *, client_cert: bool = True) -> Path:
    client = f'cert_file = "{pki.client_cert}"\nkey_file = "{pki.client_key}"\n' if client_cert else ""
    path = tmp_path / "station.toml"
    path.write_text(
        f"""
[station]
name = "Feed pod"
display_tz = "Europe/Zurich"

[hl7.feed]
host = "localhost"
port = {port}
tls = true
ca_file = "{pki.ca}"
{client}poll_s = 0.05

[[chairs]]
name = "Chair 1"
""",
        encoding="utf-8",
    )
    return path


def _engine_tls(pki: Pki, *, require_client: bool) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    if require_client:
        context.load_verify_locations(pki.ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def test_the_feed_over_tls_with_the_hospital_ca_and_a_client_certificate(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    receiver = MllpReceiver(tls=_engine_tls(pki, require_client=True)).start()
    config = load_station_config(_tls_config(tmp_path, receiver.port, pki))
    db = tmp_path / "station.sqlite"
    clock = ManualClock()
    run = start(config, db, clock)
    try:
        feed = run.services.feed
        assert feed is not None and feed.settings.url == f"mllps://localhost:{receiver.port}"
        infusing(run.station, "Chair 1", clock)
        run.station.tick()
        wanted = expected_ids(db, config, clock)
        run_clock(feed, clock, lambda: len(receiver.accepted) >= len(wanted))
        assert receiver.accepted == wanted and not receiver.handshake_failures
    finally:
        run.close()
        receiver.stop()


def test_the_tls_feed_refuses_an_engine_its_ca_did_not_sign_and_sends_nothing(tmp_path: Path) -> None:
    hospital = make_pki(tmp_path / "hospital")
    impostor = make_pki(tmp_path / "impostor", "Impostor CA")
    receiver = MllpReceiver(tls=_engine_tls(impostor, require_client=False)).start()
    config = load_station_config(_tls_config(tmp_path, receiver.port, hospital, client_cert=False))
    db = tmp_path / "station.sqlite"
    clock = ManualClock()
    run = start(config, db, clock)
    try:
        feed = run.services.feed
        assert feed is not None
        infusing(run.station, "Chair 1", clock)
        run.station.tick()
        assert feed.wait_for(lambda s: "CERTIFICATE_VERIFY_FAILED" in s.problem, 10), feed.status
        assert receiver.received == []  # not a byte of a message to an engine it cannot trust
    finally:
        run.close()
        receiver.stop()


def test_feed_status_shows_the_lag_and_the_set_aside_and_replay_sends_them_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli import main

    engine_fixed: list[bool] = []
    refused: list[str] = []

    def policy(control_id: str, _attempt: int) -> str:
        if not refused:
            refused.append(control_id)  # the engine cannot take the first message until it is fixed
        return "AR" if control_id == refused[0] and not engine_fixed else "AA"

    receiver = MllpReceiver(policy).start()
    config, db, clock, ids = _waiting_shift(tmp_path, receiver.port)
    config_path = str(config.path)
    capsys.readouterr()
    assert main(["feed", "status", "--db", str(db)]) == 0
    assert f"127.0.0.1:{receiver.port}: cursor at journal entry 0 of" in capsys.readouterr().out  # lag
    run = start(config, db, clock)
    try:
        feed = run.services.feed
        assert feed is not None
        run_clock(feed, clock, lambda: feed.status.set_aside == 1 and len(receiver.accepted) == len(ids) - 1)
    finally:
        run.close()
    try:
        capsys.readouterr()
        assert main(["feed", "status", "--db", str(db)]) == 1  # something waits for a person
        out, err = capsys.readouterr()
        assert "(up to date); set aside: 1" in out and ids[0] in out and "answered AR" in out
        assert "chairside feed replay" in err
        assert main(["feed", "replay", "--db", str(db), "--config", config_path, "--all"]) == 1  # still AR
        assert "1 still set aside" in capsys.readouterr().err
        engine_fixed.append(True)
        assert main(["feed", "replay", "--db", str(db), "--config", config_path, "nonexistent"]) == 1
        assert main(["feed", "replay", "--db", str(db), "--config", config_path, ids[0]]) == 0
        assert receiver.accepted[-1] == ids[0] and sorted(receiver.accepted) == sorted(ids)
        capsys.readouterr()
        assert main(["feed", "status", "--db", str(db)]) == 0
        assert "set aside: 0" in capsys.readouterr().out
    finally:
        receiver.stop()


def test_two_stations_on_default_names_share_no_msh10_across_a_shift(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two stations installed from the example (both "Pod A", no [hl7] identities) feed one engine,
    which de-duplicates on MSH-10: every message of both must be new to it."""
    receiver = MllpReceiver().start()  # one connection at a time: the stations take turns
    sent: list[list[str]] = []
    try:
        for station in ("a", "b"):
            folder = tmp_path / station
            folder.mkdir()
            monkeypatch.setenv("CHAIRSIDE_CONFIG_DIR", str(folder / "config"))  # each computer its own
            text = write_config(folder / "station.toml", receiver.port).read_text(encoding="utf-8")
            (folder / "station.toml").write_text(text.replace('name = "Feed pod"', 'name = "Pod A"'))
            config = load_station_config(folder / "station.toml")
            clock = ManualClock()
            run = start(config, folder / "station.sqlite", clock)
            try:
                infusing(run.station, "Chair 1", clock)
                infusing(run.station, "Chair 2", clock)
                some_activity(run.station, clock, "Chair 1")
                run.station.chair("Chair 2").execute(Discontinue("patient request"))
                run.station.tick()
                wanted = expected_ids(folder / "station.sqlite", config, clock)
                feed = run.services.feed
                assert feed is not None
                run_clock(feed, clock, lambda f=feed, w=wanted: f.status.delivered >= len(w))
            finally:
                run.close()
            sent.append(wanted)
    finally:
        receiver.stop()
    a_ids, b_ids = sent
    assert len(a_ids) >= 5 and len(b_ids) >= 5
    assert not set(a_ids) & set(b_ids)
    assert receiver.accepted == a_ids + b_ids  # each station's messages, none taken for a duplicate
    senders = {receiver.messages[m].split("|")[2] for m in receiver.accepted}
    kept = {(tmp_path / s / "config" / "station-eui64").read_text().strip() for s in "ab"}
    assert senders == {f"Pod A^{eui64}^EUI-64" for eui64 in kept} and len(kept) == 2  # MSH-3, its own
