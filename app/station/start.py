"""Starting a station from its configuration: the one path the GUI, the demo and a headless station
take. Take the database's lock, open the floor, build the chairs the configuration names and attach
every configured pump (the drivers keep polling and reconnecting on their own)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.domain.clock import Clock
from app.domain.protocol import InfusionProtocol
from app.export.seals import refuse_lost_entries
from app.floor import Floor
from app.station.anchor_check import BrokerAnchorCheck
from app.station.anchors import AnchorTimer, station_key
from app.station.config import StationConfig
from app.station.hl7_feed import Hl7Feed, start_feed
from app.station.lock import StationLock
from app.station.station import Station
from app.store import cipher
from app.store.journal import Journal
from app.store.telemetry import TelemetryRecorder

if TYPE_CHECKING:
    from app.station.publish import Publisher

log = logging.getLogger(__name__)

EXAMPLE_CONFIG = "docs/station.example.toml"


def missing_config_message(path: Path) -> str:
    return (
        f"no station configuration at {path}: create it (copy {EXAMPLE_CONFIG} from the Chairside "
        "sources and name this station's chairs and pumps), or pass --config PATH"
    )


def journal_key(
    db_path: Path, *, create_encrypted: bool, prompt: bool, ask: Callable[[str], str]
) -> str | None:
    """The key to open the journal with. None: open as the file is (an encrypted one finds its key in
    the keyring); "" when asked and not given; else the key typed. `ask` asks the person (a password
    field in the GUI): `create_encrypted` asks twice for a new encrypted journal and keeps the key in
    the keyring, `prompt` asks once for an existing one."""
    if create_encrypted and not db_path.exists():
        key = ask("A key for the new encrypted journal (keep a copy somewhere safe):")
        if key and key != ask("The same key again:"):
            print("chairside: the two keys differ", file=sys.stderr)
            return ""
        if key and not cipher.save_key(db_path, key):
            print("chairside: this computer has no keyring: the key will be asked for at every start")
        return key
    if create_encrypted and not cipher.is_encrypted(db_path):
        print(f"chairside: {db_path} already exists and is not encrypted: it stays as it is", file=sys.stderr)
        return ""
    if prompt:
        return ask(f"The key of the encrypted journal {db_path}:")
    return None


def pumps_of(config: StationConfig) -> dict[str, dict[str, Any]]:
    """{chair name: driver configuration} for every chair with a pump."""
    return {chair.name: chair.pump.as_driver_config() for chair in config.chairs if chair.pump is not None}


@dataclass
class OpenFloor:
    floor: Floor
    lock: StationLock

    def close(self) -> None:
        try:
            self.floor.close()
        finally:
            self.lock.release()


def open_floor(
    db_path: Path,
    clock: Clock,
    protocols: Mapping[str, InfusionProtocol] | None = None,
    key: str | None = None,
) -> OpenFloor:
    """Take the database's lock (StationInUse if another station holds it), then open the journal
    and replay the open sessions."""
    lock = StationLock(db_path).acquire()
    try:
        journal = Journal(db_path, clock, key=key)  # key: an encrypted journal
        try:
            lock.hold_database()  # a journal created just now: its real file is locked too
            refuse_lost_entries(journal)
            floor = Floor(journal, protocols, clock)
        except BaseException:
            journal.close()
            raise
    except BaseException:
        lock.release()
        raise
    return OpenFloor(floor, lock)


def station_for(floor: Floor, config: StationConfig, clock: Clock) -> Station:
    """The chairs the configuration names, in its order (pumps not attached yet), with the configured
    display zone (refusals, alarm texts, screens) and telemetry heartbeat and retention."""
    configure_floor(floor, config)
    station = Station(floor, config.chair_names, clock)
    station.display_tz = floor.display_tz
    return station


def configure_floor(floor: Floor, config: StationConfig) -> None:
    journal = floor.journal
    floor.display_tz = config.zone
    journal.recorder = TelemetryRecorder(
        journal.conn,
        heartbeat_s=config.heartbeat_s,
        retention_days=config.retention_days,
        describe_error=journal.explain_write_error,
    )


def attach_configured_pumps(station: Station, config: StationConfig) -> None:
    pumps = pumps_of(config)
    station.attach_pumps(pumps)
    log.info(
        "station %s: %d chairs, %d pumps attached (%s)",
        config.name,
        len(station.chairs),
        len(pumps),
        ", ".join(f"{name}: {pump['url']}" for name, pump in pumps.items()) or "none",
    )


@dataclass
class StationServices:
    """What runs beside the chairs: the signed journal anchors on a timer and the live HL7 feed."""

    station: Station
    anchors: AnchorTimer | None
    feed: Hl7Feed | None

    def close(self) -> None:
        """At a clean shutdown: the last anchor, then the feed stops (its cursor is already saved)."""
        try:
            if self.anchors is not None:
                self.anchors.close(self.station.now())
        finally:
            if self.feed is not None:
                self.feed.close()


def start_services(
    station: Station, config: StationConfig, clock: Clock, publisher: Publisher | None = None
) -> StationServices:
    """Create the station key if this computer has none, start the anchor timer (its anchors retained
    on the floor's broker when the station publishes) and the configured HL7 feed (GUI and headless
    stations alike: call after `attach_configured_pumps`)."""
    journal = station.floor.journal
    key = station_key()
    anchors = None
    if key is not None:
        anchors = AnchorTimer(journal, key, config.anchor_interval_min, clock.now())
        if publisher is not None:
            anchors.station = publisher.id
            check = BrokerAnchorCheck(station, key.public_key())  # the broker's anchor against the journal
            publisher.compare_own_anchor(check)
            anchors.witnesses.append(check.witness(publisher.publish_anchor))
            anchors.withheld = lambda: check.problem
            station.tick_hooks.append(check.tick)
        station.tick_hooks.append(anchors.tick)
    feed = start_feed(config, journal.path, clock, station_identity())
    if feed is not None:
        station.tick_hooks.append(lambda now: _watch_feed(station, feed, now))
    return StationServices(station, anchors, feed)


def station_identity() -> str:
    """The station's EUI-64, generated in its configuration folder at the first start (MSH-3, MSH-10:
    unique across the centre even when two stations share a name). "" (the name-derived one) when
    the folder cannot be written: logged, the station starts anyway."""
    from app.export.hl7_settings import station_eui64

    try:
        return station_eui64()
    except (OSError, ValueError) as exc:
        log.error("the station identity cannot be read or created: %s", exc)
        return ""


def _watch_feed(station: Station, feed: Hl7Feed, now: datetime) -> None:
    """Every tick: wake the feed (something may have been recorded) and show what it needs seen."""
    feed.wake()
    warning = feed.status.warning(now)
    if warning:
        station.service_warnings["hl7_feed"] = warning
    else:
        station.service_warnings.pop("hl7_feed", None)
