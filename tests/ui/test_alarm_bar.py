"""The alarm bar: text and symbol for every priority, flashing at the IEC rates (driven by hand),
acknowledge and audio pause with a visible countdown, and the floor-wide mode on the real controllers."""

from __future__ import annotations

from typing import Any

import pytest

from app.alarm_policy import load_alarm_policy
from app.chairs import FloorController
from app.domain.alarms import Alarm, AlarmBoard, AlarmCategory, AlarmCondition, AlarmPolicy, Priority
from app.domain.clock import ManualClock
from app.domain.commands import ChangeRate
from app.floor import Floor
from app.ui.alarm_bar import AlarmBar, format_countdown


@pytest.fixture(scope="module")
def policy() -> AlarmPolicy:
    return load_alarm_policy()


def alarms(
    policy: AlarmPolicy, clock: ManualClock, *specs: tuple[str, Priority, AlarmCategory]
) -> AlarmBoard:
    board = AlarmBoard(policy)
    conditions = [AlarmCondition(rule, p, c, False, f"Chair 4: {rule} happened") for rule, p, c in specs]
    board.update(conditions, clock.now())
    return board


HIGH_TECH = ("link_lost_infusing", Priority.HIGH, AlarmCategory.TECHNICAL)
MEDIUM_CLIN = ("rate_above_plan", Priority.MEDIUM, AlarmCategory.CLINICAL)
LOW_CLIN = ("observation_complete", Priority.LOW, AlarmCategory.CLINICAL)


@pytest.fixture
def bar(qtbot: Any, policy: AlarmPolicy) -> AlarmBar:
    widget = AlarmBar(policy=policy)
    qtbot.addWidget(widget)
    return widget


def test_every_priority_shows_symbol_word_category_and_message(
    bar: AlarmBar, policy: AlarmPolicy, clock: ManualClock
) -> None:
    board = alarms(policy, clock, LOW_CLIN, HIGH_TECH, MEDIUM_CLIN)
    bar.show_alarms(board.active(), 0)
    assert bar.row_texts() == [
        "!!! HIGH · TECHNICAL Chair 4: link_lost_infusing happened",
        "!! MEDIUM · CLINICAL Chair 4: rate_above_plan happened",
        "! LOW · CLINICAL Chair 4: observation_complete happened",
    ]
    assert not bar.calm_label.isVisibleTo(bar)
    assert bar.rows[0].styleSheet().count("dashed") == 1, "technical alarms have a dashed frame"
    assert "solid" in bar.rows[1].styleSheet()
    assert bar.rows[0].message.font().pointSize() >= 16 or "17pt" in bar.rows[0].styleSheet()


def test_flashing_rates_follow_the_policy(bar: AlarmBar, policy: AlarmPolicy, clock: ManualClock) -> None:
    board = alarms(policy, clock, HIGH_TECH, MEDIUM_CLIN, LOW_CLIN)
    bar.show_alarms(board.active(), 0)
    assert bar.flash_period_ms(Priority.HIGH) == 500  # 2 Hz
    assert bar.flash_period_ms(Priority.MEDIUM) == 2000  # 0.5 Hz
    assert bar.flash_period_ms(Priority.LOW) is None  # steady
    assert bar.flash_timer.isActive()
    seen: list[tuple[bool, bool, bool]] = []
    for _ in range(8):  # 0 .. 1750 ms in 250 ms steps
        seen.append((bar.row_lit(0), bar.row_lit(1), bar.row_lit(2)))
        bar.advance_flash(250)
    assert [s[0] for s in seen] == [True, False] * 4, "high: on 250 ms, off 250 ms"
    assert [s[1] for s in seen] == [True] * 4 + [False] * 4, "medium: on 1 s, off 1 s"
    assert [s[2] for s in seen] == [True] * 8, "low: steady"
    assert bar.rows[0].message.text() == "Chair 4: link_lost_infusing happened", "the text never blinks"


