"""Several stations, one floor, through a real Mosquitto: the stations are `chairside headless`
processes started from their configuration files (Qt blocked in them), the overview is the real Qt
window and model in this process."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pytestqt.qtbot import QtBot

from app.accounts.store import Account, AccountStore
from app.station.broker import parse_broker
from app.station.floor_signing import load_or_create_overview_key, public_text
from app.station.headless import run_station
from app.station.station import Station
from app.store.journal import Journal
from app.store.outbox import acknowledged_position
from app.ui.floor_overview import FloorLink, FloorOverviewWindow, OverviewIdentity, StationInfo
from drivers.sim.pump import SimulatedPump
from drivers.sim.server import PtyPumpServer
from tests.accounts.support import FAST, PIN
from tests.floor.conftest import USERS, broker_table, make_station
from tests.floor.support import Broker, Listener, client_for

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")

MISSING_URL = "/dev/chairside-test-no-such-port"


CHARGE_NURSE = "CN-0042"
OVERVIEW_NAME = "Charge desk"


@dataclass
class OverviewSetup:
    """The overview's own database (its accounts) and its key, made for a test."""

    accounts: AccountStore
    key: Ed25519PrivateKey

    @property
    def identity(self) -> OverviewIdentity:
        return OverviewIdentity(OVERVIEW_NAME, self.key)

    def enrollment(self) -> dict[str, Any]:
        """The station configuration's [floor] table that enrolls this overview."""
        return {"overviews": [{"name": OVERVIEW_NAME, "public_key": public_text(self.key)}]}

    def signed_in(self, account_id: str = CHARGE_NURSE) -> Account:
        return self.accounts.sign_in(account_id, PIN)


def overview_setup(tmp_path: Path) -> OverviewSetup:
    journal = Journal(tmp_path / "overview.sqlite")
    store = AccountStore(journal, FAST)
    store.add(CHARGE_NURSE, "M. Rossi", "charge", PIN, by="test")
    store.add("RN-7", "L. Nurse", "nurse", PIN, by="test")
    return OverviewSetup(store, load_or_create_overview_key(tmp_path / "overview-key.pem"))


def overview(
    qtbot: QtBot, broker: Broker, tmp_path: Path, setup: OverviewSetup | None = None, *, sign_in: str = ""
) -> FloorOverviewWindow:
    table: dict[str, Any] = {"url": broker.url}
    if broker.tls:
        secret = tmp_path / "overview.password"
        secret.write_text(USERS["overview"])
        table.update(username="overview", password_file=str(secret), ca_file=str(broker.ca))
    link = FloorLink(parse_broker(table), name=OVERVIEW_NAME)
    window = FloorOverviewWindow(
        link,
        accounts=setup.accounts if setup is not None else None,
        identity=setup.identity if setup is not None else None,
    )
    # The broker link stops with the window: a link left running retries a stopped broker for the rest of
    # the worker's tests, its thread calling into Qt objects the test has let go of
    qtbot.addWidget(window, before_close_func=lambda _window: link.stop())
    window.resize(1366, 768)
    window.show()
    link.start()
    if setup is not None and sign_in:
        window.sign_in(setup.signed_in(sign_in))
    return window


def journal_entries(db: Path) -> list[Any]:
    with Journal(db, read_only=True) as journal:
        return list(journal.entries())


