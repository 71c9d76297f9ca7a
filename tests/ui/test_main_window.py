"""The main window wires its menu to the real parts: File > Export shift log exports this floor's journal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from app.chairs import FloorController
from app.domain.commands import RecordVitals
from app.export.verify import check_export
from app.floor import Floor
from app.ui.alarm_bar import AlarmBar
from app.ui.export_dialog import ExportDialog
from app.ui.main_window import MainWindow

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


def test_file_export_exports_this_floors_journal(
    qtbot: QtBot, floor: Floor, chair_script: Any, tmp_path: Path
) -> None:
    chair_script.to_infusing()
    chair_script.run(RecordVitals({"heart_rate_bpm": 76}))
    controller = FloorController(floor, 2, floor.clock)
    window = MainWindow(controller)
    qtbot.addWidget(window)
    assert isinstance(window.alarm_bar, AlarmBar)
    assert window.export_action.isEnabled()

    window.export_action.trigger()
    dialog = window.findChild(ExportDialog)
    assert dialog is not None
    assert dialog.isVisible()
    out = tmp_path / "shift.csv"
    dialog.format.setCurrentIndex(dialog.format.findData("csv"))
    dialog.path.setText(str(out))
    with qtbot.waitSignal(dialog.finished, timeout=20000):
        dialog.export_button.click()
    assert "matches the journal" in check_export(out, floor.journal.path)
    rows = out.read_text(encoding="utf-8-sig").splitlines()
    assert len(rows) == 1 + len(list(floor.journal.entries()))
    controller.close()


def test_the_status_bar_shows_what_the_stations_services_need_seen(qtbot: QtBot, floor: Floor) -> None:
    controller = FloorController(floor, 2, floor.clock)
    window = MainWindow(controller)
    qtbot.addWidget(window)
    window.show()
    controller.tick()
    assert not window.statusBar().isVisible()  # nothing to say: no bar
    warning = "HL7 feed: 1 message(s) set aside: `chairside feed replay`"
    controller.station.service_warnings["hl7_feed"] = warning
    controller.tick()
    assert window.statusBar().isVisible() and window.service_label.text() == warning
    del controller.station.service_warnings["hl7_feed"]
    controller.tick()
    assert not window.statusBar().isVisible()
    controller.close()
