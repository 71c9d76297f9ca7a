"""The station's publisher against a real Mosquitto, the station in this process: a clean quit publishes
every entry journaled before its offline status; the status keeps its heartbeat while the station's
own thread is busy elsewhere (it is published from a thread of its own)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.domain.clock import ManualClock
from app.domain.commands import RecordVitals
from app.floor import Floor
from app.station.broker import parse_broker
from app.station.publish import Publisher
from app.station.station import Station
from app.store.journal import Journal
from tests.floor.support import Broker, Listener
from tests.station.test_configured_station import infusing


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Station]:
    clock = ManualClock(datetime.now(UTC) - timedelta(minutes=40))
    floor = Floor(Journal(tmp_path / "pod.sqlite", clock), clock=clock)
    station = Station(floor, ["Chair 1", "Chair 2"], clock)
    infusing(station, "Chair 1", clock)
    try:
        yield station
    finally:
        station.close()
        floor.close()


def test_a_clean_quit_publishes_every_journaled_entry_before_saying_offline(
    plain_broker: Broker, station: Station
) -> None:
    listener = Listener(plain_broker)
    publisher = Publisher(station, parse_broker({"url": plain_broker.url}), "Pod A")
    publisher.start()
    try:
        assert publisher.wait_connected(10)
        publisher.pump()
        # Entries journaled after the last pump, right before the quit (nothing pumps them out)
        for pulse in (70, 72, 74):
            station.chair("Chair 1").execute(RecordVitals({"heart_rate_bpm": pulse}), "AB")
        head = station.floor.journal.head()[0]
    finally:
        publisher.close()
    listener.wait_for(
        lambda: any(p["state"] == "offline" for p in listener.on("chairside/v1/pod-a/status")), say="offline"
    )
    listener.close()
    order = [
        (topic.rsplit("/", 1)[1], payload.get("seq"), payload.get("state"))
        for topic, payload, _r in listener.snapshot()
        if topic.endswith(("/events", "/status"))
    ]
    offline = order.index(("status", None, "offline"))
    published = {seq for kind, seq, _s in order[:offline] if kind == "events"}
    assert published == set(range(1, head + 1)), f"{head - len(published)} entries left behind"
    assert publisher.cursor == head
    with Journal(station.floor.journal.path, read_only=True) as journal:
        from app.store.outbox import acknowledged_position

        assert acknowledged_position(journal.conn, "chairside/v1/pod-a") == head


def test_the_status_keeps_its_heartbeat_while_the_station_thread_is_busy(
    plain_broker: Broker, station: Station
) -> None:
    listener = Listener(plain_broker, "chairside/v1/pod-a/status")
    publisher = Publisher(station, parse_broker({"url": plain_broker.url, "keepalive_s": 1}), "Pod A")
    publisher.start()
    try:
        assert publisher.wait_connected(10)
        # The owner's thread never pumps here (as if it were busy with 48 chairs): the status still beats
        listener.wait_for(lambda: len(listener.on("chairside/v1/pod-a/status")) >= 4, say="four statuses")
    finally:
        publisher.close()
        listener.close()
    statuses = listener.on("chairside/v1/pod-a/status")
    assert all(s["schema"] == 2 and s["station"] == "Pod A" for s in statuses)
    assert [s["state"] for s in statuses[:4]] == ["online"] * 4