def test_the_flash_timer_runs_only_while_something_flashes(
    qtbot: Any, bar: AlarmBar, policy: AlarmPolicy, clock: ManualClock
) -> None:
    board = alarms(policy, clock, HIGH_TECH)
    bar.show_alarms(board.active(), 0)
    qtbot.waitUntil(lambda: not bar.row_lit(0), timeout=2000)  # the real timer turns it off...
    qtbot.waitUntil(lambda: bar.row_lit(0), timeout=2000)  # ...and on again
    board.acknowledge(board.active()[0].id, "AB", clock.now())
    bar.show_alarms(board.active(), 0)
    assert not bar.flash_timer.isActive(), "acknowledged: steady"
    assert bar.row_lit(0)
    assert "(acknowledged by AB)" in bar.row_texts()[0]
    bar.show_alarms([], 0)
    assert not bar.flash_timer.isActive()
    assert bar.calm_label.isVisibleTo(bar)
    assert bar.row_texts() == []


def test_acknowledge_and_pause_audio_with_a_countdown(
    qtbot: Any, bar: AlarmBar, policy: AlarmPolicy, clock: ManualClock
) -> None:
    board = alarms(policy, clock, MEDIUM_CLIN, HIGH_TECH)
    bar.show_alarms(board.active(), 0)
    assert bar.pause_button.text() == "Pause audio 2:00"
    with qtbot.waitSignal(bar.acknowledge_requested) as ack:
        bar.acknowledge_button.click()
    assert ack.args == ["link_lost_infusing#1"], "the most urgent unacknowledged alarm"
    with qtbot.waitSignal(bar.pause_audio_requested):
        bar.pause_button.click()
    board.pause_audio(clock.now())
    clock.advance(seconds=37)
    bar.show_alarms(board.active(), board.audio_paused_remaining_s(clock.now()))
    assert bar.pause_button.text() == "Audio paused 1:23"
    for alarm in list(board.active()):
        board.acknowledge(alarm.id, "AB", clock.now())
    bar.show_alarms(board.active(), 0)
    assert not bar.acknowledge_button.isEnabled()


def test_more_alarms_than_rows_are_counted(bar: AlarmBar, policy: AlarmPolicy, clock: ManualClock) -> None:
    specs = [(f"rule{i}", Priority.LOW, AlarmCategory.CLINICAL) for i in range(6)]
    bar.show_alarms(alarms(policy, clock, *specs).active(), 0)
    assert len(bar.row_texts()) == 4
    assert bar.more_label.text() == "+2 more alarms"


def test_countdown_format() -> None:
    assert [format_countdown(s) for s in (120, 119.2, 83, 0.4, 0, -3)] == [
        "2:00",
        "2:00",
        "1:23",
        "0:01",
        "0:00",
        "0:00",
    ]


def test_floor_mode_shows_every_chair_and_acknowledges_as_the_nurse(
    qtbot: Any, chair_script: Any, floor: Floor, clock: ManualClock
) -> None:
    controller = FloorController(floor, chairs=["Chair 1", "Chair 2"], clock=clock)
    controller.set_nurse("CD")
    bar = AlarmBar(controller)
    qtbot.addWidget(bar)
    assert bar.row_texts() == []
    chair_script.to_infusing()
    chair_script.clock.advance(minutes=5)
    chair_script.run(ChangeRate(120, source="nurse"))
    controller.tick()
    assert bar.row_texts() == ["!! MEDIUM · CLINICAL Chair 1: pump 120 mL/h, plan 40 mL/h"]
    with qtbot.waitSignal(bar.chair_activated) as activated:
        bar.rows[0].clicked.emit()
    assert activated.args == ["Chair 1"]
    bar.acknowledge_button.click()
    active: list[Alarm] = controller.chair("Chair 1").active_alarms
    assert active[0].acknowledged_by == "CD"
    assert "(acknowledged by CD)" in bar.row_texts()[0]
    bar.pause_button.click()
    clock.advance(seconds=10)
    controller.tick()
    assert bar.pause_button.text() == "Audio paused 1:50"
    clock.advance(minutes=3)
    controller.tick()
    assert "ESCALATED" not in bar.row_texts()[0], "acknowledged alarms do not escalate"
    controller.close()
