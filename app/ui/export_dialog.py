"""File > Export shift log: pick the shift (default: the current one), the format and the file.

The export runs on a QThread with its own database connection (app.export.api.run_export), so the
window stays responsive; a progress dialog appears only if it takes longer than a moment, and Cancel
stops it without leaving a partial file. Results and errors are shown in the dialog itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from pathlib import Path

from PySide6.QtCore import QDate, QThread, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressDialog,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.export.api import FORMATS, SUFFIXES, ExportRequest, ExportResult, run_export
from app.export.hl7_settings import Hl7Settings
from app.export.model import ExportCancelled, ExportError
from app.export.shifts import ExportRange, ShiftConfig, ShiftError
from app.floor import Floor

PROGRESS_AFTER_MS = 400  # "more than a moment"
_FORMAT_LABELS = {"pdf": "PDF (print)", "csv": "CSV (spreadsheet)", "json": "JSON", "hl7": "HL7 v2 (file)"}
_ALL_SHIFTS = "All shifts that day"


class ExportWorker(QThread):
    progressed = Signal(int, str)  # percent, what
    succeeded = Signal(object)  # ExportResult
    failed = Signal(str)

    def __init__(self, request: ExportRequest, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.request = request
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    def _progress(self, fraction: float, text: str) -> None:
        if self._cancel.is_set():
            raise ExportCancelled("export cancelled")
        self.progressed.emit(round(fraction * 100), text)

    def run(self) -> None:
        try:
            result = run_export(self.request, self._progress)
        except ExportCancelled:
            self.failed.emit("Export cancelled; nothing was written.")
        except Exception as exc:  # every failure reaches the user, in words
            self.failed.emit(f"Export failed: {exc}")
        else:
            self.succeeded.emit(result)


class ExportDialog(QDialog):
    exportFinished = Signal(str)  # the file written
    exportFailed = Signal(str)

    def __init__(
        self,
        parent: QWidget | None,
        floor: Floor,
        config: ShiftConfig | None = None,
        hl7_settings: Callable[[], Hl7Settings] = Hl7Settings,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export shift log")
        self.floor = floor
        self.hl7_settings = hl7_settings
        """The [hl7] identities, read when an export starts (the station hands over how to read them)."""
        self.config = (config or ShiftConfig.load()).at_station(floor.display_tz)
        self.worker: ExportWorker | None = None
        self.progress: QProgressDialog | None = None
        self.export_result: ExportResult | None = None

        current = self.config.current(floor.clock.now())
        current_day = self.config.local.to_local(current.since).date()
        current_name = current.label.rsplit(" ", 2)[-2] if current.label.endswith(" shift") else _ALL_SHIFTS

        self.day = QDateEdit(QDate(current_day.year, current_day.month, current_day.day))
        self.day.setCalendarPopup(True)
        self.day.setDisplayFormat("yyyy-MM-dd")
        self.shift = QComboBox()
        self.shift.addItems([s.name for s in self.config.shifts] + [_ALL_SHIFTS])
        self.shift.setCurrentText(current_name)
        self.format = QComboBox()
        for fmt in FORMATS:
            self.format.addItem(_FORMAT_LABELS[fmt], fmt)
        self.paper = QComboBox()
        self.paper.addItem("A4", "a4")
        self.paper.addItem("Letter", "letter")
        self.path = QLineEdit()
        browse = QPushButton("Browse...")
        browse.clicked.connect(self._browse)
        self.range_label = QLabel()
        self.status = QLabel()
        self.status.setWordWrap(True)

        path_row = QHBoxLayout()
        path_row.addWidget(self.path, 1)
        path_row.addWidget(browse)
        form = QFormLayout()
        form.addRow("Date", self.day)
        form.addRow("Shift", self.shift)
        form.addRow("", self.range_label)
        form.addRow("Format", self.format)
        form.addRow("Paper", self.paper)
        form.addRow("File", path_row)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.start_export)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)

        self.format.currentIndexChanged.connect(self._format_changed)
        self.day.dateChanged.connect(self._update_range)
        self.shift.currentIndexChanged.connect(self._update_range)
        self._format_changed()
        self._update_range()

    # ------------------------------------------------------------------------------------------

    def selected_format(self) -> str:
        return str(self.format.currentData())

    def selected_day(self) -> date:
        qdate = self.day.date()
        return date(qdate.year(), qdate.month(), qdate.day())

    def selected_range(self) -> ExportRange:
        name = self.shift.currentText()
        return self.config.range_for(self.selected_day(), None if name == _ALL_SHIFTS else name)

    @Slot()
    def _update_range(self) -> None:
        try:
            export_range = self.selected_range()
        except ShiftError as exc:
            self.range_label.setText(str(exc))
            return
        local = self.config.local
        self.range_label.setText(f"{local.stamp(export_range.since)} to {local.stamp(export_range.until)}")
        self._suggest_path()

    @Slot()
    def _format_changed(self) -> None:
        self.paper.setEnabled(self.selected_format() == "pdf")
        self._suggest_path()

    def _suggest_path(self) -> None:
        current = self.path.text().strip()
        name = f"shift-{self.selected_day().isoformat()}-{self.shift.currentText().split()[0].lower()}"
        folder = Path(current).parent if current else Path.home()
        self.path.setText(str(folder / (name + SUFFIXES[self.selected_format()])))

    @Slot()
    def _browse(self) -> None:
        chosen, _ = QFileDialog.getSaveFileName(self, "Export shift log", self.path.text())
        if chosen:
            self.path.setText(chosen)

    @Slot()
    def start_export(self) -> None:
        if self.worker is not None:
            return
        text = self.path.text().strip()
        if not text:
            self._fail("Choose the file to write.")
            return
        try:
            export_range = self.selected_range()
            hl7 = self.hl7_settings()  # the station file's [hl7] identities, when there is one
        except (ShiftError, ExportError) as exc:
            self._fail(str(exc))
            return
        request = ExportRequest(
            db_path=self.floor.journal.path,
            export_range=export_range,
            fmt=self.selected_format(),
            output=Path(text),
            local=self.config.local,
            paper=str(self.paper.currentData()),
            hl7_settings=hl7,
        )
        self.status.setText("Exporting...")
        self.export_button.setEnabled(False)
        self.progress = QProgressDialog("Exporting the shift log...", "Cancel", 0, 100, self)
        self.progress.setWindowTitle("Export shift log")
        self.progress.setMinimumDuration(PROGRESS_AFTER_MS)
        self.progress.setAutoClose(False)
        self.progress.setAutoReset(False)
        self.worker = ExportWorker(request, self)
        self.progress.canceled.connect(self.worker.cancel)
        self.worker.progressed.connect(self._progressed)
        self.worker.succeeded.connect(self._succeeded)
        self.worker.failed.connect(self._fail)
        self.worker.finished.connect(self._worker_done)
        self.worker.start()

    @Slot(int, str)
    def _progressed(self, percent: int, text: str) -> None:
        if self.progress is not None:
            self.progress.setValue(percent)
            self.progress.setLabelText(text)

    @Slot(object)
    def _succeeded(self, result: ExportResult) -> None:
        self.export_result = result
        self.status.setText(result.describe(self.selected_format()))
        self.exportFinished.emit(str(result.output))

    @Slot(str)
    def _fail(self, message: str) -> None:
        self.status.setText(message)
        self.status.setStyleSheet("color: #b00020;")
        self.exportFailed.emit(message)

    @Slot()
    def _worker_done(self) -> None:
        if self.progress is not None:
            self.progress.close()
            self.progress.deleteLater()
            self.progress = None
        if self.worker is not None:
            self.worker.deleteLater()
            self.worker = None
        self.export_button.setEnabled(True)
        if self.export_result is not None:
            self.accept()

    def reject(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            return  # closes once the worker has stopped (no half-written file)
        super().reject()


def open_export_dialog(
    parent: QWidget, floor: Floor, hl7_settings: Callable[[], Hl7Settings] = Hl7Settings
) -> None:
    """Show the export dialog, window-modal, defaulting to the current shift. Returns at once."""
    dialog = ExportDialog(parent, floor, hl7_settings=hl7_settings)
    dialog.setObjectName("exportShiftLogDialog")
    dialog.finished.connect(dialog.deleteLater)
    dialog.open()
