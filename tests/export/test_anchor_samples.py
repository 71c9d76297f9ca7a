"""Sealed pump samples verify at 48 chairs (issue 19, item 2).

The cause: an anchor sealed the readings up to the moment it was signed, but at 48 chairs readings are
always on their way (queued behind the others on the station's thread, or held back as the reading
before the next change) when the anchor is made, and were stored inside its window afterwards:
"pump samples recorded before the anchor ... were changed or deleted" on an untouched shift. Now an
anchor seals only up to the settled moment (before every chair's newest reading) and nothing is stored
at or before a sealed moment.

Here a 48-chair, 12-hour demo shift runs through the real Floor, journal and recorder; the readings
reach the recorder through a queue that holds them 90 s (the station's queue under load), the station
anchors every 15 minutes on its clock, and `verify --witness` must find the shift intact."""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from app.cli import main
from app.domain.clock import ManualClock
from app.export.sample_shift import demo_visits, run_shift
from app.export.seals import AnchorLog, anchor_log_path, load_or_create_key
from app.floor import Floor
from app.store.journal import Journal
from app.store.telemetry import PumpSample, TelemetryRecorder
from app.witness.store import WitnessStore

CHAIRS = 48
QUEUE_LAG = timedelta(seconds=90)
ANCHOR_EVERY = timedelta(minutes=15)


class QueuedRecorder(TelemetryRecorder):
    """The real recorder, fed through a queue that delivers each reading QUEUE_LAG after it was taken
    (what the station's thread does under 48 pumps), in the order they were taken."""

    def __init__(self, journal: Journal) -> None:
        super().__init__(journal.conn, describe_error=journal.explain_write_error)
        self.queue: deque[tuple[str, str | None, PumpSample]] = deque()

    def record(self, chair: str, session_id: str | None, sample: PumpSample) -> bool:
        self.queue.append((chair, session_id, sample))
        self.deliver(sample.at - QUEUE_LAG)
        return True

    def deliver(self, up_to: datetime) -> None:
        while self.queue and self.queue[0][2].at <= up_to:
            chair, session_id, sample = self.queue.popleft()
            super().record(chair, session_id, sample)


class AnchoringClock(ManualClock):
    """The station's tick: an anchor every ANCHOR_EVERY of station time, readings still queued."""

    def __init__(self, start: datetime) -> None:
        super().__init__(start)
        self.anchors: AnchorLog | None = None
        self.journal: Journal | None = None
        self.recorder: QueuedRecorder | None = None
        self.last = start

    def set(self, moment: datetime) -> None:
        super().set(moment)
        if self.recorder is not None:  # the station's thread works its queue as time goes on
            self.recorder.deliver(moment - QUEUE_LAG)
        if self.anchors is not None and self.journal is not None and moment - self.last >= ANCHOR_EVERY:
            self.last = moment
            self.anchors.append(self.journal, load_or_create_key(), moment)


def test_a_48_chair_12_hour_shift_with_anchors_verifies(
    db_path: Path, library: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    start = datetime.fromisoformat("2026-01-05T06:00:00+00:00")
    clock = AnchoringClock(start)
    journal = Journal(db_path, clock)
    recorder = QueuedRecorder(journal)
    journal.recorder = recorder
    floor = Floor(journal, library, clock)  # type: ignore[arg-type]
    clock.journal, clock.anchors, clock.recorder = journal, AnchorLog(anchor_log_path(db_path)), recorder
    result = run_shift(floor, clock, demo_visits(CHAIRS), until=start + timedelta(hours=12))
    recorder.deliver(clock.now())
    clock.anchors.append(journal, load_or_create_key(), clock.now())  # the clean shutdown's anchor
    floor.close()
    records = clock.anchors.records()
    assert len(records) >= 12 * 4 and result.telemetry_samples > CHAIRS * 100
    assert recorder.late == 0  # no reading came after its moment was sealed
    witness = tmp_path / "witness.sqlite"
    with WitnessStore(witness) as store:
        for record in records:
            store.add("station", record)
    capsys.readouterr()
    code = main(["verify", "--db", str(db_path), "--witness", str(witness)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "journal intact" in out and f"{len(records)} anchors" in out
