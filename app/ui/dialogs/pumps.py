"""Station > Pumps…: which pump sits at which chair, tested row by row, saved to the station's file.

The table edits the chairs of the station configuration (`app.station.config`): chair name, pump
protocol, port or URL and the optional link settings. Test probes one row's pump on a worker thread
(`app.station.check.check_pump`, the same probe as `chairside config check`) and shows the pump's
identity and one reading, or why it failed, in that row. Save checks the whole table with the
loader's own rules; a mistake names the chair and the setting and nothing is written.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.station.check import (
    ProbeResult,
    check_pump_or_reason,
    describe,
    driver_defaults_text,
    failure,
    probe_wait_s,
    pump_protocols,
)
from app.station.config import (
    MAX_CHAIRS,
    ChairConfig,
    PumpConfig,
    StationConfig,
    StationConfigError,
    load_station_config,
    parse_station_config,
    save_station_config,
    station_config_data,
)

log = logging.getLogger(__name__)

COL_CHAIR, COL_PROTOCOL, COL_URL, COL_POLL, COL_QUIET, COL_REPLY, COL_RECONNECT, COL_HANDSHAKE = range(8)
COL_TEST, COL_RESULT = 8, 9
NUMBER_COLUMNS = {
    COL_POLL: "poll_interval_s",
    COL_QUIET: "quiet_time_s",
    COL_REPLY: "reply_timeout_s",
    COL_RECONNECT: "reconnect_max_s",
}
KEY_COLUMN = {
    "name": COL_CHAIR,
    "protocol": COL_PROTOCOL,
    "url": COL_URL,
    "handshake": COL_HANDSHAKE,
    **{key: column for column, key in NUMBER_COLUMNS.items()},
}
HEADERS = [
    "Chair",
    "Pump type",
    "Port or URL",
    "Poll\nevery (s)",
    "Quiet\ntime (s)",
    "Reply\nwait (s)",
    "Retry\nmax (s)",
    "Hand-\nshake",
    "",
    "Test result",
]
NO_PUMP = "No pump"
NO_PUMP_AT_CHAIR = "— No pump at this chair"
ROW_ID = Qt.ItemDataRole.UserRole
ROW_HEIGHT_PX = 72
"""Three lines of a test result, so a narrow (1366 px) screen still shows all of it."""

_STYLE = """
QLabel#testResult { padding: 2px 6px; }
QLabel#testResult[outcome="ok"] { color: #0d4d1f; background: #e3f1e6; font-weight: bold; }
QLabel#testResult[outcome="failed"] { color: #8c0019; background: #fdecea; font-weight: bold; }
QLabel#testResult[outcome="busy"] { color: #0b3a66; background: #eef3fa; }
QLabel#testResult[outcome="none"] { color: #3c4148; }
QFrame#refusal { background: #fdecea; border: 2px solid #b00020; border-radius: 8px; }
QLabel#refusalText { color: #6e0f0f; font-weight: bold; }
"""


class _ProbeSignals(QObject):
    done = Signal(int, object)  # row id, ProbeResult or the reason no probe could run (str)


def _probe(row_id: int, pump: PumpConfig, signals: _ProbeSignals) -> None:
    """Runs on a worker thread; the result crosses back to the GUI thread as a queued signal."""
    outcome: ProbeResult | str
    try:
        outcome = check_pump_or_reason(pump)
    except Exception as error:  # a probe must always answer its row
        log.exception("probing %s failed", pump.url)
        outcome = f"the test itself failed: {error!r}"
    signals.done.emit(row_id, outcome)


class PumpsDialog(QDialog):
    """Edits the chair-to-pump table of the configuration at ``path`` and writes it back there."""

    test_finished = Signal(str, bool, str)
    """chair name, whether the pump answered, the line shown in its row."""
    saved = Signal(object)
    """The StationConfig just written."""

    def __init__(
        self, path: Path, config: StationConfig | None = None, parent: QWidget | None = None
    ) -> None:
        path = Path(path)
        if config is None and path.exists():
            config = load_station_config(path)  # before any Qt object exists: a bad file leaves none behind
        super().__init__(parent)
        self.path = path
        self.config = config
        self._row_ids = itertools.count(1)
        self._probes: list[threading.Thread] = []
        # No parent: a probe still running when the dialog closes emits into an object that still
        # exists, and Qt has already dropped the connection to the closed dialog.
        self._signals = _ProbeSignals()
        self._signals.done.connect(self._show_probe)
        self.setWindowTitle("Station pumps")
        self.setObjectName("pumpsDialog")
        self.setStyleSheet(_STYLE)
        available = self.screen().availableGeometry()  # a 1366x768 station gets a dialog that fits
        self.resize(min(1500, available.width() - 40), min(640, available.height() - 60))

        outer = QVBoxLayout(self)
        heading = QLabel("Pumps at each chair")
        heading.setObjectName("dialogHeading")
        outer.addWidget(heading)
        where = QHBoxLayout()
        where.addWidget(QLabel("Station name"))
        self.station_name = QLineEdit(config.name if config else "")
        self.station_name.setMaximumWidth(320)
        where.addWidget(self.station_name)
        file_label = QLabel(f"Saved in {self.path}")
        file_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        where.addWidget(file_label, 1)
        outer.addLayout(where)

        self.table = QTableWidget(0, len(HEADERS))
        self.table.setHorizontalHeaderLabels(HEADERS)
        for key, column in KEY_COLUMN.items():
            title = self.table.horizontalHeaderItem(column)
            if title is not None:
                title.setToolTip(f"{key} in the station's configuration file")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setWordWrap(True)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(COL_RESULT, QHeaderView.ResizeMode.Stretch)
        for column in (*NUMBER_COLUMNS, COL_HANDSHAKE, COL_TEST):  # as wide as their headings, no wider
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        for column, width in {COL_CHAIR: 120, COL_PROTOCOL: 110, COL_URL: 230}.items():
            self.table.setColumnWidth(column, width)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setMinimumHeight(52)
        outer.addWidget(self.table, 1)
        defaults = QLabel(driver_defaults_text())
        defaults.setWordWrap(True)
        outer.addWidget(defaults)

        rows = QHBoxLayout()
        self.add_button = QPushButton("Add chair")
        self.add_button.clicked.connect(self.add_chair)
        self.remove_button = QPushButton("Remove selected chair")
        self.remove_button.clicked.connect(self.remove_selected)
        self.test_all_button = QPushButton("Test all pumps")
        self.test_all_button.clicked.connect(self.test_all)
        rows.addWidget(self.add_button)
        rows.addWidget(self.remove_button)
        rows.addWidget(self.test_all_button)
        rows.addStretch(1)
        outer.addLayout(rows)

        self.refusal = QFrame()
        self.refusal.setObjectName("refusal")
        refusal_layout = QVBoxLayout(self.refusal)
        self.refusal_label = QLabel()
        self.refusal_label.setObjectName("refusalText")
        self.refusal_label.setWordWrap(True)
        self.refusal_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        refusal_layout.addWidget(self.refusal_label)
        self.refusal.hide()
        outer.addWidget(self.refusal)

        note = QLabel("Saved changes take effect when the station is next started.")
        outer.addWidget(note)
        buttons = QDialogButtonBox()
        self.save_button = buttons.addButton("Save", QDialogButtonBox.ButtonRole.AcceptRole)
        self.save_button.setObjectName("primaryButton")
        self.cancel_button = buttons.addButton("Cancel", QDialogButtonBox.ButtonRole.RejectRole)
        self.save_button.clicked.connect(self.save)
        self.cancel_button.clicked.connect(self.reject)
        outer.addWidget(buttons)

        for chair in config.chairs if config else ():
            self._append_row(chair)

    # -- rows --------------------------------------------------------------------------------------

    def row_count(self) -> int:
        return self.table.rowCount()

    def _append_row(self, chair: ChairConfig) -> int:
        row = self.table.rowCount()
        self.table.insertRow(row)
        pump = chair.pump
        name = QTableWidgetItem(chair.name)
        name.setData(ROW_ID, next(self._row_ids))
        self.table.setItem(row, COL_CHAIR, name)
        protocol = QComboBox()
        protocol.addItem(NO_PUMP, None)
        for known in pump_protocols():
            protocol.addItem(known.capitalize(), known)
        protocol.setCurrentIndex(max(0, protocol.findData(pump.protocol if pump else None)))
        protocol.currentIndexChanged.connect(lambda _index, item=name: self._pump_type_changed(item))
        self.table.setCellWidget(row, COL_PROTOCOL, protocol)
        self.table.setItem(row, COL_URL, QTableWidgetItem(pump.url if pump else ""))
        for column, key in NUMBER_COLUMNS.items():
            value = getattr(pump, key) if pump else None
            self.table.setItem(row, column, QTableWidgetItem("" if value is None else f"{value:g}"))
        handshake = QComboBox()
        handshake.addItem("Default", None)
        handshake.addItem("On", True)
        handshake.addItem("Off", False)
        handshake.setCurrentIndex(max(0, handshake.findData(pump.handshake if pump else None)))
        self.table.setCellWidget(row, COL_HANDSHAKE, handshake)
        test = QPushButton("Test")
        test.clicked.connect(lambda _checked=False, item=name: self.test_row(self.table.row(item)))
        self.table.setCellWidget(row, COL_TEST, test)
        result = QLabel()
        result.setObjectName("testResult")
        result.setWordWrap(True)
        result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table.setCellWidget(row, COL_RESULT, result)
        self.table.setRowHeight(row, ROW_HEIGHT_PX)
        self._pump_type_changed(name)
        return row

    def _pump_type_changed(self, item: QTableWidgetItem) -> None:
        row = self.table.row(item)
        has_pump = self.protocol_box(row).currentData() is not None
        self.test_button(row).setEnabled(has_pump)
        self.handshake_box(row).setEnabled(has_pump)
        self._show_result(row, "none", "Not tested" if has_pump else NO_PUMP_AT_CHAIR)

    def add_chair(self) -> int:
        if self.table.rowCount() >= MAX_CHAIRS:
            self._refuse(f"A station has at most {MAX_CHAIRS} chairs.")
            return -1
        taken = {self._text(row, COL_CHAIR).casefold() for row in range(self.table.rowCount())}
        number = next(n for n in itertools.count(self.table.rowCount() + 1) if f"chair {n}" not in taken)
        row = self._append_row(ChairConfig(f"Chair {number}"))
        self.table.selectRow(row)
        item = self.table.item(row, COL_CHAIR)
        if item is not None:
            self.table.editItem(item)
        return row

    def remove_selected(self) -> None:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()}, reverse=True)
        for row in rows:
            self.table.removeRow(row)

    def protocol_box(self, row: int) -> QComboBox:
        widget = self.table.cellWidget(row, COL_PROTOCOL)
        assert isinstance(widget, QComboBox)
        return widget

    def handshake_box(self, row: int) -> QComboBox:
        widget = self.table.cellWidget(row, COL_HANDSHAKE)
        assert isinstance(widget, QComboBox)
        return widget

    def test_button(self, row: int) -> QPushButton:
        widget = self.table.cellWidget(row, COL_TEST)
        assert isinstance(widget, QPushButton)
        return widget

    def result_label(self, row: int) -> QLabel:
        widget = self.table.cellWidget(row, COL_RESULT)
        assert isinstance(widget, QLabel)
        return widget

    def set_text(self, row: int, column: int, text: str) -> None:
        item = self.table.item(row, column)
        assert item is not None
        item.setText(text)

    def _text(self, row: int, column: int) -> str:
        item = self.table.item(row, column)
        return item.text().strip() if item is not None else ""

    def row_table(self, row: int) -> dict[str, Any]:
        """The row as a [[chairs]] table, exactly as the file would hold it."""
        table: dict[str, Any] = {"name": self._text(row, COL_CHAIR)}
        protocol = self.protocol_box(row).currentData()
        url = self._text(row, COL_URL)
        if protocol is not None:
            table["protocol"] = protocol
        if url or protocol is not None:
            table["url"] = url
        for column, key in NUMBER_COLUMNS.items():
            text = self._text(row, column)
            if text:
                try:
                    table[key] = float(text.replace(",", "."))
                except ValueError:
                    table[key] = text  # the loader names it: "must be a number of seconds"
        handshake = self.handshake_box(row).currentData()
        if handshake is not None:
            table["handshake"] = handshake
        return table

    def document(self) -> dict[str, Any]:
        """The whole file as the table now says it; the settings the table does not show are kept."""
        base = self.config or StationConfig(name="", chairs=())
        data = station_config_data(base, relative_to=self.path.parent)
        data["station"]["name"] = self.station_name.text().strip()
        if self.config is None:
            data["station"].pop("display_tz", None)  # a new file: the machine's zone, as the loader says
        data["chairs"] = [self.row_table(row) for row in range(self.table.rowCount())]
        return data

    # -- testing -----------------------------------------------------------------------------------

    def _row_of(self, row_id: int) -> int:
        for row in range(self.table.rowCount()):
            item = self.table.item(row, COL_CHAIR)
            if item is not None and item.data(ROW_ID) == row_id:
                return row
        return -1

    def _show_result(self, row: int, outcome: str, text: str, detail: str = "") -> None:
        label = self.result_label(row)
        label.setProperty("outcome", outcome)
        label.setText(text)
        label.setToolTip(detail or text)
        label.style().unpolish(label)
        label.style().polish(label)

    def test_row(self, row: int) -> None:
        name = self._text(row, COL_CHAIR) or f"row {row + 1}"
        try:
            config = parse_station_config(
                {"station": {"name": "test"}, "chairs": [self.row_table(row)]}, source=self.path
            )
        except StationConfigError as error:
            where = f"{error.key}: " if error.key else ""
            text = f"✖ Cannot test: {where}{error.problem}"
            self._show_result(row, "failed", text)
            self.test_finished.emit(name, False, text)
            return
        pump = config.chairs[0].pump
        if pump is None:
            text = NO_PUMP_AT_CHAIR
            self._show_result(row, "none", text)
            self.test_finished.emit(name, False, text)
            return
        item = self.table.item(row, COL_CHAIR)
        assert item is not None
        self.test_button(row).setEnabled(False)
        wait_s = probe_wait_s(pump)
        self._show_result(row, "busy", f"⟳ Testing {pump.url}… (up to {wait_s:.0f} s)")
        probe = threading.Thread(
            target=_probe,
            args=(int(item.data(ROW_ID)), pump, self._signals),
            name=f"pump test {pump.url}",
            daemon=True,
        )
        self._probes = [thread for thread in self._probes if thread.is_alive()] + [probe]
        probe.start()

    def test_all(self) -> None:
        for row in range(self.table.rowCount()):
            if self.test_button(row).isEnabled():
                self.test_row(row)

    def _show_probe(self, row_id: int, outcome: object) -> None:
        row = self._row_of(row_id)
        if row < 0:
            return  # the row was removed while its pump was being tested
        self.test_button(row).setEnabled(True)
        name = self._text(row, COL_CHAIR)
        if isinstance(outcome, ProbeResult) and outcome.telemetry is not None:
            reading = outcome.telemetry
            text = (
                f"✔ Pump {reading.serial} answered: {reading.state.value}, {reading.rate_ml_h:.1f} mL/h, "
                f"{reading.volume_infused_ml:.1f} mL infused" + (", ALARM" if reading.alarms else "")
            )
            self._show_result(row, "ok", text, describe(outcome))
            self.test_finished.emit(name, True, text)
            return
        hint, raw = failure(outcome) if isinstance(outcome, ProbeResult) else (str(outcome), str(outcome))
        text = f"✖ No answer: {hint}"
        self._show_result(row, "failed", text, raw)
        self.test_finished.emit(name, False, text)

    def wait_for_tests(self, timeout_s: float = 60.0) -> bool:
        """Block until every running test has finished (for closing down and for tests)."""
        deadline = time.monotonic() + timeout_s
        for thread in self._probes:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self._probes)

    # -- saving ------------------------------------------------------------------------------------

    def _refuse(self, text: str) -> None:
        self.refusal_label.setText(text)
        self.refusal.show()

    def save(self) -> bool:
        """Check the table with the loader's rules and write the file; False (nothing written) if refused."""
        try:
            config = parse_station_config(self.document(), source=self.path)
            save_station_config(config, self.path)
        except StationConfigError as error:
            self._point_at(error)
            return False
        except OSError as error:
            self._refuse(f"Nothing was saved: cannot write {self.path}: {error.strerror or error}")
            return False
        self.config = load_station_config(self.path)
        self.refusal.hide()
        self.saved.emit(self.config)
        self.accept()
        return True

    def _point_at(self, error: StationConfigError) -> None:
        if error.chair_index is not None:
            who = f"{error.chair_name or f'Row {error.chair_index}'}"
            what = HEADERS[KEY_COLUMN[error.key]] if error.key in KEY_COLUMN else error.key or "chair"
            what = what.replace("\n", " ")
            self._refuse(f"Nothing was saved. {who}, {what}: {error.problem}")
            column = KEY_COLUMN.get(error.key or "", COL_CHAIR)
            row = error.chair_index - 1
            if 0 <= row < self.table.rowCount():
                self.table.setCurrentCell(row, column)
                self.table.setFocus()
        elif error.section == "station" and error.key == "name":
            self._refuse(f"Nothing was saved. Station name: {error.problem}")
            self.station_name.setFocus()
        else:
            self._refuse(f"Nothing was saved. {error}")

    def done(self, result: int) -> None:
        if any(thread.is_alive() for thread in self._probes):
            self._signals.done.disconnect(self._show_probe)  # late answers have no row to go to
        super().done(result)


def open_pumps_dialog(parent: QWidget | None, path: Path | None) -> PumpsDialog | QMessageBox:
    """Open Station > Pumps… for ``path`` (non-modal); explain instead when there is nothing to edit."""
    if path is None:
        box = QMessageBox(
            QMessageBox.Icon.Information,
            "Station pumps",
            "This station was started without a configuration file, so there is no pump table to edit.\n\n"
            "Start it with `chairside --config PATH` (see “Setting up a station” in the README).",
            QMessageBox.StandardButton.Ok,
            parent,
        )
        box.setObjectName("pumpsNotice")
        box.open()
        return box
    try:
        dialog = PumpsDialog(path, parent=parent)
    except StationConfigError as error:
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Station pumps",
            f"The station configuration cannot be read, so the pump table cannot be edited here:\n\n{error}",
            QMessageBox.StandardButton.Ok,
            parent,
        )
        box.setObjectName("pumpsNotice")
        box.open()
        return box
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    return dialog
