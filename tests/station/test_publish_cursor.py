"""The publisher's saved broker position (the `mqtt_outbox` cursor) against a journal that ends before it:
a real Mosquitto, the station in this process, the journal's last entries really published and
acknowledged, then cut off between two runs (what a restore from an older backup or lost WAL frames
leave). The next entry must reach the floor, and the station must say why the position moved back."""

from __future__ import annotations

import logging
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
from app.store.outbox import acknowledged_position
from tests.floor.support import Broker, Listener, mosquitto_missing
from tests.station.test_configured_station import infusing
from tests.tampering import cut_journal_to

if mosquitto_missing():
    pytest.fail(mosquitto_missing() or "", pytrace=False)

ROOT = "chairside/v1/pod-a"
EVENTS = f"{ROOT}/events"
STATUS = f"{ROOT}/status"
CHAIRS = ["Chair 1", "Chair 2"]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    broker = Broker(tmp_path / "broker").start()
    try:
        yield broker
    finally:
        broker.stop()


def _open(db: Path, clock: ManualClock) -> Station:
    return Station(Floor(Journal(db, clock), clock=clock), CHAIRS, clock)


def _close(station: Station) -> None:
    station.close()
    station.floor.close()


def _published_run(station: Station, broker: Broker) -> int:
    """One run that publishes every entry and quits cleanly (the broker acknowledged them all)."""
    publisher = Publisher(station, parse_broker({"url": broker.url}), "Pod A")
    publisher.start()
    try:
        assert publisher.wait_connected(10)
        publisher.pump()
    finally:
        publisher.close()
    return publisher.cursor


def _pumped(publisher: Publisher) -> bool:
    """What the station's tick does: acknowledged progress saved, what changed published."""
    publisher.pump()
    return True


def test_a_saved_position_past_the_journals_end_is_said_and_the_next_entry_is_published(
    tmp_path: Path, broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "pod.sqlite"
    clock = ManualClock(datetime.now(UTC) - timedelta(minutes=40))
    station = _open(db, clock)
    try:
        infusing(station, "Chair 1", clock)
        keep = station.floor.journal.head()[0]
        for pulse in (70, 72, 74):  # the entries the cut takes away again
            station.chair("Chair 1").execute(RecordVitals({"heart_rate_bpm": pulse}), "AB")
        head = station.floor.journal.head()[0]
        assert _published_run(station, broker) == head
    finally:
        _close(station)
    cut_journal_to(db, keep)

    floor = Listener(broker, f"{ROOT}/#")
    station = _open(db, clock)
    try:
        with caplog.at_level(logging.WARNING, logger="app.station.publish"):
            publisher = Publisher(station, parse_broker({"url": broker.url}), "Pod A")
        said = [r.getMessage() for r in caplog.records if "past the journal's end" in r.getMessage()]
        assert len(said) == 1 and "\n" not in said[0], said
        assert f"entry {head}" in said[0] and f"entry {keep}" in said[0], said[0]
        publisher.start()
        try:
            assert publisher.wait_connected(10)
            station.chair("Chair 1").execute(RecordVitals({"heart_rate_bpm": 90}), "AB")
            new = station.floor.journal.entries_after(keep, 10)
            assert [e.position for e in new] == [keep + 1]  # a position the broker had acknowledged before
            floor.wait_for(
                lambda: (
                    _pumped(publisher)
                    and any(e["seq"] == keep + 1 and e["hash"] == new[0].hash for e in floor.on(EVENTS))
                ),
                20,
                f"entry {keep + 1} on the floor",
            )
            # Said in the station's status too (the status bar and the floor's station line), not silently.
            floor.wait_for(
                lambda: (
                    _pumped(publisher)
                    and any(
                        "past the journal's end" in str(w)
                        for s in floor.on(STATUS)
                        for w in s.get("warnings", [])
                    )
                ),
                20,
                "the station's status to say it",
            )
        finally:
            publisher.close()
    finally:
        _close(station)
        floor.close()
    with Journal(db, read_only=True) as journal:
        assert acknowledged_position(journal.conn, ROOT) == keep + 1


@pytest.mark.parametrize("recorded", [1, 3], ids=["fewer-than-cut", "more-than-cut"])
def test_a_journal_cut_under_a_running_publisher_is_found_at_its_next_publish(
    tmp_path: Path, broker: Broker, caplog: pytest.LogCaptureFixture, recorded: int
) -> None:
    """Two entries cut under the running station, then `recorded` new ones before the next publish: with
    more new entries than were cut the journal ends past the saved position again, and only the changed
    chain hashes show that positions the floor received now hold other entries."""
    db = tmp_path / "pod.sqlite"
    clock = ManualClock(datetime.now(UTC) - timedelta(minutes=40))
    station = _open(db, clock)
    floor = Listener(broker, EVENTS)
    publisher = Publisher(station, parse_broker({"url": broker.url}), "Pod A")
    publisher.start()
    try:
        infusing(station, "Chair 1", clock)
        clock.advance(minutes=-31)
        infusing(station, "Chair 2", clock)
        keep = station.floor.journal.head()[0]
        station.chair("Chair 2").execute(RecordVitals({"heart_rate_bpm": 70}), "AB")  # cut below
        station.chair("Chair 2").execute(RecordVitals({"heart_rate_bpm": 72}), "AB")
        assert publisher.wait_connected(10)
        floor.wait_for(
            lambda: _pumped(publisher) and publisher.cursor == keep + 2, 20, "every entry acknowledged"
        )
        cut_journal_to(db, keep)  # under the running station (a restore over its file); Chair 1's
        # session is untouched by the cut, so its next entries are recorded from keep + 1
        with caplog.at_level(logging.WARNING, logger="app.station.publish"):
            for pulse in range(90, 90 + recorded):
                station.chair("Chair 1").execute(RecordVitals({"heart_rate_bpm": pulse}), "AB")
            new = {e.position: e.hash for e in station.floor.journal.entries_after(keep, 10)}
            assert sorted(new) == list(range(keep + 1, keep + 1 + recorded))
            floor.wait_for(
                lambda: (
                    _pumped(publisher)
                    and all(
                        any(e["seq"] == p and e["hash"] == h for e in floor.on(EVENTS))
                        for p, h in new.items()
                    )
                ),
                20,
                f"the new entries {sorted(new)} on the floor",
            )
        said = [r.getMessage() for r in caplog.records if "publishing restarts after entry" in r.getMessage()]
        assert len(said) == 1, said  # found once, at the first publish after the cut
        assert f"publishing restarts after entry {keep};" in said[0], said[0]
        assert said[0].split(": ", 1)[1] in station.service_warnings["broker_position"]  # the same line
    finally:
        publisher.close()
        floor.close()
        _close(station)
