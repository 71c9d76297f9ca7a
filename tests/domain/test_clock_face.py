"""The one clock face: the display zone's rules at each moment, the day on times not today, typed wall
times read in the display zone (issue 15, point 3)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from app.domain.alarms import AlarmInputs
from app.domain.clock_face import ClockFace, machine_zone
from app.domain.decide import DecisionContext

AUCKLAND = ClockFace.of("Pacific/Auckland")
NOW = datetime(2026, 12, 7, 6, 54, tzinfo=UTC)  # 19:54 NZDT (+13:00) on Monday 7 December


def test_a_time_today_is_the_display_zones_wall_clock() -> None:
    assert AUCKLAND.at(NOW, NOW) == "19:54"
    assert AUCKLAND.hhmm(NOW) == "19:54"
    assert AUCKLAND.hhmm(None) == "--:--"


def test_times_not_today_carry_their_day() -> None:
    assert AUCKLAND.at(NOW + timedelta(hours=5), NOW) == "tomorrow 00:54"
    assert AUCKLAND.at(NOW - timedelta(hours=20), NOW) == "yesterday 23:54"
    assert AUCKLAND.at(NOW + timedelta(days=2), NOW) == "Wed 09.12. 19:54"
    assert AUCKLAND.at(NOW + timedelta(days=30), NOW) == "06.01.2027 19:54"
    assert AUCKLAND.relative(NOW + timedelta(hours=25), NOW) == "in 25 h"
    assert AUCKLAND.relative(NOW + timedelta(minutes=65), NOW) == "in 1 h 05 min"
    assert AUCKLAND.relative(NOW - timedelta(minutes=12), NOW) == "12 min ago"


def test_each_moment_takes_the_rules_in_force_then() -> None:
    # New Zealand leaves daylight saving on 5 April 2026 at 03:00 NZDT (-> 02:00 NZST).
    before = datetime(2026, 4, 4, 13, 30, tzinfo=UTC)
    after = datetime(2026, 4, 4, 15, 30, tzinfo=UTC)
    assert AUCKLAND.stamp(before) == "2026-04-05 02:30 +13:00"
    assert AUCKLAND.stamp(after) == "2026-04-05 03:30 +12:00"
    assert AUCKLAND.iso(after) == "2026-04-05T03:30:00+12:00"


def test_a_typed_wall_time_is_read_in_the_display_zone() -> None:
    assert AUCKLAND.wall(datetime(2026, 12, 7, 19, 15)) == datetime(2026, 12, 7, 6, 15, tzinfo=UTC)
    assert AUCKLAND.typed(NOW) == datetime(2026, 12, 7, 19, 54)
    # the repeated hour: the first of the two; the skipped hour (27 Sep 2026, 02:00 -> 03:00): after the jump
    assert AUCKLAND.wall(datetime(2026, 4, 5, 2, 30)) == datetime(2026, 4, 4, 13, 30, tzinfo=UTC)
    skipped = AUCKLAND.wall(datetime(2026, 9, 27, 2, 30))
    assert AUCKLAND.hhmm(skipped) == "03:30"
    for minutes in range(0, 24 * 60, 7):
        moment = NOW + timedelta(minutes=minutes)
        assert AUCKLAND.wall(AUCKLAND.typed(moment)) == moment


def test_dates_are_the_clinics_dates() -> None:
    late = datetime(2026, 12, 7, 11, 30, tzinfo=UTC)  # already the 8th in Auckland
    assert AUCKLAND.day(late) == date(2026, 12, 8)
    assert AUCKLAND.date_text(late) == "08.12.2026"


def test_no_zone_is_this_computers_zone_by_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    assert ClockFace.of(None).zone == ZoneInfo("America/New_York")
    assert ClockFace.of(None).name == "America/New_York"
    assert machine_zone() == ZoneInfo("America/New_York")
    assert ClockFace.of(timezone(timedelta(hours=5, minutes=30))).name == "UTC+05:30"
    with pytest.raises(ValueError, match="not an IANA time zone"):
        ClockFace.of("Mars/Olympus")


def test_alarm_texts_and_refusals_carry_the_day_of_a_time_not_today() -> None:
    late = datetime(2026, 12, 7, 10, 50, tzinfo=UTC)  # 23:50 NZDT
    zone = ZoneInfo("Pacific/Auckland")
    inputs = AlarmInputs(now=late, state=None, display_tz=zone)
    assert inputs.at(late + timedelta(minutes=20)) == "tomorrow 00:10"
    assert inputs.at(late - timedelta(minutes=20)) == "23:30"
    context = DecisionContext(late, "AB", {}, display_tz=zone)
    assert context.at(late + timedelta(minutes=20)) == "tomorrow 00:10"
