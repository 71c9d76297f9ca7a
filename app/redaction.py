"""Patient identifiers never reach a log file or the crash log.

Two nets, both applied where every log record is made (a logging record factory, so a handler added
later by anyone is covered too) and to the crash log's text:
- values written next to an identifying key (`patient_mrn=...`, `'patient_initials': '...'`, `MRN: ...`);
- every identifier the station has seen (each session's MRN and initials, from the journal at start and
  from each check-in since), wherever it appears.
What is left in their place says what was removed, never what it was.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from app.domain.events import CheckedIn, CorrectionRecorded
from app.private_files import private_folder

MASK = "[patient identifier removed]"
IDENTIFYING_KEYS = ("patient_mrn", "patient_initials", "patient_name", "mrn", "initials")
IDENTIFYING_FIELDS = ("patient_mrn", "patient_initials")  # what a check-in (or its correction) records
_KEYED = re.compile(
    r"(?P<key>\b(?:"
    + "|".join(IDENTIFYING_KEYS)
    + r"))(?P<sep>['\"]?\s*[:=]\s*['\"]?)(?P<value>[^'\",;}\)\]\s]+)",
    re.IGNORECASE,
)


class Redactor:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def remember(self, identifiers: Iterable[Any]) -> None:
        fresh = {str(i).strip() for i in identifiers if isinstance(i, str) and len(i.strip()) >= 2}
        with self._lock:
            if fresh <= self._known:
                return
            self._known |= fresh
            alternatives = "|".join(re.escape(i) for i in sorted(self._known, key=len, reverse=True))
            self._pattern = re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])", re.IGNORECASE)

    def remember_payload(self, payload: Any) -> None:
        if isinstance(payload, dict):
            self.remember(payload.get(field) for field in IDENTIFYING_FIELDS)

    def remember_journal(self, journal: Any) -> None:
        """Every identifier already in the journal (check-ins and their corrections)."""
        for entry in journal.entries():
            if entry.type not in ("checked_in", "correction_recorded"):
                continue
            payload = entry.event.payload
            if isinstance(payload, CheckedIn):
                self.remember((payload.patient_mrn, payload.patient_initials))
            elif isinstance(payload, CorrectionRecorded):
                self.remember((payload.corrected.patient_mrn, payload.corrected.patient_initials))

    def redact(self, text: str) -> str:
        text = _KEYED.sub(lambda m: f"{m.group('key')}{m.group('sep')}{MASK}", text)
        pattern = self._pattern
        return pattern.sub(MASK, text) if pattern is not None else text


REDACTOR = Redactor()  # process-wide, as logging is

_previous_factory: Any = None
_handlers: list[logging.Handler] = []


def _make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record: logging.LogRecord = _previous_factory(*args, **kwargs)
    try:
        record.msg = REDACTOR.redact(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = REDACTOR.redact(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = REDACTOR.redact(record.stack_info)
    except Exception:  # a record that cannot be formatted: say so rather than risk what it holds
        record.msg, record.args = (
            "log message withheld (it could not be checked for patient identifiers)",
            None,
        )
    return record


def install(log_file: Path | None = None) -> None:
    """Redact every log record from now on; with `log_file`, also keep INFO and above there."""
    global _previous_factory
    if _previous_factory is None:
        _previous_factory = logging.getLogRecordFactory()
        logging.setLogRecordFactory(_make_record)
    if log_file is not None and not _handlers:
        private_folder(log_file.parent)  # the data folder holds the log: 0700 whatever --db says
        to_file = logging.handlers.RotatingFileHandler(
            log_file, maxBytes=5_000_000, backupCount=3, encoding="utf-8"
        )
        to_file.setLevel(logging.INFO)
        to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        before = root.level if root.level != logging.NOTSET else logging.WARNING
        for handler in root.handlers:  # what went to the screen before keeps its level
            if handler.level == logging.NOTSET:
                handler.setLevel(before)
        added: list[logging.Handler] = [to_file]
        if not root.handlers:  # what Python printed before a handler existed: warnings and up
            to_screen = logging.StreamHandler()
            to_screen.setLevel(logging.WARNING)
            added.append(to_screen)
        for handler in added:
            root.addHandler(handler)
            _handlers.append(handler)
        if before > logging.INFO:
            root.setLevel(logging.INFO)


def uninstall() -> None:
    global _previous_factory
    if _previous_factory is not None:
        logging.setLogRecordFactory(_previous_factory)
        _previous_factory = None
    root = logging.getLogger()
    while _handlers:
        handler = _handlers.pop()
        root.removeHandler(handler)
        handler.close()
