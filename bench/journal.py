"""Journal benchmark: durable appends and replay, against a plain sqlite3 baseline in the same run.

Prints: appends per second and p50/p99 latency of `Journal.append` (one event per transaction, WAL +
synchronous=FULL, hash chain), the same for a bare `sqlite3` INSERT loop with the same pragmas, their
ratio, and the time to replay a 12-hour day of 48 chairs generated through the real domain, each session
folded and its timeline derived (app.domain.timeline: what every screen and export reads).
Run: `make bench` or `.venv/bin/python bench/journal.py [--appends N]`.
"""

from __future__ import annotations

import argparse
import hashlib
import sqlite3
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from app.domain.chair import ChairState
from app.domain.clock import ManualClock
from app.domain.events import Event, EventType
from app.domain.timeline import SessionTimeline
from app.export.sample_shift import demo_visits, run_shift
from app.floor import Floor
from app.store.journal import _INSERT_EVENT, Journal


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class PlainAppends:
    """The baseline: a bare `sqlite3` INSERT, one transaction each, with the journal's pragmas."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(str(path), isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute(
            "CREATE TABLE events (session_id TEXT, seq INTEGER, payload TEXT, PRIMARY KEY (session_id, seq))"
        )
        self.count = 0

    def append(self) -> float:
        self.count += 1
        start = time.perf_counter()
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute(
            "INSERT INTO events VALUES (?, ?, ?)",
            ("bench-session", self.count, f'{{"heart_rate_bpm": {self.count}}}'),
        )
        self.conn.execute("COMMIT")
        return time.perf_counter() - start


class JournalRowsAppends:
    """The floor under any journal: the journal's own rows (its table, indexes and head row, the same
    columns and sizes, one transaction each) written through its connection with every value computed
    in advance. What Journal.append adds beyond this is its Python work: JSON, hash chain, head look-up."""

    def __init__(self, path: Path) -> None:
        self.journal = Journal(path, ManualClock())
        self.conn = self.journal.conn
        self.count = 0
        self.prev = "0" * 64

    def append(self) -> float:
        self.count += 1
        digest = hashlib.sha256(str(self.count).encode()).hexdigest()
        row = (
            self.count, "bench-session", self.count, "2026-01-05T08:00:00+00:00", "2026-01-05T08:00:00+00:00",
            "RN", "vitals_recorded", f'{{"values":{{"heart_rate_bpm":{60 + self.count % 40}}}}}', self.prev, digest,
        )  # fmt: skip
        self.prev = digest
        start = time.perf_counter()
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute(_INSERT_EVENT, row)
        self.conn.execute("UPDATE journal_head SET position = ?, hash = ? WHERE id = 1", (self.count, digest))
        self.conn.execute("COMMIT")
        return time.perf_counter() - start


class JournalAppends:
    def __init__(self, path: Path) -> None:
        self.clock = ManualClock()
        self.journal = Journal(path, self.clock)
        self.count = 0

    def append(self) -> float:
        event = Event(
            EventType.VITALS_RECORDED,
            self.clock.now(),
            "RN",
            {"values": {"heart_rate_bpm": 60 + self.count % 40}},
        )
        start = time.perf_counter()
        self.journal.append("bench-session", [event], expected_last_seq=self.count)
        elapsed = time.perf_counter() - start
        self.count += 1
        return elapsed


def wal_pages(path: Path) -> int:
    """Pages in the database's -wal now (each frame: a 24-byte header and one page)."""
    wal = path.with_name(path.name + "-wal")
    return max(0, wal.stat().st_size - 32) // (24 + 4096) if wal.exists() else 0


def pages_per_append(folder: Path, count: int = 200) -> tuple[int, int]:
    """The median number of pages one durable append writes, plain and journal (the -wal's growth; a
    checkpoint now and then resets it, so the median)."""
    plain, ours = PlainAppends(folder / "plain-pages.sqlite"), JournalAppends(folder / "journal-pages.sqlite")
    found: tuple[list[int], list[int]] = ([], [])
    try:
        for _ in range(count):
            for appender, path, pages in (
                (plain, folder / "plain-pages.sqlite", found[0]),
                (ours, folder / "journal-pages.sqlite", found[1]),
            ):
                before = wal_pages(path)
                appender.append()
                pages.append(wal_pages(path) - before)
    finally:
        plain.conn.close()
        ours.journal.close()
    return int(statistics.median(found[0])), int(statistics.median(found[1]))


