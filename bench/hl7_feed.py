"""Benchmark: the live HL7 feed draining its outbox to a local MLLP receiver (127.0.0.1, every message
answered AA), against a same-run baseline: writing the same messages to a file.

The outbox is a 12-hour shift of 24 chairs generated through the real Floor and journal; the feed's
cursor is set to the start, so it sends the whole shift (entries and pump samples) as it would after a
long engine outage. Prints messages per second for both. Run: .venv/bin/python bench/hl7_feed.py
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.domain.clock import ManualClock
from app.export.hl7_settings import Hl7Settings
from app.export.sample_shift import demo_visits, run_shift
from app.export.shifts import LocalTime
from app.floor import Floor
from app.protocol_library import ProtocolLibrary
from app.station.hl7_feed import FeedSettings, FeedStatus, Hl7Feed
from app.store.journal import Journal
from tests.station.mllp_receiver import MllpReceiver

CHAIRS = 24
HOURS = 12.0


def more_than(count: int, status: FeedStatus) -> bool:
    return status.delivered > count


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="chairside-feed-bench-") as folder:
        root = Path(folder)
        os.environ["CHAIRSIDE_CONFIG_DIR"] = str(root / "config")
        db_path = root / "shift.sqlite"
        clock = ManualClock(datetime(2026, 1, 5, 6, 0, tzinfo=UTC))
        with Journal(db_path, clock) as journal:
            floor = Floor(journal, ProtocolLibrary.load(), clock)
            run_shift(floor, clock, demo_visits(CHAIRS, HOURS), clock.now() + timedelta(hours=HOURS))
            entries = sum(1 for _ in journal.entries())
            receiver = MllpReceiver().start()
            settings = FeedSettings("127.0.0.1", receiver.port, retry_initial_s=0.05, poll_s=0.05)
            journal.conn.execute(  # the whole shift is in the outbox
                "INSERT INTO hl7_feed_cursor (receiver, position, samples_since_ms, updated_at) VALUES (?, 0, 0, '')",
                (settings.receiver,),
            )
        print(f"outbox: {CHAIRS} chairs, {HOURS:g} h: {entries} journal entries")

        started = time.perf_counter()
        feed = Hl7Feed(db_path, settings, Hl7Settings(), LocalTime.named("Europe/Zurich"), clock).start()
        last = -1
        while True:  # done when the outbox is empty: nothing new for a few polls
            feed.wait_for(functools.partial(more_than, last), 2.0)
            if feed.status.delivered == last:
                break
            last = feed.status.delivered
        seconds = time.perf_counter() - started - 2.0  # less the last wait, which found nothing more
        feed.close()
        receiver.stop()
        sent = feed.status.delivered
        assert sent == len(receiver.accepted)
        assert len(set(receiver.accepted)) == sent

        started = time.perf_counter()
        with (root / "baseline.hl7").open("w", encoding="utf-8", newline="") as handle:
            for msh10 in receiver.accepted:
                handle.write(receiver.messages[msh10])
            handle.flush()
            os.fsync(handle.fileno())
        baseline_s = time.perf_counter() - started
        print(f"{'path':44} {'messages':>8} {'seconds':>8} {'msg/s':>9}")
        print(
            f"{'feed over MLLP to 127.0.0.1 (each AA, cursor)':44} {sent:8d} {seconds:8.2f} {sent / seconds:9.0f}"
        )
        print(
            f"{'baseline: same messages written to a file':44} {sent:8d} {baseline_s:8.3f} {sent / baseline_s:9.0f}"
        )
        print(f"feed / baseline: {seconds / baseline_s:.0f}x the time")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
