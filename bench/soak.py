"""Soak: a 12-hour shift of 48 chairs at accelerated time, through configured simulated pumps, with
every line fault of `drivers/sim/scenarios/every-fault.toml` injected on every pump.

The station is the headless core (`app.station`) started the production way: a configuration file
naming each chair's pump (the demo's simulated pumps on pseudo-terminals), `open_floor` (the lock),
`attach_configured_pumps`. The nurses' side is the demo's scripts. Readings are taken on the
accelerated clock (the drivers stamp them with the station's clock), so the run stores a whole
shift of them. Every simulated hour each pump meets the scenario's line faults again, staggered
across the floor.

Prints: errors beyond the injected ones (goal 0), RSS growth after the first simulated hour (goal
< 5 %), the database size, and the journal verification.
Run: `make soak` or `.venv/bin/python bench/soak.py [--hours 12] [--chairs 48] [--speed 60]`.
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import ctypes.util
import logging
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.demo import Demo, SpeedClock  # noqa: E402
from app.station.config import (  # noqa: E402
    ChairConfig,
    PumpConfig,
    StationConfig,
    load_station_config,
    save_station_config,
)
from app.station.start import attach_configured_pumps, open_floor, station_for  # noqa: E402
from app.station.station import chair_names  # noqa: E402
from app.store.journal import Journal  # noqa: E402
from app.store.telemetry import count_readings  # noqa: E402
from drivers.sim.responder import WireSpy  # noqa: E402
from drivers.sim.scenario import load_scenario  # noqa: E402

# Warnings the injected faults cause by design; anything else at WARNING or above is an error.
EXPECTED = (
    re.compile(r"unusable reply"),  # bad CRC, garbage, implausible readings
    re.compile(r"(bad|corrupt|stale|dropped) frame", re.I),
    re.compile(r"link (lost|connecting|negotiating)", re.I),
    re.compile(r"quiet time|no valid frame|no usable reading|reconnect", re.I),
    re.compile(r"could not open|Errno|closed|disconnect|I/O", re.I),
)


class Counter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.expected: collections.Counter[str] = collections.Counter()
        self.unexpected: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.levelno < logging.ERROR and any(p.search(text) for p in EXPECTED):
            self.expected[record.name] += 1
        else:
            self.unexpected.append(f"{record.levelname} {record.name}: {text[:200]}")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _sqlite_library() -> ctypes.CDLL | None:
    """The SQLite library Python's sqlite3 module runs on (None if it is linked in statically)."""
    import _sqlite3

    name = ctypes.util.find_library("sqlite3")
    if name is None:
        return None
    lib = ctypes.CDLL(name)
    lib.sqlite3_libversion.restype = ctypes.c_char_p
    lib.sqlite3_memory_used.restype = ctypes.c_int64
    return lib if lib.sqlite3_libversion().decode() == _sqlite3.sqlite_version else None


_SQLITE = _sqlite_library()


def sqlite_mb() -> float:
    """The memory SQLite itself holds (page caches, statements): part of RSS tracemalloc never sees."""
    return _SQLITE.sqlite3_memory_used() / 2**20 if _SQLITE is not None else float("nan")


@dataclass
class Soak:
    hours: float
    chairs: int
    speed: float
    rss: list[tuple[float, float]] = field(default_factory=list)  # (shift hour, MB)
    sqlite: list[float] = field(default_factory=list)  # SQLite's own memory (MB) at each RSS sample
    injected: collections.Counter[str] = field(default_factory=collections.Counter)
    readings: int = 0
    readings_stored: int = 0
    db_bytes: int = 0
    entries: int = 0
    intact: bool = False
    wall_s: float = 0.0


