"""Countdowns stay right when the computer's wall clock jumps, and local times stay right across a
daylight-saving change (issue 12, point 8).

The station runs on `StationClock` with injected wall and monotonic sources (no sleeps); a chair goes
through the real Floor and a real journal file, and the countdowns are the ones the screens show.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from app.alarm_policy import load_alarm_policy
from app.domain.alarms import AlarmInputs
from app.domain.chair import ChairState
from app.domain.clock import StationClock
from app.domain.clock_face import ClockFace
from app.domain.commands import ChangeRate
from app.floor import Floor
from app.protocol_library import ProtocolLibrary
from app.station.status_text import countdowns, next_action
from app.store.journal import Journal
from tests.conftest import ChairScript

POLICY = load_alarm_policy()

ZURICH = ZoneInfo("Europe/Zurich")


class Sources:
    """The computer's two clocks, moved by hand: time passing moves both, a wall-clock step only one."""

    def __init__(self, wall: datetime) -> None:
        self.wall_now = wall
        self.mono_now = 5000.0

    def wall(self) -> datetime:
        return self.wall_now

    def monotonic(self) -> float:
        return self.mono_now

    def let_pass(self, minutes: float) -> None:
        self.wall_now += timedelta(minutes=minutes)
        self.mono_now += minutes * 60.0

    def step_wall(self, hours: float) -> None:
        self.wall_now += timedelta(hours=hours)


class StationTime:
    """What ChairScript needs from a clock: now() is the station's, advance() lets real time pass."""

    def __init__(self, sources: Sources) -> None:
        self.sources = sources
        self.station = StationClock(wall=sources.wall, monotonic=sources.monotonic)

    def now(self) -> datetime:
        return self.station.now()

    def advance(self, *, minutes: float = 0.0, seconds: float = 0.0) -> datetime:
        self.sources.let_pass(minutes + seconds / 60.0)
        return self.now()


@pytest.fixture
def station_chair(
    tmp_path: Path, library: ProtocolLibrary, request: pytest.FixtureRequest
) -> Iterator[ChairScript]:
    start: datetime = getattr(request, "param", datetime(2026, 1, 5, 7, 30, tzinfo=UTC))
    clock = StationTime(Sources(start))
    with Journal(tmp_path / "chairside.sqlite", clock.station) as journal:
        yield ChairScript(Floor(journal, library, clock.station), clock)  # type: ignore[arg-type]


def _next_step(state: ChairState, now: datetime) -> timedelta:
    (step,) = [c for c in countdowns(state, now) if c.label.startswith("Next step")]
    return step.remaining(now)


@pytest.mark.parametrize("jump_h", [+1.0, -1.0])
def test_a_wall_clock_jump_mid_infusion_moves_no_countdown(
    station_chair: ChairScript, jump_h: float, caplog: pytest.LogCaptureFixture
) -> None:
    clock: StationTime = station_chair.clock  # type: ignore[assignment]
    started = station_chair.to_infusing().infusion_started_at
    assert started is not None
    clock.advance(minutes=10)
    state = station_chair.state
    before = next_action(state, clock.now(), policy=POLICY).text
    assert _next_step(state, clock.now()) == timedelta(minutes=20)
    assert "Step up to 80 mL/h" in before

    with caplog.at_level(logging.INFO, "chairside.clock"):
        clock.sources.step_wall(jump_h)
        now = clock.now()
        clock.now()  # said once, not on every reading
    assert now == started + timedelta(minutes=10)
    assert _next_step(state, now) == timedelta(minutes=20)
    assert next_action(state, now, policy=POLICY).text == before, "the step-up is due at the same time"
    # A clock read from the wall would have told the nurse something else:
    assert next_action(state, clock.sources.wall(), policy=POLICY).text != before
    [notice] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert f"{3600 * jump_h:+.0f} s" in notice.getMessage()

    clock.advance(minutes=25)  # 35 min in: the 80 mL/h step is due and done
    assert state.planned_rate_ml_h(clock.now()) == 80
    station_chair.run(ChangeRate(80, "pump"))
    events = station_chair.floor.journal.events(station_chair.session_id)
    assert events[-1].at == started + timedelta(minutes=35), "the journal keeps the station's UTC"
    assert events[-1].at.utcoffset() == timedelta(0)
    assert all(a.at <= b.at for a, b in itertools.pairwise(events)), "entries never go back"
    assert _next_step(station_chair.state, clock.now()) == timedelta(minutes=25)

    with caplog.at_level(logging.INFO, "chairside.clock"):
        clock.sources.step_wall(-jump_h)  # corrected again
        clock.now()
    assert any("agrees with the station clock again" in r.getMessage() for r in caplog.records)


