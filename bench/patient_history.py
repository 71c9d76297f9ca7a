"""Check-in eligibility from the journal: the cost of looking up a patient's history, against a baseline
measured in the same run (replaying every session of the journal and keeping the patient's).

Builds a journal of shifts through the real domain (the shared sample-shift generator), then times
`Floor.patient_history(mrn)` (an indexed query on the check-in entries, then a replay of that patient's
sessions only) and the full-replay baseline, for a patient with history and one without.
Run: `.venv/bin/python bench/patient_history.py [--days N] [--chairs N]`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from app.domain.chair import ChairState
from app.domain.clock import ManualClock
from app.domain.history import PatientHistory
from app.export.sample_shift import demo_visits, run_shift
from app.floor import Floor
from app.store.journal import Journal


def full_replay(floor: Floor, mrn: str) -> PatientHistory:
    """The baseline: replay every session, keep the patient's."""
    sessions = [ChairState.replay(sid, floor.journal.events(sid)) for sid in floor.journal.session_ids()]
    return PatientHistory.from_sessions(mrn, sessions)


def timed(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--chairs", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clock = ManualClock()
        floor = Floor(Journal(Path(tmp) / "bench.sqlite", clock), clock=clock)
        for day in range(args.days):
            # new patients each day (the generator's MRNs repeat; a repeat after a grade 3 reaction would
            # rightly be refused the short protocol)
            visits = [
                replace(v, mrn=f"{v.mrn}-{day}") for v in demo_visits(args.chairs, day=clock.now().date())
            ]
            run_shift(floor, clock, visits, clock.now() + timedelta(hours=13))
            clock.advance(minutes=11 * 60)
        sessions = floor.journal.session_ids()
        mrn = floor.journal.events(sessions[0])[0].data["patient_mrn"]
        assert floor.patient_history(mrn) == full_replay(floor, mrn)
        print(f"journal: {len(sessions)} sessions over {args.days} day(s) of {args.chairs} chairs")
        for label, who in (("patient with history", mrn), ("new patient", "MRN-NEW")):
            baseline = timed(lambda who=who: full_replay(floor, who), args.repeat)
            indexed = timed(lambda who=who: floor.patient_history(who), args.repeat)
            print(
                f"{label:22} full replay (baseline) {baseline:8.1f} ms   "
                f"patient_history {indexed:7.2f} ms   ({baseline / max(indexed, 1e-6):.0f}x)"
            )
        floor.close()


if __name__ == "__main__":
    main()
