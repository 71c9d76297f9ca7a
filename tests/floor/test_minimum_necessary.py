"""Minimum necessary on the broker: a demo shift of 12 chairs (check-ins with MRN, visit and order
numbers, reactions, occlusions, pauses, discharges), published in full by the real station publisher to
a real Mosquitto; no message on any topic carries an MRN or any identifier beyond the initials the tile
shows. The events carry each entry with the identifiers removed (and say which), plus its chain hash."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.domain.clock import ManualClock
from app.export.sample_shift import demo_visits, run_shift
from app.floor import Floor
from app.station.broker import parse_broker
from app.station.publish import Publisher
from app.station.station import Station
from app.store.journal import Journal
from tests.floor.support import Broker, Listener


def test_no_identifier_beyond_initials_in_any_message_of_a_demo_shift(
    tmp_path: Path, plain_broker: Broker
) -> None:
    start = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
    clock = ManualClock(start)
    visits = demo_visits(12, shift_hours=5)
    floor = Floor(Journal(tmp_path / "shift.sqlite", clock), clock=clock)
    run_shift(floor, clock, visits, until=start + timedelta(hours=4, minutes=30), sample_min=5)
    journal = floor.journal
    entries = list(journal.entries())
    identifiers = {v.mrn for v in visits} | {v.visit_number for v in visits if v.visit_number}
    identifiers |= {v.order_number for v in visits if v.order_number}
    recorded = [e for e in entries if e.type == "checked_in"]
    assert recorded and all(e.payload["patient_mrn"] in identifiers for e in recorded)
    listener = Listener(plain_broker)
    station = Station(floor, sorted({v.chair for v in visits}), clock)
    publisher = Publisher(station, parse_broker({"url": plain_broker.url}), "Pod A")
    publisher.start()
    try:
        assert publisher.wait_connected(10)
        listener.wait_for(
            lambda: (publisher.pump(every_chair=True), publisher.cursor == len(entries))[1],
            timeout_s=120,
            say="every entry acknowledged by the broker",
        )
        listener.wait_for(
            lambda: len(listener.on("chairside/v1/pod-a/events")) >= len(entries), say="every entry seen"
        )
    finally:
        publisher.close()
        listener.close()
        floor.close()
    messages = listener.snapshot()
    kinds = {"readings" if topic.endswith("/readings") else topic.split("/")[3] for topic, _p, _r in messages}
    assert kinds == {"status", "chairs", "readings", "events"}, kinds
    for topic, payload, _retained in messages:
        text = json.dumps(payload, ensure_ascii=False)
        found = [i for i in identifiers if i in text]
        assert not found, (topic, found)
        assert payload["schema"] == 2, topic
    events = {p["seq"]: p for t, p, _r in messages if t.endswith("/events")}
    for entry in entries:
        event = events[entry.position]
        assert event["hash"] == entry.hash and event["type"] == entry.type
        if entry.type == "checked_in":
            assert "patient_mrn" in event["removed"] and "patient_mrn" not in event["data"]
            assert event["data"]["patient_initials"] == entry.payload["patient_initials"]
        else:
            assert event["data"] == entry.payload or event["removed"]
    chairs = [p for t, p, _r in messages if "/chairs/" in t and not t.endswith("/readings")]
    assert any(c["initials"] for c in chairs)
