"""Errors from every thread reach the log, a crash log file and (through a callback) the user.

`install(crash_log, notify)` routes `sys.excepthook`, `threading.excepthook` and Qt's messages into
`logging`; an uncaught exception is written with its traceback to the crash log and the user gets one
plain sentence (never a traceback on screen). `uninstall()` puts everything back (tests use it).

`notify` usually touches a widget, which only the GUI thread may do: with Qt, the sentence travels as a
queued signal to the thread that called `install`, whichever thread failed.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from app.private_files import private_file, private_folder
from app.redaction import REDACTOR

log = logging.getLogger("chairside.errors")

Notify = Callable[[str], None]

_previous: dict[str, Any] = {}
_crash_log: Path | None = None
_notify: Notify | None = None
_relay: Any = None  # a QObject in the installing thread that hands `notify` its sentence there


def _write_crash(title: str, text: str) -> None:
    if _crash_log is not None and not append_crash(_crash_log, title, text):
        log.error("cannot write the crash log %s", _crash_log)


def append_crash(path: Path, title: str, text: str) -> bool:
    """Append a titled entry to a crash log, readable by its owner only; False when it cannot be written."""
    try:
        private_folder(path.parent, tighten_existing=False)
        with private_file(path).open("a", encoding="utf-8") as handle:
            entry = REDACTOR.redact(f"{title}\n{text}")  # never a patient identifier in the crash log
            handle.write(f"==== {datetime.now(UTC).isoformat()} {entry}\n")
    except OSError:
        return False
    return True


def report(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None, where: str) -> None:
    text = "".join(traceback.format_exception(exc_type, exc, tb))
    log.error("uncaught exception in %s:\n%s", where, text)
    _write_crash(f"uncaught exception in {where}", text)
    if _notify is not None:
        where_file = f" Details are in {_crash_log}." if _crash_log is not None else ""
        sentence = (
            f"Something went wrong ({exc_type.__name__}: {exc}). Nothing recorded was lost.{where_file}"
        )
        if _relay is not None:
            _relay.message.emit(sentence)  # direct on the GUI thread, queued from any other
        else:
            _deliver(sentence)


def _deliver(sentence: str) -> None:
    if _notify is None:
        return
    try:
        _notify(sentence)
    except Exception:  # the notifier must never take the handler down with it
        log.exception("error notifier failed")


def _make_relay() -> Any:
    from PySide6.QtCore import QObject, Signal, Slot

    class Relay(QObject):
        message = Signal(str)

        def __init__(self) -> None:
            super().__init__()
            self.message.connect(self.deliver)

        @Slot(str)
        def deliver(self, sentence: str) -> None:
            _deliver(sentence)

    return Relay()


def _excepthook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    if issubclass(exc_type, KeyboardInterrupt):
        _previous["sys"](exc_type, exc, tb)
        return
    report(exc_type, exc, tb, "the main thread")


def _thread_excepthook(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None:
        return
    name = args.thread.name if args.thread is not None else "a thread"
    report(args.exc_type, args.exc_value, args.exc_traceback, f"thread {name}")


def _qt_message_handler(mode: Any, context: Any, message: str) -> None:
    from PySide6.QtCore import QtMsgType

    level = {
        QtMsgType.QtDebugMsg: logging.DEBUG,
        QtMsgType.QtInfoMsg: logging.INFO,
        QtMsgType.QtWarningMsg: logging.WARNING,
        QtMsgType.QtCriticalMsg: logging.ERROR,
        QtMsgType.QtFatalMsg: logging.CRITICAL,
    }.get(mode, logging.WARNING)
    where = f" ({context.file}:{context.line})" if context is not None and context.file else ""
    logging.getLogger("qt").log(level, "%s%s", message, where)
    if level >= logging.ERROR:
        _write_crash("Qt", message + where)


def install(crash_log: Path | None = None, notify: Notify | None = None, *, qt: bool = True) -> None:
    """Call from the GUI thread (with `qt`, `notify` is always called there)."""
    global _crash_log, _notify, _relay
    _crash_log = crash_log
    _notify = notify
    _relay = _make_relay() if qt and notify is not None else None
    if "sys" not in _previous:
        _previous["sys"] = sys.excepthook
        _previous["threading"] = threading.excepthook
    sys.excepthook = _excepthook
    threading.excepthook = _thread_excepthook
    if qt:
        from PySide6.QtCore import qInstallMessageHandler

        previous = qInstallMessageHandler(_qt_message_handler)
        _previous.setdefault("qt", previous)  # installing twice must not make ours the "previous" one


def relay() -> Any:
    """The QObject whose `message` signal carries the user's sentence (None without Qt or notify)."""
    return _relay


def uninstall() -> None:
    global _crash_log, _notify, _relay
    if "sys" in _previous:
        sys.excepthook = _previous.pop("sys")
        threading.excepthook = _previous.pop("threading")
    if "qt" in _previous:
        from PySide6.QtCore import qInstallMessageHandler

        qInstallMessageHandler(_previous.pop("qt"))
    _crash_log = None
    _notify = None
    if _relay is not None:
        _relay.deleteLater()
    _relay = None
