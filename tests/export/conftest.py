"""A shift simulated through the real Floor and journal (ManualClock), shared by the export tests.

The shift is simulated once per test process (it is the slowest part of these tests) into a database that
no test touches; each test gets its own copy of that file, opened as its own journal, so a test that
writes, tampers with or compacts the journal changes only its copy.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from app.domain.clock import ManualClock
from app.export.sample_shift import ShiftResult, Visit, run_shift
from app.export.shifts import ExportRange, LocalTime, ShiftConfig
from app.floor import Floor
from app.protocol_library import ProtocolLibrary
from app.store.journal import Journal

ZONE = "Europe/Zurich"  # the day shift 07:00-19:00 local is 06:00-18:00 UTC in January
SHIFT_DAY = date(2026, 1, 5)

VISITS = (
    Visit(
        "Chair 1", "ÉÖ", "MRN-ü001", "ocrevus-600-subsequent", reaction=(2, 50.0), occlusion_alarm_at_min=35.0
    ),
    Visit("Chair 2", "AB", "MRN-002", "natalizumab-300", reaction=(3, 20.0), nurse="RN Okafor"),
    Visit(
        "Chair 2",
        "CD",
        "MRN-003",
        "ocrevus-600-short",
        arrive_after_min=15.0,
        pause_at_min=30.0,
        nurse="RN Okafor",
    ),
    Visit("Chair 3", "EF", "MRN-004", "ocrevus-300-initial", reaction=(3, 40.0), nurse="RN Dubois"),
    Visit("Chair 4", "GH", "MRN-005", "ublituximab-450-subsequent", nurse="RN Lindqvist"),
    # Arrives mid-afternoon: still infusing when the simulation (and the export range) ends.
    Visit("Chair 4", "JK", "MRN-006", "ocrevus-600-subsequent", arrive_after_min=200.0, nurse="RN Lindqvist"),
)


@dataclass(frozen=True)
class SimulatedShift:
    db_path: Path
    journal: Journal
    config: ShiftConfig
    export_range: ExportRange
    result: ShiftResult

    @property
    def local(self) -> LocalTime:
        return self.config.local


def shift_config() -> ShiftConfig:
    return ShiftConfig(ShiftConfig.load().shifts, LocalTime.named(ZONE))


SHIFT_START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
SHIFT_END = datetime(2026, 1, 5, 16, 0, tzinfo=UTC)


@dataclass(frozen=True)
class _BuiltShift:
    db_path: Path
    result: ShiftResult
    ended_at: datetime  # the simulation's clock when it stopped


@pytest.fixture(scope="session")
def _built_shift(tmp_path_factory: pytest.TempPathFactory, library: ProtocolLibrary) -> _BuiltShift:
    db_path = tmp_path_factory.mktemp("simulated-shift") / "chairside.sqlite"
    clock = ManualClock(SHIFT_START)
    with Journal(db_path, clock) as journal:
        floor = Floor(
            journal, library, clock, display_tz=ZoneInfo(ZONE)
        )  # the station's zone, not this computer's
        result = run_shift(floor, clock, VISITS, until=SHIFT_END)
    return _BuiltShift(db_path, result, clock.now())


@pytest.fixture
def simulated(_built_shift: _BuiltShift, tmp_path: Path) -> Iterator[SimulatedShift]:
    db_path = tmp_path / _built_shift.db_path.name
    for built in _built_shift.db_path.parent.iterdir():  # the file and any companion (-wal, -shm)
        if built.name.startswith(db_path.name):
            shutil.copy2(built, tmp_path / built.name)
    built = _built_shift.result
    result = ShiftResult(list(built.session_ids), list(built.open_session_ids), built.telemetry_samples)
    with Journal(db_path, ManualClock(_built_shift.ended_at)) as journal:
        config = shift_config()
        yield SimulatedShift(db_path, journal, config, config.range_for(SHIFT_DAY, "day"), result)
