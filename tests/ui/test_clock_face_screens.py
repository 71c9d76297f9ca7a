"""Screens and dialogs on the station's clock face (issue 15, point 3): with display_tz Pacific/Auckland
on a computer in another zone, the header, the chart axis and a date/time field show Auckland's wall
clock, and what the nurse types is read in Auckland: 05:15 typed at 05:54 is 16:15 UTC the evening
before, not "in the future"."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.domain.clock import ManualClock
from app.domain.commands import RecordScreening, RecordVitals
from app.domain.events import EventType
from app.floor import Floor
from app.ui.dialogs.premedication import PremedicationDialog
from tests.conftest import BASELINE_VITALS
from tests.ui.helpers import ChairWindow, check_in_command

pytestmark = pytest.mark.qt_log_ignore("does not support propagateSizeHints")

AUCKLAND = ZoneInfo("Pacific/Auckland")
HEADER_TIME = datetime(2026, 12, 6, 16, 54, tzinfo=UTC)  # 05:54 on Monday 7 December in Auckland


@pytest.fixture
def auckland(qtbot: QtBot, floor: Floor, clock: ManualClock) -> ChairWindow:
    clock.set(HEADER_TIME)
    floor.display_tz = AUCKLAND  # what app.station.start.configure_floor sets from display_tz
    station = ChairWindow(qtbot, floor, clock)
    chair = station.chair
    chair.check_in(check_in_command(chair.name, clock))
    chair.execute(RecordVitals(dict(BASELINE_VITALS)))
    state = chair.state
    assert state is not None and state.protocol is not None
    chair.execute(RecordScreening({i.id: i.acceptable_answer for i in state.protocol.screening}))
    return station


def test_a_time_typed_in_a_dialog_is_read_in_the_display_zone(qtbot: QtBot, auckland: ChairWindow) -> None:
    station = auckland
    station.controller.tick()
    assert station.window.clock_label.text() == "05:54"
    dialog = PremedicationDialog(station.chair, station.window)
    qtbot.addWidget(dialog)
    dialog.show()
    premed = dialog.rows[0]
    assert premed.at.text() == "07.12.2026 05:54"  # the Auckland wall clock, as the header shows it
    dialog.give(premed.drug)
    premed.at.setFocus()
    premed.at.selectAll()
    qtbot.keyClicks(premed.at, "07.12.2026 05:15")
    assert premed.at.text() == "07.12.2026 05:15"
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible(), dialog.refusal_label.text()
    state = station.chair.state
    assert state is not None
    (given,) = [e for e in state.events if e.type is EventType.PREMEDICATION_GIVEN]
    assert given.at == datetime(2026, 12, 6, 16, 15, tzinfo=UTC)


def test_a_time_shown_again_in_a_field_reads_back_unchanged(qtbot: QtBot, auckland: ChairWindow) -> None:
    dialog = PremedicationDialog(auckland.chair, auckland.window)
    qtbot.addWidget(dialog)
    field = dialog.rows[0].at
    for moment in (
        HEADER_TIME,
        datetime(2026, 9, 26, 14, 30, tzinfo=UTC),
        datetime(2026, 4, 4, 13, 30, tzinfo=UTC),
    ):
        field.show_moment(moment)
        assert field.moment() == moment


def test_the_chart_axis_is_on_the_display_zones_clock(auckland: ChairWindow) -> None:
    axis = auckland.view.plot.rate_plot.getAxis("bottom")
    ticks = [HEADER_TIME.timestamp(), datetime(2026, 4, 4, 15, 30, tzinfo=UTC).timestamp()]
    assert axis.tickStrings(ticks, 1.0, 600.0) == ["05:54", "03:30"]  # NZDT, then NZST after the change
    assert axis.tickStrings(ticks[:1], 1.0, 2 * 86400.0) == ["07.12.2026"]
