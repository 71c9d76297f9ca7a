"""The installed Qt binding must not leak references to Python's singletons.

PySide6 6.12.0 on CPython 3.11 took a reference from None on every void call and from True on every
signal emit without giving it back; a station running for an hour then aborted. pyproject pins the
binding below it; this test fails if a binding with that defect is ever installed again.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    pinged = Signal()


def test_void_calls_do_not_leak_references_to_none() -> None:
    obj = QObject()
    before = sys.getrefcount(None)
    for _ in range(500):
        obj.setObjectName("chair")
    assert sys.getrefcount(None) >= before - 50


def test_signal_emits_do_not_leak_references_to_true() -> None:
    emitter = _Emitter()
    before = sys.getrefcount(True)
    for _ in range(500):
        emitter.pinged.emit()
    assert sys.getrefcount(True) >= before - 50