def test_two_stations_and_an_overview_over_tls(
    qtbot: QtBot, tmp_path: Path, tls_broker: Broker, pump: tuple[SimulatedPump, PtyPumpServer]
) -> None:
    sim, server = pump
    pod_a = make_station(
        tmp_path / "a",
        "Pod A",
        [
            {"name": "Chair 1", "protocol": "alaris", "url": server.url, "poll_interval_s": 0.1},
            {"name": "Chair 2"},
        ],
        broker_table(tls_broker, tmp_path / "a", "pod-a"),
        infusing_chairs=["Chair 1"],
    ).start()
    pod_b = make_station(
        tmp_path / "b",
        "Pod B",
        [{"name": f"Chair {n}"} for n in (1, 2, 3)],
        broker_table(tls_broker, tmp_path / "b", "pod-b"),
    ).start()
    window = overview(qtbot, tls_broker, tmp_path, overview_setup(tmp_path), sign_in=CHARGE_NURSE)
    model = window.model
    try:
        qtbot.waitUntil(lambda: model.rowCount() == 5, timeout=30_000)
        assert [k for k in model.keys] == [
            ("pod-a", "Chair 1"),
            ("pod-a", "Chair 2"),
            ("pod-b", "Chair 1"),
            ("pod-b", "Chair 2"),
            ("pod-b", "Chair 3"),
        ]
        assert {s.id: s.name for s in model.stations.values()} == {"pod-a": "Pod A", "pod-b": "Pod B"}
        # The infusing chair shows the simulated pump's rate against the plan, as published by Pod A
        qtbot.waitUntil(
            lambda: model.views[("pod-a", "Chair 1")].pump_text.startswith("Pump 40 /"), timeout=30_000
        )
        tile = window.tiles[("pod-a", "Chair 1")]
        assert tile.phase_label.text() == "▶ Infusing"
        assert tile.initials_label.text() == "JD"
        sim.set_rate(80)  # the nurse changes the rate at the pump: documented by Pod A, seen on the floor
        qtbot.waitUntil(
            lambda: model.views[("pod-a", "Chair 1")].pump_text.startswith("Pump 80 /"), timeout=30_000
        )
        assert all(not view.stale for view in model.views.values())
        # "Urgent first" is one click away and keeps every tile
        window.order_button.click()
        assert window.urgent_first and len(window.board._groups[0][1]) == 5
    finally:
        code_a, err_a = pod_a.stop()
        code_b, err_b = pod_b.stop()
    assert code_a == 0, err_a
    assert code_b == 0, err_b
    # A clean quit says offline at once: the overview greys the station's tiles
    qtbot.waitUntil(lambda: all(view.stale for view in model.views.values()), timeout=15_000)
    assert model.views[("pod-b", "Chair 1")].stale_text.startswith("no data since ")
    assert model.views[("pod-a", "Chair 1")].pump_text == ""  # no stale value shown as current


def test_a_broker_restart_and_a_station_restart_lose_no_entry(
    tmp_path: Path, plain_broker: Broker, pump: tuple[SimulatedPump, PtyPumpServer]
) -> None:
    sim, server = pump
    station = make_station(
        tmp_path / "a",
        "Pod A",
        [{"name": "Chair 1", "protocol": "alaris", "url": server.url, "poll_interval_s": 0.1}],
        broker_table(plain_broker, tmp_path / "a"),
        infusing_chairs=["Chair 1"],
    )
    # A consumer with a persistent session: the broker keeps its QoS 1 messages across its restart
    listener = Listener(plain_broker, "chairside/v1/pod-a/events", client_id="archive", clean_session=False)
    db = station.db
    station.start()
    try:
        before = len(journal_entries(db))
        listener.wait_for(
            lambda: len(listener.on("chairside/v1/pod-a/events")) >= before, say="the first entries"
        )

        plain_broker.stop()
        sim.set_rate(80)  # documented while the broker is down
        listener.wait_for(lambda: len(journal_entries(db)) > before, say="an entry while the broker is down")
        during = len(journal_entries(db))
        code, err = station.stop()  # and the station restarts too, before the broker is back
        assert code == 0, err
        sim.set_rate(120)
        plain_broker.start()
        station.start()
        # Wait for the rate set while the station was away to be documented and published: any other
        # entry after the restart (a resume, an anchor) could come first and end the wait too early.
        listener.wait_for(
            lambda: (
                len(journal_entries(db)) > during
                and any(
                    e["type"] == "rate_changed" and e["data"].get("rate_ml_h") == 120
                    for e in listener.on("chairside/v1/pod-a/events")
                )
            ),
            timeout_s=60,
            say="the rate set while the station was away, on the broker",
        )
        listener.wait_for(
            lambda: (
                {e["seq"] for e in listener.on("chairside/v1/pod-a/events")}
                >= set(range(1, len(journal_entries(db)) + 1))
            ),
            timeout_s=60,
            say="every entry on the broker",
        )
    finally:
        code, err = station.stop()
        listener.close()
    assert code == 0, err
    entries = journal_entries(db)
    events = listener.on("chairside/v1/pod-a/events")
    first: dict[int, dict[str, Any]] = {}
    for event in events:
        first.setdefault(event["seq"], event)
    assert sorted(first) == list(range(1, len(entries) + 1)), "an entry is missing"
    assert list(first) == sorted(first), "entries arrived out of journal order"
    for entry in entries:
        event = first[entry.position]
        assert (event["type"], event["actor"], event["session"], event["hash"]) == (
            entry.type,
            entry.actor,
            entry.session_id,
            entry.hash,
        )
        chair = None if entry.session_id.startswith("station:") else "Chair 1"  # the anchors' own entries
        assert event["station"] == "Pod A" and event["chair"] == chair
    # Documented by the station while the broker was away, and while the station itself was away
    rates = [e["data"].get("rate_ml_h") for e in first.values() if e["type"] == "rate_changed"]
    assert 80 in rates and 120 in rates
    with Journal(db, read_only=True) as journal:
        assert acknowledged_position(journal.conn, "chairside/v1/pod-a") == len(entries)


