"""Shift boundaries: configured in TOML, local wall-clock time, nights cross midnight, DST honoured."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from app.export.shifts import LocalTime, ShiftConfig, ShiftError


def test_shipped_configuration_has_day_and_night() -> None:
    config = ShiftConfig.load()
    assert [s.name for s in config.shifts] == ["day", "night"]


def test_night_shift_crosses_midnight_and_dst(tmp_path: Path) -> None:
    config = ShiftConfig(ShiftConfig.load().shifts, LocalTime.named("Europe/Zurich"))
    night = config.parse_shift("2026-03-28/night")  # clocks go forward in the night to 29 March
    assert night.since == datetime(2026, 3, 28, 18, 0, tzinfo=UTC)
    assert night.until == datetime(2026, 3, 29, 5, 0, tzinfo=UTC)  # 07:00 CEST = 05:00 UTC: an 11 h night
    day = config.range_for(date(2026, 1, 5))
    assert (day.since, day.until) == (
        datetime(2026, 1, 5, 6, tzinfo=UTC),
        datetime(2026, 1, 6, 6, tzinfo=UTC),
    )
    assert config.current(datetime(2026, 1, 6, 2, 0, tzinfo=UTC)).label == "2026-01-05 night shift"
    assert config.current(datetime(2026, 1, 6, 9, 0, tzinfo=UTC)).label == "2026-01-06 day shift"
    assert config.local.iso(datetime(2026, 7, 1, 12, tzinfo=UTC)) == "2026-07-01T14:00:00+02:00"


def test_bad_configuration_and_input_say_what_is_wrong(tmp_path: Path) -> None:
    bad = tmp_path / "shifts.toml"
    bad.write_text('[[shifts]]\nname = "day"\nstart = "7am"\nend = "19:00"\n', encoding="utf-8")
    with pytest.raises(ShiftError, match="HH:MM"):
        ShiftConfig.load(bad)
    config = ShiftConfig.load()
    with pytest.raises(ShiftError, match="YYYY-MM-DD"):
        config.parse_shift("05/01/2026")
    with pytest.raises(ShiftError, match="unknown time zone"):
        LocalTime.named("Mars/Olympus")
