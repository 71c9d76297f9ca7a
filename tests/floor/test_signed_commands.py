"""Signed commands from the floor, through a real Mosquitto (TLS, the shipped ACL): a station accepts
an acknowledgement only from an enrolled overview's key, fresh, never seen before, and from someone
whose role may do it; everything else is refused, journaled as refused with what it claimed and
answered "refused", one answer per command id.

The station runs in this process (the real station core and publisher, its clock a ManualClock so
that an alarm escalates without waiting a minute); the overview is the real window, signed in."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pytestqt.qtbot import QtBot

from app.domain.alarms import Priority
from app.domain.clock import ManualClock
from app.floor import Floor
from app.station.broker import parse_broker
from app.station.floor_messages import SCHEMA
from app.station.floor_signing import signed
from app.station.publish import Publisher
from app.station.station import Station
from app.store.journal import Journal
from tests.floor.conftest import USERS
from tests.floor.support import Broker, Listener, client_for
from tests.floor.test_floor import CHARGE_NURSE, OVERVIEW_NAME, overview, overview_setup
from tests.station.test_configured_station import infusing
from tests.ui.test_floor_model import lose_the_pump

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


def station_settings(broker: Broker, folder: Path) -> Any:
    folder.mkdir(parents=True, exist_ok=True)
    secret = folder / "pod-a.password"
    secret.write_text(USERS["pod-a"])
    return parse_broker(
        {"url": broker.url, "username": "pod-a", "password_file": str(secret), "ca_file": str(broker.ca)}
    )


@pytest.fixture
def escalated_station(tmp_path: Path) -> Iterator[Station]:
    """Pod A with an infusing chair whose pump link is lost, the high alarm escalated."""
    clock = ManualClock(datetime.now(UTC) - timedelta(minutes=40))
    floor = Floor(Journal(tmp_path / "pod-a.sqlite", clock), clock=clock)
    station = Station(floor, ["Chair 1", "Chair 2"], clock)
    infusing(station, "Chair 1", clock)
    lose_the_pump(station, clock)
    clock.advance(seconds=station.alarm_policy.escalation_after_s[Priority.HIGH] + 1)
    station.tick(clock.now())
    assert [a.id for a in station.chair("Chair 1").escalated_alarms()], "no escalated alarm"
    try:
        yield station
    finally:
        station.close()
        floor.close()


def command(alarm: str, by: dict[str, str], *, sent_at: datetime | None = None) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "id": uuid.uuid4().hex,
        "command": "acknowledge",
        "station": "pod-a",
        "chair": "Chair 1",
        "alarm": alarm,
        "by": by,
        "overview": OVERVIEW_NAME,
        "sent_at": (sent_at or datetime.now(UTC)).isoformat(timespec="milliseconds"),
    }


def test_only_an_enrolled_overviews_signed_fresh_command_by_a_charge_nurse_acknowledges(
    qtbot: QtBot, tmp_path: Path, tls_broker: Broker, escalated_station: Station
) -> None:
    station = escalated_station
    setup = overview_setup(tmp_path)
    publisher = Publisher(
        station, station_settings(tls_broker, tmp_path / "a"), "Pod A", floor=setup.enrollment()
    )
    publisher.start()
    answers = Listener(tls_broker, "chairside/v1/pod-a/answers", user="overview", password=USERS["overview"])
    commands = Listener(
        tls_broker, "chairside/v1/pod-a/commands", user="overview", password=USERS["overview"]
    )
    attacker = client_for(tls_broker, "attacker", "overview", USERS["overview"])
    attacker.connect("127.0.0.1", tls_broker.port)
    attacker.loop_start()
    window = overview(qtbot, tls_broker, tmp_path, setup, sign_in=CHARGE_NURSE)
    key = ("pod-a", "Chair 1")

    def pumped(what: Any) -> Any:
        def check() -> bool:
            publisher.pump()
            return bool(what())

        return check

    try:
        assert publisher.wait_connected(10)
        qtbot.waitUntil(
            pumped(lambda: key in window.model.snapshots and window.model.escalated()), timeout=30_000
        )
        alarm_id = window.model.escalated()[0][1].id
        charge = {"id": "CN-9", "name": "Someone", "role": "charge"}
        forged = Ed25519PrivateKey.generate()
        attacks = {
            "unsigned": command(alarm_id, charge),
            "unenrolled key": signed(forged, command(alarm_id, charge)),
            "nurse for an escalated alarm": signed(
                setup.key, command(alarm_id, {"id": "RN-7", "name": "L. Nurse", "role": "nurse"})
            ),
            "older than a minute": signed(
                setup.key, command(alarm_id, charge, sent_at=datetime.now(UTC) - timedelta(seconds=90))
            ),
        }
        for body in attacks.values():
            attacker.publish("chairside/v1/pod-a/commands", json.dumps(body), qos=1).wait_for_publish(10)
        qtbot.waitUntil(pumped(lambda: len(answers.snapshot()) == len(attacks)), timeout=30_000)
        assert not station.chair("Chair 1").active_alarms[0].acknowledged
        # The charge nurse signed in at the enrolled overview acknowledges from the escalated list
        window.tick()
        window.escalated_panel.buttons[0].click()
        qtbot.waitUntil(pumped(lambda: len(answers.snapshot()) == len(attacks) + 1), timeout=30_000)
        qtbot.waitUntil(lambda: window.answer_label.text().endswith(f"acknowledged by {CHARGE_NURSE}"))
        # The same signed command again, byte for byte: a replay
        genuine = [p for _t, p, _r in commands.snapshot() if p["by"]["id"] == CHARGE_NURSE]
        assert len(genuine) == 1
        attacker.publish("chairside/v1/pod-a/commands", json.dumps(genuine[0]), qos=1).wait_for_publish(10)
        qtbot.waitUntil(pumped(lambda: len(answers.snapshot()) == len(attacks) + 2), timeout=30_000)
        # The station restarts: the same replay is still one (the ids are read back from its journal)
        publisher.close()
        publisher = Publisher(
            station, station_settings(tls_broker, tmp_path / "a"), "Pod A", floor=setup.enrollment()
        )
        publisher.start()
        assert publisher.wait_connected(10)
        qtbot.waitUntil(pumped(lambda: publisher.connected), timeout=10_000)
        attacker.publish("chairside/v1/pod-a/commands", json.dumps(genuine[0]), qos=1).wait_for_publish(10)
        qtbot.waitUntil(pumped(lambda: len(answers.snapshot()) == len(attacks) + 3), timeout=30_000)
    finally:
        attacker.loop_stop()
        attacker.disconnect()
        publisher.close()
        answers.close()
        commands.close()
    every = [p for _t, p, _r in answers.snapshot()]
    assert len(every) == len(attacks) + 3, "one answer per command received"
    replies = {p["id"]: p for p in every[: len(attacks)]}
    assert len(replies) == len(attacks)
    for name, body in attacks.items():
        assert replies[body["id"]]["result"] == "refused", name
    assert (
        "not signed" in replies[attacks["unsigned"]["id"]]["message"]
        or "unsigned" in (replies[attacks["unsigned"]["id"]]["message"])
    )
    assert "does not match" in replies[attacks["unenrolled key"]["id"]]["message"]
    assert (
        "may not acknowledge an escalated alarm"
        in replies[attacks["nurse for an escalated alarm"]["id"]]["message"]
    )
    assert "at most 60 s" in replies[attacks["older than a minute"]["id"]]["message"]
    assert [(p["id"], p["result"]) for p in every[len(attacks) :]] == [
        (genuine[0]["id"], "done"),
        (genuine[0]["id"], "refused"),
        (genuine[0]["id"], "refused"),  # after the restart
    ]
    assert "replay" in every[-1]["message"]
    journal = station.floor.journal
    refused = [e for e in journal.entries() if e.type == "floor_command_refused"]
    assert len(refused) == len(attacks) + 2  # the four attacks and the replay, twice
    by_command = {e.payload["command_id"]: e.payload for e in refused}
    assert set(by_command) == {b["id"] for b in attacks.values()} | {genuine[0]["id"]}
    assert "replay" in by_command[genuine[0]["id"]]["reason"]
    assert by_command[attacks["nurse for an escalated alarm"]["id"]]["claimed_by"] == "RN-7"
    assert by_command[attacks["unsigned"]["id"]]["signed"] is False
    assert all(p["claimed_overview"] == OVERVIEW_NAME for p in by_command.values())
    acknowledged = [e for e in journal.entries() if e.type == "alarm_acknowledged"]
    assert [(e.actor, e.payload["alarm_id"], e.payload["overview"]) for e in acknowledged] == [
        (CHARGE_NURSE, alarm_id, OVERVIEW_NAME)
    ]
    assert journal.verify().intact
