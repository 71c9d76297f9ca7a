"""`chairside headless`: a station without a screen, started from its configuration.

The same path as the GUI station: the database's lock, the floor, the configured chairs and pumps, and
publishing to the floor's broker when one is configured. It runs until SIGTERM or SIGINT (a clean
quit: the broker is told the station is offline). For a pod whose screen is elsewhere, and for the
tests and benches of several stations on one floor.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from app.domain.clock import StationClock
from app.station.broker import BrokerError
from app.station.config import StationConfigError, load_station_config
from app.station.lock import StationInUse
from app.station.publish import Publisher, start_publishing
from app.station.start import (
    StationServices,
    attach_configured_pumps,
    missing_config_message,
    open_floor,
    start_services,
    station_for,
)
from app.station.station import Station
from app.store.journal import JournalError
from drivers.command_line import OneLineParser

log = logging.getLogger(__name__)

TICK_S = 1.0
PUBLISH_EVERY_S = 0.2


def add_station_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument(
        "--broker",
        metavar="URL",
        help="publish to this MQTT broker: mqtts://host[:port] (mqtt:// only on this computer unless the "
        "configuration's [broker] allow_plaintext = true); default: the configuration's [broker] url",
    )
    parser.add_argument(
        "--station", metavar="NAME", help="the station's name on the floor (default: [station] name)"
    )


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "headless", help="run the station without a screen (e.g. publishing to the floor)"
    )
    p.add_argument(
        "--config", type=Path, metavar="PATH", help="the station configuration (default: the user's)"
    )
    p.add_argument("--db", type=Path, metavar="PATH", help="the journal database (default: the user's)")
    p.add_argument("--nurse", metavar="INITIALS", help="the nurse identified at the station")
    add_station_arguments(p)
    p.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    from app.paths import default_config_path, default_db_path

    logging.basicConfig(
        level=getattr(logging, os.environ.get("CHAIRSIDE_LOG", "WARNING").upper(), logging.WARNING),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    path = args.config or default_config_path()
    if not path.is_file():
        print(f"chairside: {missing_config_message(path)}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(_number: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return run_station(
        path,
        args.db or default_db_path(),
        stop,
        broker=args.broker,
        station_name=args.station,
        nurse=args.nurse,
    )


def run_station(
    config_path: Path,
    db_path: Path,
    stop: threading.Event,
    *,
    broker: str | None = None,
    station_name: str | None = None,
    nurse: str | None = None,
    on_started: Callable[[Station, Publisher | None], None] | None = None,
) -> int:
    """Run until `stop` is set. 2 with one line on stderr when the station cannot start."""
    try:
        config = load_station_config(config_path)
    except StationConfigError as error:
        print(f"chairside: {error}", file=sys.stderr)
        return 2
    clock = StationClock()  # durations from the monotonic clock (app.domain.clock)
    try:
        opened = open_floor(db_path, clock)
    except (StationInUse, JournalError) as error:
        print(f"chairside: {error}", file=sys.stderr)
        return 2
    station: Station | None = None
    publisher: Publisher | None = None
    services: StationServices | None = None
    try:
        station = station_for(opened.floor, config, clock)
        if nurse:
            station.set_nurse(nurse)
        try:
            publisher = start_publishing(station, config, broker, station_name)
        except BrokerError as error:
            print(f"chairside: {config_path}: {error}", file=sys.stderr)
            return 2
        attach_configured_pumps(station, config)
        services = start_services(station, config, clock, publisher)  # station key, anchors, HL7 feed
        if on_started is not None:
            on_started(station, publisher)
        next_tick = 0.0
        while not stop.is_set():
            station.process(timeout=PUBLISH_EVERY_S)
            now_s = clock.now().timestamp()
            if now_s >= next_tick:
                station.tick()  # the tick hooks publish too
                next_tick = now_s + TICK_S
            elif publisher is not None:
                publisher.pump()
        return 0
    finally:
        if services is not None:
            services.close()
        if publisher is not None:
            publisher.close()
        if station is not None:
            station.close()
        opened.close()


def main(argv: list[str] | None = None) -> int:
    """`python -m app.station.headless --config PATH --db PATH [--broker URL]` (no Qt imported)."""
    parser = OneLineParser(prog="chairside", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    register(subparsers)
    return int(run_command(parser.parse_args(["headless", *(sys.argv[1:] if argv is None else argv)])))


if __name__ == "__main__":
    raise SystemExit(main())