def test_a_station_killed_shows_offline_within_15_s(
    qtbot: QtBot, tmp_path: Path, plain_broker: Broker
) -> None:
    station = make_station(
        tmp_path / "a",
        "Pod A",
        [{"name": "Chair 1"}, {"name": "Chair 2"}],
        broker_table(plain_broker, tmp_path / "a"),
    ).start()
    window = overview(qtbot, plain_broker, tmp_path)
    model = window.model
    qtbot.waitUntil(
        lambda: model.rowCount() == 2 and model.stations["pod-a"].state == "online", timeout=30_000
    )
    assert not model.views[("pod-a", "Chair 1")].stale
    station.kill()
    killed = time.monotonic()
    qtbot.waitUntil(lambda: all(view.stale for view in model.views.values()), timeout=15_000)
    greyed_s = time.monotonic() - killed
    # The broker's last will (keepalive 5 s: within 1.5x) says offline too
    qtbot.waitUntil(
        lambda: model.stations["pod-a"].state == "offline", timeout=max(1, int((15 - greyed_s) * 1000))
    )
    assert time.monotonic() - killed <= 15.0
    assert model.views[("pod-a", "Chair 2")].stale_text.startswith("no data since ")
    assert window.board.heading("pod-a").text().startswith("Pod A  ·  2 chairs  ·  OFFLINE: no data since ")


def test_an_acknowledgement_from_an_enrolled_overview_reaches_the_station_journal(
    qtbot: QtBot, tmp_path: Path, tls_broker: Broker
) -> None:
    """The station started from its file, the overview enrolled in its [floor] table, the charge nurse
    signed in at the overview: the acknowledgement is journaled naming them and the overview."""
    setup = overview_setup(tmp_path)
    station = make_station(
        tmp_path / "a",
        "Pod A",
        [
            {
                "name": "Chair 1",
                "protocol": "alaris",
                "url": MISSING_URL,
                "reconnect_max_s": 0.5,
                "quiet_time_s": 1,
            }
        ],
        broker_table(tls_broker, tmp_path / "a", "pod-a"),
        infusing_chairs=["Chair 1"],
        floor=setup.enrollment(),
    ).start()
    window = overview(qtbot, tls_broker, tmp_path, setup, sign_in=CHARGE_NURSE)
    model = window.model
    key = ("pod-a", "Chair 1")
    try:
        # The pump does not answer: after the quiet time, the high-priority link alarm, published
        qtbot.waitUntil(lambda: key in model.snapshots and bool(model.snapshots[key].alarms), timeout=60_000)
        alarm = model.snapshots[key].alarms[0]
        assert alarm.priority.value == "high" and not alarm.acknowledged
        assert model.views[key].alarm_text.startswith("!!! HIGH")
        command_id = window.acknowledge(key, alarm.id)
        assert command_id is not None
        qtbot.waitUntil(lambda: command_id in model.answers, timeout=30_000)
        assert model.answers[command_id].done
        assert window.answer_label.text() == f"Pod A · Chair 1: acknowledged by {CHARGE_NURSE}"
        qtbot.waitUntil(lambda: model.snapshots[key].alarms[0].acknowledged, timeout=10_000)
    finally:
        code, err = station.stop()
    assert code == 0, err
    acknowledged = [e for e in journal_entries(station.db) if e.type == "alarm_acknowledged"]
    assert [(e.actor, e.payload["alarm_id"], e.payload["overview"]) for e in acknowledged] == [
        (CHARGE_NURSE, alarm.id, OVERVIEW_NAME)
    ]


