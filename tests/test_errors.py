"""Errors from every thread reach the log, the crash log file and the user (one sentence, on the GUI
thread), and Qt's own messages go into logging."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, QTimer, Signal, qCritical
from pytestqt.qtbot import QtBot

from app import errors


class Screen(QObject):
    """Stands in for the main window's message line; records which thread showed each sentence."""

    shown = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self.threads: list[threading.Thread] = []

    def show_message(self, text: str) -> None:
        self.texts.append(text)
        self.threads.append(threading.current_thread())
        self.shown.emit(text)


@pytest.fixture
def crash_log(tmp_path: Path) -> Path:
    return tmp_path / "logs" / "crash.log"


@pytest.fixture
def screen(crash_log: Path) -> Iterator[Screen]:
    screen = Screen()
    errors.install(crash_log, screen.show_message)
    try:
        yield screen
    finally:
        errors.uninstall()


def _records(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if text in r.getMessage()]


def test_an_exception_in_a_worker_thread_reaches_log_crash_file_and_user_on_the_gui_thread(
    qtbot: QtBot, screen: Screen, crash_log: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def read_pump() -> None:
        raise RuntimeError("serial port vanished")

    worker = threading.Thread(target=read_pump, name="pump-reader-3")
    with caplog.at_level(logging.ERROR, "chairside.errors"), qtbot.waitSignal(screen.shown, timeout=5000):
        worker.start()
        worker.join()

    [record] = _records(caplog, "uncaught exception in thread pump-reader-3")
    assert "RuntimeError: serial port vanished" in record.getMessage()
    assert "in read_pump" in record.getMessage(), "the log has the traceback"
    written = crash_log.read_text(encoding="utf-8")
    assert "uncaught exception in thread pump-reader-3" in written
    assert "Traceback (most recent call last)" in written
    assert "RuntimeError: serial port vanished" in written
    [sentence] = screen.texts
    assert sentence.startswith("Something went wrong (RuntimeError: serial port vanished).")
    assert str(crash_log) in sentence
    assert "Traceback" not in sentence, "never a traceback on screen"
    assert screen.threads == [threading.main_thread()], "widgets are only touched on the GUI thread"


@pytest.mark.qt_no_exception_capture
def test_an_exception_in_a_slot_on_the_gui_thread_is_reported_the_same_way(
    qtbot: QtBot, screen: Screen, crash_log: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def on_tick() -> None:
        raise ZeroDivisionError("rate over zero minutes")

    with caplog.at_level(logging.ERROR, "chairside.errors"), qtbot.waitSignal(screen.shown, timeout=5000):
        QTimer.singleShot(0, on_tick)

    [record] = _records(caplog, "uncaught exception in the main thread")
    assert "ZeroDivisionError: rate over zero minutes" in record.getMessage()
    assert "ZeroDivisionError: rate over zero minutes" in crash_log.read_text(encoding="utf-8")
    assert screen.texts == [
        "Something went wrong (ZeroDivisionError: rate over zero minutes). Nothing recorded was lost."
        f" Details are in {crash_log}."
    ]


def test_qt_messages_go_into_logging_and_critical_ones_into_the_crash_log(
    screen: Screen, crash_log: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "qt"):
        qCritical("QSqlDatabase: cannot open the record")
    [record] = _records(caplog, "QSqlDatabase: cannot open the record")
    assert record.name == "qt" and record.levelno == logging.ERROR
    assert "QSqlDatabase: cannot open the record" in crash_log.read_text(encoding="utf-8")
    assert screen.texts == [], "Qt's messages are logged, not shown"


def test_uninstall_puts_the_hooks_back(crash_log: Path) -> None:
    import sys

    before = (sys.excepthook, threading.excepthook)
    errors.install(crash_log, None, qt=False)
    assert sys.excepthook is not before[0]
    errors.uninstall()
    assert (sys.excepthook, threading.excepthook) == before
    assert errors.relay() is None


def test_a_failing_notifier_does_not_take_the_handler_down(
    crash_log: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_text: str) -> None:
        raise OSError("display gone")

    errors.install(crash_log, broken, qt=False)
    try:
        with caplog.at_level(logging.ERROR, "chairside.errors"):
            try:
                raise ValueError("bad frame")
            except ValueError as exc:
                errors.report(type(exc), exc, exc.__traceback__, "the driver")
    finally:
        errors.uninstall()
    assert _records(caplog, "uncaught exception in the driver")
    assert _records(caplog, "error notifier failed")
    assert "ValueError: bad frame" in crash_log.read_text(encoding="utf-8")