def run(
    hours: float = 12.0, chairs: int = 48, speed: float = 60.0, poll_s: float = 0.25
) -> tuple[Soak, Counter]:
    counter = Counter()
    logging.getLogger().addHandler(counter)
    logging.getLogger().setLevel(logging.WARNING)
    soak = Soak(hours, chairs, speed)
    faults = [s for s in load_scenario("every-fault").steps if s.action == "fault"]
    with tempfile.TemporaryDirectory(prefix="chairside-soak-") as tmp:
        db = Path(tmp) / "soak.sqlite"
        clock = SpeedClock(speed)
        opened = open_floor(db, clock)
        demo = Demo(opened.floor, clock, chairs=chairs, speed=speed, chair_names=chair_names(chairs))
        demo.start()
        generated = demo.station_config()
        config_path = save_station_config(
            StationConfig(
                name="Soak",
                chairs=tuple(
                    ChairConfig(c.name, PumpConfig("alaris", c.pump.url, poll_interval_s=poll_s))
                    for c in generated.chairs
                    if c.pump is not None
                ),
            ),
            Path(tmp) / "station.toml",
        )
        config = load_station_config(config_path)  # the station reads its configuration file
        station = station_for(opened.floor, config, clock)

        def nurses(now: datetime) -> None:
            demo.advance(now)

        station.tick_hooks.append(nurses)
        attach_configured_pumps(station, config)
        start = clock.now()
        end = start + timedelta(hours=hours)
        servers = demo.servers
        for server in servers:
            # The simulator's wire spy keeps up to 4 MB and 100,000 frames per pump for the tests that
            # check what the station sent; it lives in this process but is not the station's memory.
            server.responder.spy = WireSpy(max_bytes=0, max_frames=16)
        # Every simulated hour, each pump meets the scenario's line faults (staggered over the floor)
        schedule: list[tuple[float, int, dict[str, object]]] = []
        for hour in range(int(hours)):
            for index in range(len(servers)):
                offset = hour * 3600 + (index * 3600 / len(servers)) % 3000
                for step in faults:
                    schedule.append((offset + step.at_s, index, dict(step.params)))
        schedule.sort(key=lambda item: item[0])
        began = time.monotonic()
        next_tick = began
        next_sample_h = 0.0
        pending = 0
        try:
            while (now := clock.now()) < end:
                soak.readings += station.process(timeout=0.05)
                elapsed_s = (now - start).total_seconds()
                while pending < len(schedule) and schedule[pending][0] <= elapsed_s:
                    _at, index, params = schedule[pending]
                    kind = str(params.pop("kind"))
                    servers[index].inject(kind, **params)
                    soak.injected[kind] += 1
                    pending += 1
                if time.monotonic() >= next_tick:
                    station.tick(now)
                    next_tick += 0.25
                if elapsed_s / 3600 >= next_sample_h:
                    soak.rss.append((elapsed_s / 3600, rss_mb()))
                    soak.sqlite.append(sqlite_mb())
                    next_sample_h += 0.5
        finally:
            soak.wall_s = time.monotonic() - began
            soak.rss.append(((clock.now() - start).total_seconds() / 3600, rss_mb()))
            soak.sqlite.append(sqlite_mb())
            station.close()
            demo.stop()
            opened.close()
        soak.db_bytes = sum(p.stat().st_size for p in db.parent.glob("soak.sqlite*"))
        with Journal(db, read_only=True) as journal:
            verification = journal.verify()
            soak.entries, soak.intact = verification.events_checked, verification.intact
            soak.readings_stored = count_readings(journal.conn)
    logging.getLogger().removeHandler(counter)
    return soak, counter


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=12.0)
    parser.add_argument("--chairs", type=int, default=48)
    parser.add_argument("--speed", type=float, default=60.0)
    parser.add_argument("--poll", type=float, default=0.25, help="poll interval, real seconds (default 0.25)")
    args = parser.parse_args(argv)
    soak, counter = run(args.hours, args.chairs, args.speed, args.poll)
    warm = [mb for h, mb in soak.rss if h >= 1.0] or [soak.rss[-1][1]]
    warm_sqlite = [mb for (h, _), mb in zip(soak.rss, soak.sqlite, strict=True) if h >= 1.0] or soak.sqlite[
        -1:
    ]
    growth = (soak.rss[-1][1] - warm[0]) / warm[0] * 100
    print(
        f"soak: {soak.hours:g} h shift, {soak.chairs} chairs, speed {soak.speed:g} ({soak.wall_s / 60:.1f} min wall)"
    )
    print(f"  readings handled {soak.readings}, stored {soak.readings_stored}")
    print(f"  faults injected: {dict(soak.injected)}")
    print(f"  warnings caused by the injected faults: {sum(counter.expected.values())}")
    print(f"  errors beyond the injected ones: {len(counter.unexpected)} (goal 0)")
    for text in counter.unexpected[:10]:
        print(f"    {text}")
    print(
        f"  RSS: {soak.rss[0][1]:.0f} MB at start, {warm[0]:.0f} MB after warm-up (1 h), "
        f"{soak.rss[-1][1]:.0f} MB at the end: {growth:+.1f} % (goal < 5 %)"
    )
    print(
        f"  of which SQLite's own memory (page caches): {soak.sqlite[0]:.1f} MB at start, "
        f"{warm_sqlite[0]:.1f} MB after warm-up, {soak.sqlite[-1]:.1f} MB at the end"
    )
    print("  RSS by shift hour: " + ", ".join(f"{h:.1f} h {mb:.0f} MB" for h, mb in soak.rss[::4]))
    print(
        f"  database {soak.db_bytes / 1e6:.1f} MB; journal {soak.entries} entries, "
        f"{'verified intact' if soak.intact else 'NOT INTACT'}"
    )
    return 0 if soak.intact else 1


if __name__ == "__main__":
    raise SystemExit(main())