def test_the_station_clock_starts_from_the_wall_and_runs_on_the_monotonic_clock() -> None:
    sources = Sources(datetime(2026, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=1))))
    clock = StationClock(wall=sources.wall, monotonic=sources.monotonic)
    assert clock.now() == datetime(2026, 3, 1, 11, 0, tzinfo=UTC)
    assert clock.now().tzinfo is UTC
    sources.let_pass(90)
    sources.step_wall(-3)
    assert clock.now() == datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    assert clock.divergence_s() == -3 * 3600
    with pytest.raises(ValueError, match="timezone-aware"):
        StationClock(wall=lambda: datetime(2026, 1, 1), monotonic=sources.monotonic)


@pytest.fixture
def zurich_computer(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This computer's own zone is Europe/Zurich (for the 'local zone' default)."""
    monkeypatch.setenv("TZ", "Europe/Zurich")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


# Last Sunday of October: 03:00 CEST -> 02:00 CET at 01:00 UTC. Last Sunday of March: 02:00 CET ->
# 03:00 CEST at 01:00 UTC. Check-in 30 min before the start; steps every 30 min (40, 80, ... mL/h).
DST_CASES = [
    pytest.param(datetime(2026, 10, 25, 0, 0, tzinfo=UTC), ("02:30", "02:00", "02:30"), id="october-back"),
    pytest.param(datetime(2026, 3, 29, 0, 10, tzinfo=UTC), ("01:40", "03:10", "03:40"), id="march-forward"),
]


@pytest.mark.parametrize(("station_chair", "shown"), DST_CASES, indirect=["station_chair"])
@pytest.mark.usefixtures("zurich_computer")
def test_a_daylight_saving_change_during_an_infusion(
    station_chair: ChairScript, shown: tuple[str, ...]
) -> None:
    clock: StationTime = station_chair.clock  # type: ignore[assignment]
    started = station_chair.to_infusing().infusion_started_at
    assert started is not None
    start_text, first_step_text, second_step_text = shown
    clock.advance(minutes=10)
    state = station_chair.state
    now = clock.now()
    (step,) = [c for c in countdowns(state, now) if c.label.startswith("Next step")]
    for zone in (ZURICH, None):  # the configured zone, or this computer's
        assert ClockFace.of(zone).hhmm(started) == start_text
        assert ClockFace.of(zone).hhmm(step.target) == first_step_text
        assert step.text(now, zone) == f"{first_step_text} (in 20 min)"
        assert AlarmInputs(now=now, state=state, display_tz=zone).at(step.target) == first_step_text
    assert f"at {first_step_text}" in next_action(state, now, policy=POLICY).text

    clock.advance(minutes=30)  # across the change
    now = clock.now()
    assert _next_step(state, now) == timedelta(minutes=20), "durations count real minutes"
    (step,) = [c for c in countdowns(state, now) if c.label.startswith("Next step")]
    assert ClockFace.of(None).hhmm(step.target) == ClockFace.of(ZURICH).hhmm(step.target) == second_step_text
    assert step.target - started == timedelta(minutes=60)
    # A fixed offset taken at the start (what the alarm texts used) would be an hour off now:
    fixed = started.astimezone(ZURICH).utcoffset()
    assert fixed is not None
    assert ClockFace.of(timezone(fixed)).hhmm(step.target) != second_step_text