def bench_appends(folder: Path, count: int) -> tuple[list[float], list[float], list[float]]:
    """Plain appends, the journal's rows written bare, and Journal.append, taken in turn (the order
    rotating), so all three see the same disk at the same moment (on a shared machine the fsync time
    drifts by a factor of ten within a minute: one run after the other measures the drift, not the
    journal)."""
    plain, rows, ours = (
        PlainAppends(folder / "plain.sqlite"),
        JournalRowsAppends(folder / "rows.sqlite"),
        JournalAppends(folder / "journal.sqlite"),
    )
    times: tuple[list[float], list[float], list[float]] = ([], [], [])
    appenders = (plain, rows, ours)
    try:
        for i in range(count):
            for k in range(3):
                which = (i + k) % 3
                times[which].append(appenders[which].append())
    finally:
        plain.conn.close()
        rows.journal.close()
        ours.journal.close()
    return times


def generate_day(path: Path, chairs: int, hours: float) -> int:
    """A realistic day through the real Floor and journal (the same generator the export bench uses)."""
    clock = ManualClock()
    with Journal(path, clock) as journal:
        floor = Floor(journal, clock=clock)
        result = run_shift(floor, clock, demo_visits(chairs, hours), clock.now() + timedelta(hours=hours))
    return len(result.session_ids)


def bench_replay(path: Path, rounds: int = 5) -> tuple[float, int, float]:
    best = float("inf")
    events = 0
    raw_best = float("inf")
    for _ in range(rounds):
        with Journal(path, read_only=True) as journal:
            start = time.perf_counter()
            ids = journal.session_ids()
            states = [ChairState.replay(sid, journal.events(sid)) for sid in ids]
            timelines = [SessionTimeline.of(state) for state in states]  # the read model every reader uses
            best = min(best, time.perf_counter() - start)
            assert len(timelines) == len(states)
            events = sum(len(s.events) for s in states)
            start = time.perf_counter()
            journal.conn.execute("SELECT * FROM events ORDER BY position").fetchall()
            raw_best = min(raw_best, time.perf_counter() - start)
    return best, events, raw_best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--chairs", type=int, default=48)
    parser.add_argument("--hours", type=float, default=12.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        plain, rows, ours = bench_appends(folder, args.appends)
        plain_pages, our_pages = pages_per_append(folder)
        plain_rate = len(plain) / sum(plain)
        our_rate = len(ours) / sum(ours)
        print(
            f"durable appends, {args.appends} events each, one transaction each (WAL, synchronous=FULL), "
            "taken in turn:"
        )
        for name, times in (
            ("plain sqlite3 INSERT", plain),
            ("the journal's rows, bare", rows),
            ("Journal.append", ours),
        ):
            print(
                f"  {name:25s}: {len(times) / sum(times):8.0f} /s   p50 {percentile(times, 0.5) * 1e3:6.3f} ms"
                f"   p99 {percentile(times, 0.99) * 1e3:6.3f} ms"
            )
        print(
            f"  ratio journal/plain  : {our_rate / plain_rate:.2f} of the plain rate "
            f"(median latency x{statistics.median(ours) / statistics.median(plain):.2f})"
        )
        median = statistics.median
        print(
            f"  where an append's time goes (medians): SQLite's durable commit of a bare row {median(plain) * 1e6:.0f} us; "
            f"the journal's larger row and head row +{(median(rows) - median(plain)) * 1e6:.0f} us; "
            f"Journal.append's Python work (JSON, hash chain, head look-up) +{(median(ours) - median(rows)) * 1e6:.0f} us"
        )
        print(f"  pages written per append (median): plain {plain_pages}, journal {our_pages}")

        start = time.perf_counter()
        sessions = generate_day(folder / "day.sqlite", args.chairs, args.hours)
        generated = time.perf_counter() - start
        replay, events, raw = bench_replay(folder / "day.sqlite")
        print(
            f"a {args.hours:g}-hour day of {args.chairs} chairs: {sessions} sessions, {events} events "
            f"(generated through the domain in {generated:.1f} s)"
        )
        print(
            f"  replay of every session and its timeline: {replay * 1e3:.0f} ms (best of 5; budget 500 ms); "
            f"raw SELECT of all rows: {raw * 1e3:.0f} ms (replay x{replay / raw:.1f} of the raw read)"
        )


if __name__ == "__main__":
    main()
