"""What reads poorly on a 1366x768 station stays fixed: long names elide (full text in a tooltip), the
alarm bar goes compact on a short window, the chair view's plot keeps its room, tiles stay readable with
48 chairs, and a tile restyles only when its look changes (the cost bench/ui.py measured)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtWidgets import QApplication, QLabel
from pytestqt.qtbot import QtBot

from app.chairs import FloorController
from app.domain.alarms import AlarmBoard, AlarmCategory, AlarmCondition, Priority
from app.domain.clock import ManualClock
from app.domain.commands import ChangeRate, RecordReaction
from app.floor import Floor
from app.ui.alarm_bar import AlarmBar
from app.ui.elided import ElidedLabel, short_protocol_name
from app.ui.main_window import MainWindow
from app.ui.overview import ChairTableModel, OverviewWidget
from app.ui.theme import apply_theme
from tests.ui.helpers import check_in_command

LONG = "Ocrevus 600 mg subsequent dose (every 6 months)"


@pytest.fixture(autouse=True)
def themed(qapp: QApplication) -> Iterator[None]:
    """The station's type sizes (app.ui.theme), taken off again for the other tests."""
    font, sheet = qapp.font(), qapp.styleSheet()
    apply_theme(qapp)
    yield
    qapp.setStyleSheet(sheet)
    qapp.setFont(font)


@pytest.fixture
def window(qtbot: QtBot, floor: Floor, clock: ManualClock) -> Iterator[MainWindow]:
    controller = FloorController(floor, 6, clock)
    controller.set_nurse("AB")
    w = MainWindow(controller)
    qtbot.addWidget(w)
    w.resize(1366, 768)
    w.show()
    qtbot.waitExposed(w)
    yield w
    controller.close()


def test_short_protocol_names() -> None:
    assert short_protocol_name(LONG) == "Ocrevus 600 mg subsequent dose"
    assert short_protocol_name("Rituximab 1000 mg first infusion") == "Rituximab 1000 mg first infusion"
    assert short_protocol_name("(odd)") == "(odd)"


def test_elided_label_cuts_with_an_ellipsis_and_keeps_the_whole_text(qtbot: QtBot) -> None:
    label = ElidedLabel(LONG)
    qtbot.addWidget(label)
    label.show()
    label.resize(2000, 40)
    assert label.shown_text() == LONG and not label.is_elided() and label.toolTip() == ""
    label.resize(150, 40)
    assert label.is_elided() and label.shown_text().endswith("…")
    assert label.text() == LONG and label.toolTip() == LONG
    two = ElidedLabel(LONG, max_lines=2)
    qtbot.addWidget(two)
    two.show()
    two.resize(170, 80)
    lines = two.shown_text().split("\n")
    assert len(lines) == 2 and lines[0] == "Ocrevus 600 mg" and lines[1].endswith("…")
    assert not any(line.endswith(" ") for line in lines)


def test_the_chair_header_shows_the_short_name_and_the_full_one_as_tooltip(
    window: MainWindow, clock: ManualClock
) -> None:
    chair = window.floor.chair(1)
    chair.check_in(check_in_command(chair.name, clock))
    view = window.open_chair(chair.name)
    assert view.title_label.text() == "Chair 1 · JD · Ocrevus 600 mg subsequent dose"
    assert view.title_label.toolTip() == f"Chair 1 · JD · {LONG}"
    assert not view.title_label.shown_text().endswith("(every"), "never cut mid-word"
    view.title_label.resize(200, 40)
    assert view.title_label.shown_text().endswith("…")


def _conditions(n: int) -> list[AlarmCondition]:
    return [
        AlarmCondition(
            f"rule{i}",
            Priority.MEDIUM,
            AlarmCategory.TECHNICAL,
            False,
            f"Chair {i}: pump needs attention " * 3,
        )
        for i in range(n)
    ]


def test_the_alarm_bar_goes_compact_on_a_short_window(qtbot: QtBot, window: MainWindow) -> None:
    bar = window.alarm_bar
    assert isinstance(bar, AlarmBar)
    assert window.compact and bar.compact, "768 px high: compact"
    board = AlarmBoard(bar.policy)
    board.update(_conditions(3), window.floor.now())
    bar.show_alarms(board.active(), 0)
    assert len(bar.row_texts()) == 2 and bar.more_label.text() == "+1 more alarm"
    row = bar.rows[0]
    assert "MEDIUM · TECHNICAL" in row.tag.text() and "\n" not in row.tag.text(), "one line, still in words"
    assert isinstance(row.message, ElidedLabel) and row.message.eliding
    assert row.message.text().startswith("Chair 0: pump needs attention"), "the whole text is kept"
    compact_height = bar.sizeHint().height()
    assert compact_height <= 110

    window.resize(1920, 1080)
    qtbot.waitUntil(lambda: not bar.compact)
    assert len(bar.row_texts()) == 3 and not row.message.eliding
    assert bar.sizeHint().height() > compact_height


