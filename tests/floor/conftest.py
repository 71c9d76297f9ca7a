"""Fixtures for the floor: a real Mosquitto (TLS with a CA made here, users, the shipped ACL), stations
started from their configuration files as `chairside headless` processes (Qt blocked), simulated pumps
on pseudo-terminals, and sessions recorded beforehand through the station core."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.domain.clock import ManualClock
from app.station.start import open_floor
from app.station.station import Station
from drivers.sim.pump import SimulatedPump
from drivers.sim.server import PtyPumpServer
from tests.drivers.support import infusing_pump_on_pty
from tests.floor.support import Broker, StationProcess, mosquitto_missing, write_station_config
from tests.station.test_configured_station import infusing

USERS = {"overview": "overview-secret", "pod-a": "pod-a-secret", "pod-b": "pod-b-secret"}

if mosquitto_missing():
    pytest.fail(mosquitto_missing() or "", pytrace=False)


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[Broker]:
    broker = Broker(tmp_path / "broker", tls=True, users=dict(USERS)).start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def plain_broker(tmp_path: Path) -> Iterator[Broker]:
    broker = Broker(
        tmp_path / "plain-broker", extra=["persistence true", f"persistence_location {tmp_path}/"]
    )
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def pump() -> Iterator[tuple[SimulatedPump, PtyPumpServer]]:
    with infusing_pump_on_pty() as served:
        yield served


def broker_table(broker: Broker, folder: Path, user: str | None = None, **extra: Any) -> dict[str, Any]:
    table: dict[str, Any] = {"url": broker.url, "keepalive_s": 5, **extra}
    if broker.tls:
        table["ca_file"] = str(broker.ca)
    if user is not None:
        folder.mkdir(parents=True, exist_ok=True)
        secret = folder / f"{user}.password"
        secret.write_text(USERS[user] + "\n")
        table["username"] = user
        table["password_file"] = secret.name
    return table


def seed_infusions(db: Path, chairs: list[str], infusing_chairs: list[str]) -> None:
    """Sessions under way on `infusing_chairs`, recorded by the nurse through the station core, dated
    so that the real-time station picks them up mid-infusion."""
    clock = ManualClock(datetime.now(UTC) - timedelta(minutes=40))
    opened = open_floor(db, clock)
    try:
        station = Station(opened.floor, chairs, clock)
        for name in infusing_chairs:
            infusing(station, name, clock)
            clock.advance(minutes=-31)  # each chair from the same starting point
    finally:
        opened.close()


def make_station(
    folder: Path,
    name: str,
    chairs: list[dict[str, Any]],
    broker: dict[str, Any] | None,
    infusing_chairs: list[str] = (),  # type: ignore[assignment]
    floor: dict[str, Any] | None = None,
) -> StationProcess:
    folder.mkdir(parents=True, exist_ok=True)
    config = write_station_config(folder / "station.toml", name, chairs, broker, floor)
    db = folder / "station.sqlite"
    if infusing_chairs:
        seed_infusions(db, [c["name"] for c in chairs], list(infusing_chairs))
    return StationProcess(config, db)
