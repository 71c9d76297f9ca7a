"""Storage benchmark: database bytes per chair-hour of pump readings, against the old scheme.

A simulated 12-hour shift of 48 chairs, every pump read at 1 Hz all shift long (idle pumps too): back-to-
back sessions on protocol schedules from the library (their stepped rates), a nurse's pause now and then,
an occlusion alarm now and then, observation on KVO, idle gaps. Every reading goes through the station's
`TelemetryRecorder` into a real database file (the journal's schema, WAL, synchronous=FULL). The baseline,
measured in the same run, stores every reading with its JSON as the old code did (schema 1.1 table) for
`--baseline-chairs` chairs. Prints bytes per chair-hour for both, after compaction + VACUUM, the station's
start check time on the file, and the process RSS.
Run: `make bench` or `.venv/bin/python bench/storage.py [--chairs 48 --hours 12 --baseline-chairs 8]`.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.domain.clock import ManualClock
from app.domain.events import Event, EventType
from app.domain.schedule import plan_infusion
from app.protocol_library import ProtocolLibrary
from app.store.health import integrity_problems
from app.store.journal import Journal
from app.store.schema import MIGRATIONS
from app.store.telemetry import PumpSample, compact, count_readings

START = datetime(2026, 1, 5, 7, 0, tzinfo=UTC)
PROTOCOLS = ("ocrevus-600-subsequent", "ocrevus-300-initial", "ocrevus-600-short")


@dataclass(frozen=True)
class Stretch:
    """From `start_s` the pump reports this, until the next stretch."""

    start_s: int
    session: str  # '' between sessions
    rate_ml_h: float
    state: str
    alarms: tuple[str, ...] = ()
    flowing: bool = False


def chair_day(rng: random.Random, library: ProtocolLibrary, hours: float) -> list[Stretch]:
    end = int(hours * 3600)
    t = rng.randrange(0, 40 * 60)
    stretches = [Stretch(0, "", 0.0, "stopped")]
    while t < end:
        session = str(uuid.UUID(int=rng.getrandbits(128)))
        stretches.append(Stretch(t, session, 0.0, "stopped"))  # check-in, screening, premedication
        t += rng.randrange(35, 50) * 60
        plan = plan_infusion(library[rng.choice(PROTOCOLS)])
        pause_at = rng.uniform(20, 120) if rng.random() < 0.3 else None
        alarm_at = rng.uniform(20, 120) if rng.random() < 0.2 else None
        for segment in plan.segments:
            stretches.append(
                Stretch(t + int(segment.start_min * 60), session, segment.rate_ml_h, "infusing", (), True)
            )
            for at_min, stretch in (
                (pause_at, Stretch(0, session, segment.rate_ml_h, "paused")),
                (alarm_at, Stretch(0, session, segment.rate_ml_h, "alarm", ("AL_OCCLU",))),
            ):
                if at_min is not None and segment.start_min <= at_min < segment.end_min:
                    begin = t + int(at_min * 60)
                    length = 300 if stretch.state == "paused" else 60
                    stretches.append(
                        Stretch(begin, session, stretch.rate_ml_h, stretch.state, stretch.alarms)
                    )
                    stretches.append(
                        Stretch(begin + length, session, segment.rate_ml_h, "infusing", (), True)
                    )
        t += int((plan.end_min or 0) * 60) + 420  # pauses and alarms push the end out a little
        stretches.append(
            Stretch(t, session, 1.0, "kvo", ("AL_EOI",), True)
        )  # end of infusion: KVO, observation
        t += 60 * 60 + rng.randrange(5, 15) * 60
        stretches.append(Stretch(t, "", 0.0, "stopped"))  # discharged: the pump stays on, idle
        t += rng.randrange(10, 30) * 60
    stretches.sort(key=lambda s: s.start_s)
    return [s for s in stretches if s.start_s < end]


def readings(chairs: int, hours: float, seed: int = 12) -> Iterator[tuple[int, str, str, PumpSample]]:
    """(second, chair, session, reading) for every chair every second, in time order."""
    rng = random.Random(seed)
    library = ProtocolLibrary.load()
    days = [chair_day(rng, library, hours) for _ in range(chairs)]
    names = [f"Chair {n}" for n in range(1, chairs + 1)]
    index = [0] * chairs
    volume = [0.0] * chairs
    for second in range(int(hours * 3600)):
        for c in range(chairs):
            day = days[c]
            while index[c] + 1 < len(day) and day[index[c] + 1].start_s <= second:
                index[c] += 1
                if day[index[c]].session != day[index[c] - 1].session:
                    volume[c] = 0.0
            s = day[index[c]]
            if s.flowing:
                volume[c] += s.rate_ml_h / 3600.0
            at = START + timedelta(seconds=second)
            yield (
                second,
                names[c],
                s.session,
                PumpSample(at, s.rate_ml_h, round(volume[c], 1), s.state, s.alarms, "connected"),
            )


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def size(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists())


def run_recorder(path: Path, chairs: int, hours: float) -> dict[str, float]:
    clock = ManualClock(START)
    journal = Journal(path, clock)
    recorder = journal.recorder
    sessions: dict[str, datetime] = {}
    rss = {"start": rss_mb()}
    started = time.perf_counter()
    for second, chair, session, sample in readings(chairs, hours):
        recorder.record(chair, session, sample)
        if session:
            sessions[session] = sample.at
        if second == 3600 and chair == "Chair 1":
            rss["warm"] = rss_mb()
    elapsed = time.perf_counter() - started
    rss["end"] = rss_mb()
    stored = count_readings(journal.conn)
    journal.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shift_bytes = size(path)
    # Close every session that ended before the shift's end (as discharges do) and compact them.
    end = START + timedelta(hours=hours)
    closed = [sid for sid, last in sessions.items() if last < end - timedelta(minutes=1)]
    for sid in closed:
        journal.append(sid, [Event(EventType.DISCHARGED, sessions[sid], "bench", {})], expected_last_seq=0)
    compaction = compact(journal.conn, end)
    journal.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    journal.conn.execute("VACUUM")
    journal.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    compacted_bytes = size(path)
    journal.close()
    check_started = time.perf_counter()
    with Journal(
        path, read_only=True
    ) as reopened:  # the station's start check (quick_check + journal tables)
        check_s = time.perf_counter() - check_started
        full_started = time.perf_counter()
        assert integrity_problems(reopened.conn, full=True) == []
        full_s = time.perf_counter() - full_started
    return {
        "readings": chairs * hours * 3600,
        "stored": stored,
        "elapsed_s": elapsed,
        "bytes": shift_bytes,
        "compacted_bytes": compacted_bytes,
        "closed_sessions": len(closed),
        "kept_after_compaction": stored - compaction.readings_deleted,
        "start_check_s": check_s,
        "integrity_check_s": full_s,
        **{f"rss_{k}": v for k, v in rss.items()},
    }


def run_baseline(path: Path, chairs: int, hours: float) -> dict[str, float]:
    """The old scheme: every reading, its full JSON (as `Telemetry.to_json`) beside typed copies."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    for version in sorted(MIGRATIONS):
        if version <= (1, 1):
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
    rows = 0
    conn.execute("BEGIN")
    for _second, chair, session, s in readings(chairs, hours):
        payload = {
            "alarms": [{"code": code, "kind": "occlusion", "text": "Occlusion"} for code in s.alarm_codes],
            "at": s.at.isoformat(),
            "pressure_mmhg": 112.0,
            "rate_ml_h": s.rate_ml_h,
            "serial": "8002-51740",
            "state": s.state,
            "time_remaining_min": 95.0,
            "volume_infused_ml": s.volume_ml,
            "vtbi_ml": 250.0,
        }
        conn.execute(
            "INSERT INTO telemetry (chair, session_id, at, rate_ml_h, volume_infused_ml, state, payload) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                chair,
                session or None,
                s.at.isoformat(),
                s.rate_ml_h,
                s.volume_ml,
                s.state,
                json.dumps(payload, sort_keys=True, separators=(",", ":")),
            ),
        )
        rows += 1
        if rows % 20_000 == 0:  # batched: the bytes are what matter here, not the old per-row fsync
            conn.execute("COMMIT")
            conn.execute("BEGIN")
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return {"rows": rows, "bytes": size(path)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chairs", type=int, default=48)
    parser.add_argument("--hours", type=float, default=12.0)
    parser.add_argument(
        "--baseline-chairs", type=int, default=8, help="chairs for the old scheme (same per chair-hour)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ours = run_recorder(folder / "shift.sqlite", args.chairs, args.hours)
        base = run_baseline(folder / "baseline.sqlite", args.baseline_chairs, args.hours)
    chair_hours = args.chairs * args.hours
    base_per = base["bytes"] / (args.baseline_chairs * args.hours)
    ours_per = ours["bytes"] / chair_hours
    print(
        f"a {args.hours:g}-hour shift of {args.chairs} chairs, every pump read at 1 Hz: {ours['readings']:.0f} readings"
    )
    print(
        f"  old scheme (every reading + JSON), {args.baseline_chairs} chairs: {base['rows']:.0f} rows, "
        f"{base['bytes'] / 1e6:.1f} MB = {base_per / 1e3:.1f} KB per chair-hour "
        f"({base['bytes'] / base['rows']:.0f} B/row; a 48-chair shift: {base_per * 48 * 12 / 1e6:.0f} MB)"
    )
    print(
        f"  TelemetryRecorder (changes + 60 s heartbeat): {ours['stored']:.0f} rows stored "
        f"({ours['stored'] / ours['readings'] * 100:.2f} % of readings), {ours['bytes'] / 1e6:.2f} MB = "
        f"{ours_per / 1e3:.2f} KB per chair-hour (goal < 20 KB; x{base_per / ours_per:.0f} smaller); "
        f"{ours['elapsed_s']:.1f} s for the shift ({ours['readings'] / ours['elapsed_s']:.0f} readings/s)"
    )
    print(
        f"  after `maintenance` (compacted {ours['closed_sessions']:.0f} closed sessions to changes + 1 per 5 min, "
        f"VACUUM): {ours['kept_after_compaction']:.0f} rows, {ours['compacted_bytes'] / 1e6:.2f} MB = "
        f"{ours['compacted_bytes'] / chair_hours / 1e3:.2f} KB per chair-hour; "
        f"a year of such shifts (365): {ours['compacted_bytes'] * 365 / 1e9:.2f} GB"
    )
    print(
        f"  station start check on this file: {ours['start_check_s'] * 1e3:.0f} ms; "
        f"verify's full integrity_check: {ours['integrity_check_s'] * 1e3:.0f} ms"
    )
    print(
        f"  RSS: {ours['rss_start']:.0f} MB at start, {ours['rss_warm']:.0f} MB after the first hour, "
        f"{ours['rss_end']:.0f} MB at the end of the shift "
        f"(+{(ours['rss_end'] - ours['rss_warm']) / ours['rss_warm'] * 100:.1f} % after warm-up)"
    )


if __name__ == "__main__":
    main()