def test_an_acknowledgement_needs_someone_signed_in_at_the_overview(
    qtbot: QtBot, tmp_path: Path, plain_broker: Broker
) -> None:
    window = overview(qtbot, plain_broker, tmp_path, overview_setup(tmp_path))
    qtbot.waitUntil(lambda: window.link is not None and window.link.connected, timeout=10_000)
    window.model.stations["pod-a"] = StationInfo("pod-a", "Pod A", "online", 5.0, time.time())
    assert window.acknowledge(("pod-a", "Chair 1"), "link_lost#1") is None
    assert window.answer_label.text().startswith("Sign in first (badge or ID, then PIN)")


def test_a_station_writes_only_its_own_topics_and_the_overview_only_commands(
    tmp_path: Path, tls_broker: Broker
) -> None:
    watcher = Listener(tls_broker, "chairside/v1/#", user="overview", password=USERS["overview"])
    pod_b_commands = Listener(
        tls_broker, "chairside/v1/pod-b/commands", user="pod-b", password=USERS["pod-b"]
    )
    pod_a = client_for(tls_broker, "pod-a-test", "pod-a", USERS["pod-a"])
    boss = client_for(tls_broker, "overview-test", "overview", USERS["overview"])
    for client in (pod_a, boss):
        client.connect("127.0.0.1", tls_broker.port)
        client.loop_start()
    try:
        for topic in (
            "chairside/v1/pod-b/chairs/Chair 1",
            "chairside/v1/pod-b/status",
            "chairside/v1/pod-b/commands",
        ):
            pod_a.publish(topic, json.dumps({"forged": "by pod-a"}), qos=1).wait_for_publish(10)
        boss.publish(
            "chairside/v1/pod-b/chairs/Chair 2", json.dumps({"forged": "by overview"}), qos=1
        ).wait_for_publish(10)
        for own in ("chairside/v1/overview/chairs/Chair 1", "chairside/v1/overview/status"):
            # the station pattern would give user "overview" chairside/v1/overview/#: denied
            boss.publish(
                own, json.dumps({"forged": "overview as a station"}), qos=1, retain=True
            ).wait_for_publish(10)
        boss.publish(
            "chairside/v1/pod-b/commands", json.dumps({"command": "acknowledge"}), qos=1
        ).wait_for_publish(10)
        pod_a.publish("chairside/v1/pod-a/status", json.dumps({"state": "online"}), qos=1).wait_for_publish(
            10
        )
        # The allowed ones arrive (in order after the refused ones, on the same connections)
        watcher.wait_for(lambda: len(watcher.on("chairside/v1/pod-a/status")) == 1, say="pod-a's own status")
        pod_b_commands.wait_for(lambda: len(pod_b_commands.snapshot()) == 1, say="the overview's command")
        watcher.wait_for(lambda: len(watcher.on("chairside/v1/pod-b/commands")) == 1, say="the command, seen")
    finally:
        for client in (pod_a, boss):
            client.loop_stop()
            client.disconnect()
    forged = [p for _t, p, _r in watcher.snapshot() if "forged" in p]
    assert forged == [], forged
    assert pod_b_commands.snapshot()[0][1] == {"command": "acknowledge"}
    watcher.close()
    pod_b_commands.close()


