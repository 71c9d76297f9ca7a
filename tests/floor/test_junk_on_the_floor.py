"""Junk on every topic a station may write, through a real Mosquitto with the shipped ACL: the overview
drops it (one log line, "data from this station unreadable"), keeps updating every other station
(checked through the model), keeps ticking, and `chairside overview --quit-after` still quits with
the junk retained on the broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytestqt.qtbot import QtBot

from app.domain.clock import ManualClock
from app.floor import Floor
from app.station.broker import parse_broker
from app.station.publish import Publisher
from app.station.snapshot import chair_snapshot, iso
from app.station.station import Station
from app.store.journal import Journal
from tests.floor.conftest import USERS
from tests.floor.support import ROOT, Broker, client_for
from tests.floor.test_floor import overview
from tests.station.test_configured_station import infusing

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")

# Every topic the ACL lets station pod-a write: its whole subtree (what the overview reads, and more)
SUFFIXES = st.one_of(
    st.sampled_from(
        [
            "status",
            "chairs/Chair 1",
            "chairs/Chair 9",
            "chairs/Chair 1/readings",
            "answers",
            "events",
            "commands",
            "anchor",
            "chairs",
        ]
    ),
    st.builds(
        lambda a, b: f"{a}/{b}",
        st.sampled_from(["chairs", "status", "answers", "x"]),
        st.text(
            st.characters(exclude_characters="+#/", exclude_categories=["Cc", "Cs", "Co", "Cn"]),
            min_size=1,
            max_size=12,
        ),
    ),
)
JUNK_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


@st.composite
def payloads(draw: st.DrawFn, good_chair: dict[str, Any], good_status: dict[str, Any]) -> bytes:
    """Bytes, or a real message with one field (at any depth) replaced by junk."""
    kind = draw(st.sampled_from(["bytes", "chair", "status", "json"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "json":
        return _dumps(draw(JUNK_VALUES))
    message = json.loads(json.dumps(good_chair if kind == "chair" else good_status))
    target = message
    key = draw(st.sampled_from(sorted(target)))
    while isinstance(target[key], dict) and target[key] and draw(st.booleans()):
        target = target[key]
        key = draw(st.sampled_from(sorted(target)))
    target[key] = draw(JUNK_VALUES)
    return _dumps(message)


@pytest.fixture
def pod(tmp_path: Path) -> Iterator[tuple[Station, ManualClock]]:
    clock = ManualClock(datetime.now(UTC) - timedelta(minutes=40))
    floor = Floor(Journal(tmp_path / "pod.sqlite", clock), clock=clock)
    station = Station(floor, ["Chair 1", "Chair 2"], clock)
    infusing(station, "Chair 1", clock)
    try:
        yield station, clock
    finally:
        station.close()
        floor.close()


def test_junk_on_every_topic_a_station_may_write_never_stops_the_floor(
    qtbot: QtBot, tmp_path: Path, tls_broker: Broker, pod: tuple[Station, ManualClock]
) -> None:
    station, clock = pod
    secret = tmp_path / "pod-b.password"
    secret.write_text(USERS["pod-b"])
    pod_b = Publisher(
        station,
        parse_broker(
            {
                "url": tls_broker.url,
                "username": "pod-b",
                "password_file": str(secret),
                "ca_file": str(tls_broker.ca),
            }
        ),
        "Pod B",
    )
    pod_b.start()
    attacker = client_for(tls_broker, "pod-a-junk", "pod-a", USERS["pod-a"])
    attacker.connect("127.0.0.1", tls_broker.port)
    attacker.loop_start()
    # and the same junk as commands to Pod B, from the one user the ACL lets write them
    commander = client_for(tls_broker, "overview-junk", "overview", USERS["overview"])
    commander.connect("127.0.0.1", tls_broker.port)
    commander.loop_start()
    window = overview(qtbot, tls_broker, tmp_path)
    model = window.model
    other = ("pod-b", "Chair 1")
    good_chair = chair_snapshot(station.chair("Chair 1"), clock.now(), station="Pod A", index=1)
    good_chair.update(updated_at=iso(clock.now()), published_at=datetime.now(UTC).isoformat())
    good_status = {
        "schema": good_chair["schema"],
        "state": "online",
        "since": datetime.now(UTC).isoformat(),
        "at": datetime.now(UTC).isoformat(),
        "station": "Pod A",
        "keepalive_s": 5.0,
        "chairs": 2,
    }

    def publish(topic: str, payload: bytes, retain: bool = False) -> None:
        attacker.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)

    def pod_b_moves_on() -> None:
        """Pod B publishes its chairs again; wait until the model has taken that copy."""
        chair = model.snapshots.get(other)
        before = chair.published_at if chair is not None else None
        clock.advance(seconds=20)
        pod_b.republish()

        def seen() -> bool:
            pod_b.pump()
            chair = model.snapshots.get(other)
            return chair is not None and chair.published_at != before

        qtbot.waitUntil(seen, timeout=20_000)

    try:
        assert pod_b.wait_connected(10)
        publish("chairside/v1/pod-a/status", _dumps(good_status))
        publish("chairside/v1/pod-a/chairs/Chair 1", _dumps(good_chair), retain=True)
        pod_b_moves_on()
        assert ("pod-a", "Chair 1") in model.snapshots
        examples = 0

        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
        @given(suffix=SUFFIXES, payload=payloads(good_chair, good_status), retain=st.booleans())
        def junk_then_pod_b_updates(suffix: str, payload: bytes, retain: bool) -> None:
            nonlocal examples
            examples += 1
            publish(f"chairside/v1/pod-a/{suffix}", payload, retain)
            commander.publish("chairside/v1/pod-b/commands", payload, qos=1).wait_for_publish(10)
            pod_b_moves_on()  # the other station keeps updating (and ran the junk command), through the model
            window.tick()  # and the tick runs through (it would log, never raise)
            assert not model.views[other].stale
            assert model.views[other].phase_text == "▶ Infusing"

        junk_then_pod_b_updates()
        assert examples >= 20
        assert model.dropped > 0
        # Junk on Pod A's known chair: its last good state stays, marked unreadable
        publish("chairside/v1/pod-a/chairs/Chair 1", _dumps({**good_chair, "pump": {"rate_ml_h": "abc"}}))
        publish("chairside/v1/pod-a/chairs/Chair 1", b'{"schema": 2, "vitals": 5, "rate": NaN}', retain=True)
        pod_b_moves_on()
        assert ("pod-a", "Chair 1") in model.unreadable
        assert "data from this station unreadable" in window.tiles[("pod-a", "Chair 1")].alarm_label.text()
        assert window.tiles[("pod-a", "Chair 1")].phase_label.text() == "▶ Infusing"
        # A payload naming another station is refused: Pod B's group keeps its name
        publish("chairside/v1/pod-a/status", _dumps({**good_status, "station": "Pod B"}), retain=True)
        pod_b_moves_on()
        assert model.stations["pod-a"].name == "Pod A" and model.stations["pod-b"].name == "Pod B"
        assert model.stations["pod-a"].unreadable
        # Pod B's journal still verifies after every junk command it was sent
        assert station.floor.journal.verify().intact
    finally:
        for client in (attacker, commander):
            client.loop_stop()
            client.disconnect()
        pod_b.close()
    # With the junk still retained on the broker, a fresh overview starts, reads it and quits on time
    done = subprocess.run(
        [
            *(
                sys.executable,
                "-m",
                "app",
                "overview",
                "--broker",
                tls_broker.url,
                "--ca-file",
                str(tls_broker.ca),
            ),
            *("--password-file", str(tmp_path / "overview.password"), "--quit-after", "3"),
            *("--key", str(tmp_path / "cli-overview-key.pem"), "--window-size", "1366x768"),
        ],
        cwd=ROOT,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
