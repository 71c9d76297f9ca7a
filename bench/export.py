"""Benchmark: export a 12-hour shift of 48 chairs, generated through the real Floor and journal.

Prints the time to generate the shift, then, for every format, the export time and the time of the
real content check (`chairside verify --export`), next to a same-run baseline (a plain csv dump of the
events table with the sqlite3 module) and the goal. HL7's goal is an absolute 3 s on one core.
"""

from __future__ import annotations

import csv
import os
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.domain.clock import ManualClock
from app.export.api import ExportRequest, run_export
from app.export.sample_shift import demo_visits, run_shift
from app.export.seals import load_or_create_key
from app.export.shifts import LocalTime, ShiftConfig
from app.export.verify import check_export
from app.floor import Floor
from app.protocol_library import ProtocolLibrary
from app.store.journal import Journal

CHAIRS = 48
HOURS = 12.0
ZONE = "Europe/Zurich"
GOALS = {"csv": 1.0, "json": 1.0, "pdf": 30.0, "hl7": 3.0}  # seconds for the shift, one core


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="chairside-bench-") as folder:
        root = Path(folder)
        os.environ["CHAIRSIDE_CONFIG_DIR"] = str(root / "config")  # a throw-away station key
        load_or_create_key()  # made as a station makes it at its first start (an export never makes one)
        db_path = root / "shift.sqlite"
        clock = ManualClock(datetime(2026, 1, 5, 6, 0, tzinfo=UTC))  # 07:00 in Zurich: the day shift
        started = time.perf_counter()
        with Journal(db_path, clock) as journal:
            floor = Floor(journal, ProtocolLibrary.load(), clock)
            result = run_shift(floor, clock, demo_visits(CHAIRS, HOURS), clock.now() + timedelta(hours=HOURS))
            entries = sum(1 for _ in journal.entries())
        generate_s = time.perf_counter() - started
        print(
            f"generated: {CHAIRS} chairs, {HOURS:g} h, {len(result.session_ids)} sessions "
            f"({len(result.open_session_ids)} open at the end), {entries} journal entries, "
            f"{result.telemetry_samples} pump samples in {generate_s:.1f} s"
        )

        started = time.perf_counter()
        conn = sqlite3.connect(db_path)
        with (root / "baseline.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            cursor = conn.execute("SELECT * FROM events ORDER BY position")
            writer.writerow([d[0] for d in cursor.description])
            writer.writerows(cursor)
        conn.close()
        baseline_s = time.perf_counter() - started
        print(f"{'baseline (sqlite3 -> csv of events)':38} {baseline_s * 1000:9.1f} ms")

        config = ShiftConfig(ShiftConfig.load().shifts, LocalTime.named(ZONE))
        export_range = config.range_for(date(2026, 1, 5), "day")
        print(f"{'format':8} {'export':>10} {'x base':>8} {'goal':>10} {'verify':>10}  output")
        for fmt in ("csv", "json", "pdf", "hl7"):
            out = root / f"shift.{fmt}"
            started = time.perf_counter()
            exported = run_export(ExportRequest(db_path, export_range, fmt, out, local=config.local))
            seconds = time.perf_counter() - started
            size_kb = out.stat().st_size / 1024
            check_started = time.perf_counter()
            check_export(out, db_path)  # the real check: content against the journal, signatures
            check_s = time.perf_counter() - check_started
            unit = {"pdf": "pages", "csv": "rows", "json": "events", "hl7": "messages"}[fmt]
            goal = GOALS[fmt]
            verdict = "ok" if seconds <= goal else "MISSED"
            print(
                f"{fmt:8} {seconds * 1000:8.0f} ms {seconds / baseline_s:7.1f}x {goal:7.1f} s {verdict:6} "
                f"{check_s * 1000:6.0f} ms  {exported.items} {unit}, {size_kb:,.0f} KiB"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