def test_a_station_refuses_plaintext_to_another_computer(tmp_path: Path) -> None:
    station = make_station(
        tmp_path / "a", "Pod A", [{"name": "Chair 1"}], {"url": "mqtt://192.0.2.10:1883", "keepalive_s": 5}
    )
    code, err = station.start().wait()
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert "allow_plaintext" in err and "not encrypted" in err and "Traceback" not in err
    # The same from the command line, against a file without [broker]
    plain = make_station(tmp_path / "b", "Pod B", [{"name": "Chair 1"}], None)
    plain.args = ["--broker", "mqtt://floor-broker.example:1883"]
    code, err = plain.start().wait()
    assert code == 2 and "allow_plaintext" in err and len(err.strip().splitlines()) == 1, err


def test_without_a_broker_the_station_runs_alone(tmp_path: Path) -> None:
    """The default: one station, its own database, no [broker]: nothing is published, nothing waits."""
    station = make_station(tmp_path / "a", "Pod A", [{"name": "Chair 1"}], None, infusing_chairs=["Chair 1"])
    started = threading.Event()
    seen: list[object] = []

    def on_started(core: Station, publisher: object) -> None:
        seen.append(publisher)
        seen.append(core.chair("Chair 1").state)
        started.set()

    stop = threading.Event()
    runner = threading.Thread(
        target=lambda: seen.append(run_station(station.config, station.db, stop, on_started=on_started))
    )
    runner.start()
    assert started.wait(30)
    stop.set()
    runner.join(30)
    publisher, state, code = seen
    assert publisher is None and code == 0
    assert state is not None and state.phase.value == "infusing"  # type: ignore[attr-defined]
    with Journal(station.db, read_only=True) as journal:
        assert journal.conn.execute("SELECT count(*) FROM mqtt_outbox").fetchone()[0] == 0
        assert journal.verify().intact


def test_the_station_with_its_screen_publishes_too(tmp_path: Path, plain_broker: Broker) -> None:
    """`chairside --config FILE --station NAME`: the GUI station publishes from its [broker] section."""
    import os
    import subprocess
    import sys

    from tests.floor.support import ROOT

    station = make_station(
        tmp_path / "a",
        "Pod A",
        [{"name": "Chair 1"}, {"name": "Chair 2"}],
        broker_table(plain_broker, tmp_path / "a"),
    )
    listener = Listener(plain_broker)
    try:
        done = subprocess.run(
            [
                *(sys.executable, "-m", "app", "--config", str(station.config), "--db", str(station.db)),
                *("--station", "Pod Z", "--quit-after", "4", "--window-size", "1366x768"),
            ],
            cwd=ROOT,
            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        listener.wait_for(lambda: bool(listener.on("chairside/v1/pod-z/status")), say="the status")
        listener.wait_for(
            lambda: listener.on("chairside/v1/pod-z/status")[-1]["state"] == "offline", say="offline"
        )
    finally:
        listener.close()
    statuses = [s["state"] for s in listener.on("chairside/v1/pod-z/status")]
    assert statuses[0] == "online" and statuses[-1] == "offline"
    chairs = listener.on("chairside/v1/pod-z/chairs/Chair 2")
    assert chairs and chairs[0]["station"] == "Pod Z" and chairs[0]["phase"] == "empty"
    assert not [t for t, _p, _r in listener.snapshot() if t.startswith("chairside/v1/pod-a/")]


@pytest.mark.parametrize(
    ("url", "words"),
    [("http://floor.example", "use mqtts://"), ("mqtt://10.20.30.40", "allow_plaintext")],
)
def test_the_overview_refuses_an_unusable_broker_in_one_line(
    url: str, words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli import main

    assert main(["overview", "--broker", url]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and words in err and err.startswith("chairside: "), err
