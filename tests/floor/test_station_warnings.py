"""What a station's services need someone to see (the HL7 feed's set-aside messages) reaches the
floor in the station's status message, as soon as it changes and not only at the next heartbeat."""

from __future__ import annotations

from pathlib import Path

from app.domain.clock import ManualClock
from app.station.broker import parse_broker
from app.station.publish import Publisher
from app.station.start import open_floor
from app.station.station import Station
from tests.floor.conftest import broker_table
from tests.floor.support import Broker, Listener


def test_the_station_status_carries_the_services_warnings(tmp_path: Path, plain_broker: Broker) -> None:
    clock = ManualClock()
    opened = open_floor(tmp_path / "station.sqlite", clock)
    listener = Listener(plain_broker)
    station = Station(opened.floor, ["Chair 1"], clock)
    settings = parse_broker({**broker_table(plain_broker, tmp_path), "keepalive_s": 10})
    publisher = Publisher(station, settings, "Pod W")
    publisher.start()
    topic = "chairside/v1/pod-w/status"
    try:
        listener.wait_for(lambda: bool(listener.on(topic)), say="online")
        assert listener.on(topic)[-1]["warnings"] == []
        warning = "HL7 feed: 2 message(s) set aside: `chairside feed replay`"
        station.service_warnings["hl7_feed"] = warning
        publisher.pump()  # the station's tick; the heartbeat (every 5 s) is not due yet
        listener.wait_for(lambda: listener.on(topic)[-1]["warnings"] == [warning], say="the warning")
        station.service_warnings.clear()
        publisher.pump()
        listener.wait_for(lambda: listener.on(topic)[-1]["warnings"] == [], say="all well again")
    finally:
        publisher.close()
        publisher._client._reset_sockets()  # paho keeps its wake-up socket pair until collected
        listener.close()
        station.close()
        opened.close()
