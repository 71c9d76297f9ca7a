"""Station > Pumps…: edit the chair-to-pump table, test a row against a simulated pump, save the file."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from app.chairs import FloorController
from app.floor import Floor
from app.station.config import ChairConfig, PumpConfig, load_station_config
from app.ui.dialogs.pumps import (
    COL_CHAIR,
    COL_QUIET,
    COL_URL,
    PumpsDialog,
)
from app.ui.main_window import MainWindow
from drivers.sim import ManualClock, PtyPumpServer, SimulatedPump, serve_pty

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")

WAIT_MS = 30_000


@pytest.fixture
def pump() -> Iterator[PtyPumpServer]:
    simulated = SimulatedPump("8002-51740", clock=ManualClock())
    simulated.change_bag(250)
    simulated.set_rate(120)
    simulated.start()
    simulated.clock.advance(1800)
    with serve_pty(simulated) as server:
        yield server


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "station.toml"
    path.write_text(
        "# hand-written\n"
        '[station]\nname = "Pod A"\ndisplay_tz = "Europe/Zurich"\n'
        "[telemetry]\nretention_days = 3650\n"
        '[broker]\nurl = "mqtt://localhost"\n'
        '[[chairs]]\nname = "Chair 1"\nprotocol = "alaris"\nurl = "/dev/chairside-no-such-port"\n'
        '[[chairs]]\nname = "Chair 2"\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def dialog(qtbot: QtBot, config_file: Path) -> Iterator[PumpsDialog]:
    dialog = PumpsDialog(config_file)
    qtbot.addWidget(dialog)
    dialog.show()
    yield dialog
    assert dialog.wait_for_tests(30.0)


def test_the_table_shows_the_files_chairs(dialog: PumpsDialog) -> None:
    assert dialog.row_count() == 2
    assert dialog.station_name.text() == "Pod A"
    assert dialog.table.item(0, COL_URL).text() == "/dev/chairside-no-such-port"
    assert dialog.protocol_box(0).currentData() == "alaris"
    assert dialog.protocol_box(1).currentData() is None
    assert dialog.result_label(0).text() == "Not tested"


def test_edit_a_url_test_it_against_a_simulated_pump_and_save(
    qtbot: QtBot, dialog: PumpsDialog, pump: PtyPumpServer, config_file: Path
) -> None:
    dialog.set_text(0, COL_URL, pump.url)
    with qtbot.waitSignal(dialog.test_finished, timeout=WAIT_MS) as answer:
        dialog.test_button(0).click()
        assert not dialog.test_button(0).isEnabled()  # the GUI went on while the probe ran
        assert dialog.result_label(0).text().startswith("⟳ Testing")
    name, answered, text = answer.args
    assert (name, answered) == ("Chair 1", True)
    assert text == "✔ Pump 8002-51740 answered: infusing, 120.0 mL/h, 60.0 mL infused"
    assert dialog.result_label(0).text() == text
    assert dialog.result_label(0).toolTip().startswith("pump 8002-51740 (alaris, Asena Rev 2.1.5): infusing")
    assert dialog.result_label(0).property("outcome") == "ok"
    assert dialog.test_button(0).isEnabled()

    with qtbot.waitSignal(dialog.saved, timeout=WAIT_MS):
        assert dialog.save()
    saved = load_station_config(config_file)
    assert saved.chairs == (ChairConfig("Chair 1", PumpConfig("alaris", pump.url)), ChairConfig("Chair 2"))
    assert (saved.name, saved.display_tz, saved.retention_days) == ("Pod A", "Europe/Zurich", 3650)
    assert saved.broker == {"url": "mqtt://localhost"}  # what the table does not show is kept
    assert "# hand-written" in config_file.with_name("station.toml.bak").read_text(encoding="utf-8")


def test_a_missing_port_fails_in_its_row(qtbot: QtBot, dialog: PumpsDialog) -> None:
    with qtbot.waitSignal(dialog.test_finished, timeout=WAIT_MS) as answer:
        dialog.test_button(0).click()
    name, answered, text = answer.args
    assert (name, answered) == ("Chair 1", False)
    assert text == "✖ No answer: no such port: is the adapter plugged in and the name right?"
    assert dialog.result_label(0).text() == text
    assert "cannot open /dev/chairside-no-such-port" in dialog.result_label(0).toolTip()  # pyserial's words
    assert dialog.result_label(0).property("outcome") == "failed"


def test_a_chair_without_a_pump_says_so_and_has_nothing_to_test(dialog: PumpsDialog) -> None:
    assert dialog.result_label(1).text() == "— No pump at this chair"
    assert not dialog.test_button(1).isEnabled()
    dialog.protocol_box(1).setCurrentIndex(dialog.protocol_box(1).findData("alaris"))
    assert dialog.test_button(1).isEnabled()
    assert dialog.result_label(1).text() == "Not tested"
    dialog.protocol_box(0).setCurrentIndex(0)
    assert not dialog.test_button(0).isEnabled()


@pytest.mark.parametrize(
    ("row", "column", "text", "message"),
    [
        (1, COL_CHAIR, "chair 1", "Nothing was saved. chair 1, Chair: the same name as [[chairs]] 1"),
        (0, COL_URL, "", "Nothing was saved. Chair 1, Port or URL: must be a non-empty string"),
        (
            0,
            COL_QUIET,
            "ten",
            "Nothing was saved. Chair 1, Quiet time (s): must be a number of seconds, not 'ten'",
        ),
        (0, COL_QUIET, "0", "Nothing was saved. Chair 1, Quiet time (s): must be above 0 and at most 600"),
        (0, COL_URL, "socket://localhost", "Chair 1, Port or URL: socket:// needs host:port"),
    ],
)
def test_an_invalid_entry_is_refused_and_nothing_is_written(
    dialog: PumpsDialog, config_file: Path, row: int, column: int, text: str, message: str
) -> None:
    before = config_file.read_bytes()
    dialog.set_text(row, column, text)
    assert not dialog.save()
    assert dialog.refusal.isVisible()
    assert message in dialog.refusal_label.text()
    assert (dialog.table.currentRow(), dialog.table.currentColumn()) == (row, column)
    assert config_file.read_bytes() == before
    assert not config_file.with_name("station.toml.bak").exists()
    assert dialog.isVisible()


def test_a_url_without_a_pump_type_is_refused(dialog: PumpsDialog, config_file: Path) -> None:
    dialog.set_text(1, COL_URL, "/dev/ttyUSB7")
    assert not dialog.save()
    assert (
        "Chair 2, Pump type: missing: the pump at '/dev/ttyUSB7' needs its protocol"
        in dialog.refusal_label.text()
    )


def test_add_and_remove_chairs(qtbot: QtBot, dialog: PumpsDialog, config_file: Path) -> None:
    row = dialog.add_chair()
    assert dialog.table.item(row, COL_CHAIR).text() == "Chair 3"
    dialog.protocol_box(row).setCurrentIndex(dialog.protocol_box(row).findData("alaris"))
    dialog.set_text(row, COL_URL, "rfc2217://serial-a3.pod-a.example:4001")
    dialog.handshake_box(row).setCurrentIndex(dialog.handshake_box(row).findData(False))
    dialog.table.selectRow(1)
    dialog.remove_selected()
    assert dialog.row_count() == 2
    assert dialog.save()
    saved = load_station_config(config_file)
    assert [chair.name for chair in saved.chairs] == ["Chair 1", "Chair 3"]
    assert saved.chairs[1].pump == PumpConfig(
        "alaris", "rfc2217://serial-a3.pod-a.example:4001", handshake=False
    )


def test_every_chair_removed_is_refused(dialog: PumpsDialog, config_file: Path) -> None:
    before = config_file.read_bytes()
    for _ in range(2):
        dialog.table.selectRow(0)
        dialog.remove_selected()
    assert not dialog.save()
    assert "a station has 1 to 48 chairs" in dialog.refusal_label.text()
    assert config_file.read_bytes() == before


def test_station_menu_opens_the_pumps_dialog(qtbot: QtBot, floor: Floor, config_file: Path) -> None:
    controller = FloorController(floor, 2, floor.clock)
    window = MainWindow(controller, config_path=config_file)
    qtbot.addWidget(window)
    window.pumps_action.trigger()
    dialog = window.findChild(PumpsDialog)
    assert dialog is not None and dialog.isVisible()
    assert dialog.row_count() == 2
    dialog.reject()
    window.config_path = None
    window.pumps_action.trigger()
    notice = window.findChild(QMessageBox, "pumpsNotice")
    assert notice is not None and notice.isVisible()
    assert "started without a configuration file" in notice.text()
    notice.close()
    controller.close()


def test_an_unreadable_file_is_explained_not_edited(qtbot: QtBot, floor: Floor, tmp_path: Path) -> None:
    bad = tmp_path / "station.toml"
    bad.write_text('[station]\nname = "Pod A"\n', encoding="utf-8")
    controller = FloorController(floor, 2, floor.clock)
    window = MainWindow(controller, config_path=bad)
    qtbot.addWidget(window)
    window.pumps_action.trigger()
    assert window.findChild(PumpsDialog) is None
    notice = window.findChild(QMessageBox, "pumpsNotice")
    assert notice is not None
    assert f"{bad}: chairs: a station has 1 to 48 chairs" in notice.text()
    notice.close()
    controller.close()


@pytest.fixture
def silent_port() -> Iterator[str]:
    """A cable with nothing on the other end."""
    master, slave = os.openpty()
    yield os.ttyname(slave)
    os.close(master)
    os.close(slave)


def test_test_all_probes_every_pump_row(
    qtbot: QtBot, dialog: PumpsDialog, pump: PtyPumpServer, silent_port: str
) -> None:
    dialog.set_text(0, COL_URL, pump.url)
    row = dialog.add_chair()
    dialog.protocol_box(row).setCurrentIndex(dialog.protocol_box(row).findData("alaris"))
    dialog.set_text(row, COL_URL, silent_port)
    dialog.set_text(row, COL_QUIET, "0.5")
    answers: list[tuple[str, bool]] = []
    dialog.test_finished.connect(lambda name, ok, _text: answers.append((name, ok)))
    dialog.test_all_button.click()
    assert not dialog.test_button(0).isEnabled() and not dialog.test_button(row).isEnabled()
    qtbot.waitUntil(lambda: len(answers) == 2, timeout=WAIT_MS)
    assert sorted(answers) == [("Chair 1", True), ("Chair 3", False)]  # Chair 2 has no pump: not tested
    assert "no pump answers" in dialog.result_label(row).text()
    assert "no valid frame from the pump for more than 0.5 s" in dialog.result_label(row).toolTip()


def test_a_row_removed_or_a_dialog_closed_while_testing_is_harmless(
    qtbot: QtBot, dialog: PumpsDialog, silent_port: str
) -> None:
    dialog.set_text(0, COL_URL, silent_port)
    dialog.set_text(0, COL_QUIET, "0.5")
    answers: list[str] = []
    dialog.test_finished.connect(lambda name, _ok, _text: answers.append(name))
    dialog.test_button(0).click()
    dialog.table.selectRow(0)
    dialog.remove_selected()
    assert dialog.wait_for_tests(30.0)
    QApplication.processEvents()  # the probe has emitted: deliver its queued answer, if it had one
    assert answers == []
    assert dialog.row_count() == 1

    row = dialog.add_chair()
    dialog.protocol_box(row).setCurrentIndex(dialog.protocol_box(row).findData("alaris"))
    dialog.set_text(row, COL_URL, silent_port)
    dialog.set_text(row, COL_QUIET, "0.5")
    dialog.test_button(row).click()
    dialog.reject()
    assert dialog.wait_for_tests(30.0)
    QApplication.processEvents()
    assert answers == []
