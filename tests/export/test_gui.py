"""File > Export shift log: the dialog defaults to the current shift and exports off the GUI thread."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from app.export.verify import check_export
from app.floor import Floor
from app.ui.export_dialog import ExportDialog, open_export_dialog

from .conftest import SimulatedShift

# The offscreen platform says so whenever a dialog is shown; it is not a problem of this code.
pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


def test_dialog_exports_the_current_shift_in_the_background(
    qtbot: QtBot, simulated: SimulatedShift, tmp_path: Path
) -> None:
    parent = QWidget()
    qtbot.addWidget(parent)
    floor = Floor(simulated.journal, clock=simulated.journal.clock)
    open_export_dialog(parent, floor)
    dialog = parent.findChild(ExportDialog)
    assert dialog is not None and dialog.isVisible()
    # Default: the shift the floor's clock is in (16:00 UTC is in the configured day or night shift).
    current = dialog.config.current(floor.clock.now())
    assert dialog.selected_range() == current
    dialog.format.setCurrentIndex(dialog.format.findData("pdf"))
    assert dialog.paper.isEnabled()
    dialog.format.setCurrentIndex(dialog.format.findData("csv"))
    assert not dialog.paper.isEnabled()
    out = tmp_path / "from-gui.csv"
    dialog.path.setText(str(out))
    written: list[str] = []
    dialog.exportFinished.connect(written.append)
    with qtbot.waitSignal(dialog.finished, timeout=20000):  # closes itself once the file is written
        dialog.export_button.click()
    assert written == [str(out)]
    assert "matches the journal" in check_export(out, simulated.db_path)


def test_dialog_reports_a_failure_in_words(qtbot: QtBot, simulated: SimulatedShift, tmp_path: Path) -> None:
    floor = Floor(simulated.journal, clock=simulated.journal.clock)
    dialog = ExportDialog(None, floor)
    qtbot.addWidget(dialog)
    dialog.path.setText(str(tmp_path / "missing-folder" / "x.csv"))
    with qtbot.waitSignal(dialog.exportFailed, timeout=20000) as failed:
        dialog.export_button.click()
    assert "does not exist" in failed.args[0]
    qtbot.waitUntil(lambda: dialog.worker is None, timeout=5000)
    assert dialog.export_button.isEnabled()
