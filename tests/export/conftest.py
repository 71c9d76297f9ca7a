"""A shift simulated through the real Floor and journal (ManualClock), shared by the export tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from app.domain.clock import ManualClock
from app.export.sample_shift import ShiftResult, Visit, run_shift
from app.export.shifts import ExportRange, LocalTime, ShiftConfig
from app.floor import Floor
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


@pytest.fixture
def simulated(floor: Floor, clock: ManualClock, db_path: Path, journal: Journal) -> SimulatedShift:
    clock.set(datetime(2026, 1, 5, 8, 0, tzinfo=UTC))
    result = run_shift(floor, clock, VISITS, until=datetime(2026, 1, 5, 16, 0, tzinfo=UTC))
    config = shift_config()
    return SimulatedShift(db_path, journal, config, config.range_for(SHIFT_DAY, "day"), result)