def test_the_plot_gets_the_room_in_the_chair_view_at_1366x768(
    qtbot: QtBot, window: MainWindow, chair_script: Any
) -> None:
    controller = window.floor
    chair_script.to_infusing()
    chair_script.clock.advance(minutes=20)
    chair_script.run(RecordReaction(grade=2, signs=("flushing",), onset_at=chair_script.clock.now()))
    chair_script.run(ChangeRate(20, source="nurse"))
    controller.tick()
    view = window.open_chair("Chair 1")
    view.plot.redraw(force=True)
    qtbot.waitUntil(lambda: view.plot.height() >= 250)
    assert view.plot.marker_labels() == ["⚠ G2"]
    left, right = view.plot.rate_plot.getAxis("left"), view.plot.rate_plot.getAxis("right")
    assert left.labelText == "Rate (mL/h)" and right.labelText == "Volume (mL)", "one axis each side"
    assert view.next_button.height() >= 50 and view.next_button.font().pointSize() >= 20
    assert view.pump_rate_label.font().pointSize() >= 20
    assert view.geometry().bottom() <= window.centralWidget().height(), "nothing pushed off the screen"
    for name, value in view.countdown_labels:
        assert name.isVisible() == bool(name.text()) == value.isVisible(), "no empty rows taking height"


@pytest.mark.parametrize(
    ("chairs", "size", "fits"),
    [(12, (1354, 560), True), (24, (1354, 560), True), (48, (1908, 860), True), (48, (1354, 560), False)],
)
def test_many_chairs_fit_in_readable_compact_tiles(
    qtbot: QtBot, floor: Floor, clock: ManualClock, chairs: int, size: tuple[int, int], fits: bool
) -> None:
    """The floor overview's compact tile (app.ui.tile): 24 chairs fit what a 1366x768 window leaves the
    overview, 48 what a 1920x1080 one leaves it; beyond that it scrolls rather than shrinks."""
    controller = FloorController(floor, chairs, clock)
    overview = OverviewWidget(ChairTableModel(controller))
    qtbot.addWidget(overview)
    overview.resize(*size)
    overview.show()
    qtbot.waitExposed(overview)
    tile = overview.tiles[0]
    assert overview.dense
    assert tile.width() >= 196 and tile.height() >= 112
    assert tile.phase_label.font().pointSize() >= 13 and tile.phase_label.text() == "○ Empty"
    for label in tile.findChildren(QLabel):
        assert label.font().pointSize() >= 11, label.objectName()
    bottom = max(t.geometry().bottom() for t in overview.tiles)
    if fits:
        assert overview.verticalScrollBar().maximum() == 0 and bottom <= overview.viewport().height()
    else:
        assert overview.verticalScrollBar().maximum() > 0, "the floor scrolls rather than shrinks"
    controller.close()


def test_a_tile_restyles_only_when_its_look_changes(qtbot: QtBot, floor: Floor, chair_script: Any) -> None:
    controller = FloorController(floor, 2, chair_script.clock)
    overview = OverviewWidget(ChairTableModel(controller))
    qtbot.addWidget(overview)
    tile = overview.tile("Chair 1")
    start = tile.restyles
    for _ in range(5):
        chair_script.clock.advance(seconds=1)
        controller.tick()
    assert tile.restyles == start, "a tick only updates text"
    chair_script.check_in()
    controller.tick()
    assert tile.restyles == start + 1, "a new phase restyles once"
    sheet = tile.styleSheet()
    for _ in range(5):
        chair_script.clock.advance(seconds=1)
        controller.tick()
    assert tile.restyles == start + 1 and tile.styleSheet() == sheet
    assert "Screening" in tile.phase_label.text()
    controller.close()


def test_a_few_chairs_on_a_big_screen_get_larger_type(qtbot: QtBot, floor: Floor, clock: ManualClock) -> None:
    controller = FloorController(floor, 6, clock)
    overview = OverviewWidget(ChairTableModel(controller))
    qtbot.addWidget(overview)
    overview.resize(1908, 860)  # what a 1920x1080 window leaves it
    overview.show()
    qtbot.waitExposed(overview)
    tile = overview.tiles[0]
    assert tile.roomy and tile.phase_label.font().pointSize() >= 24
    overview.resize(1354, 560)
    qtbot.waitUntil(lambda: not tile.roomy)
    assert tile.phase_label.font().pointSize() == 18
    controller.close()
