"""The audible alarm signal, where the platform has audio.

PySide6.QtMultimedia is not part of PySide6-Essentials; without it (or without an audio device) the
app runs silently and says so once in the log. Tones are generated as small WAV files at start.
"""

from __future__ import annotations

import importlib
import logging
import math
import struct
import tempfile
import wave
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QUrl

from app.domain.alarms import Priority

log = logging.getLogger(__name__)

# IEC 60601-1-8 style bursts (pitch in Hz, pulses): high 10 pulses, medium 3, low 1
TONES = {Priority.HIGH: (880.0, 10), Priority.MEDIUM: (660.0, 3), Priority.LOW: (523.0, 1)}
SAMPLE_RATE = 22050


def _write_tone(path: Path, pitch_hz: float, pulses: int) -> None:
    frames = bytearray()
    pulse = int(SAMPLE_RATE * 0.15)
    gap = int(SAMPLE_RATE * 0.1)
    for _ in range(pulses):
        for n in range(pulse):
            frames += struct.pack("<h", int(12000 * math.sin(2 * math.pi * pitch_hz * n / SAMPLE_RATE)))
        frames += b"\x00\x00" * gap
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(bytes(frames))


class AlarmSound(QObject):
    """`play(priority)` loops that priority's tone; `play(None)` is silence. No-op without audio."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._effects: dict[Priority, Any] = {}
        self._playing: Priority | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        try:
            multimedia = importlib.import_module("PySide6.QtMultimedia")
        except ImportError:
            log.info("no QtMultimedia: alarms are visual only")
            return
        self._dir = tempfile.TemporaryDirectory(prefix="chairside-tones-")
        for priority, (pitch, pulses) in TONES.items():
            path = Path(self._dir.name) / f"{priority.value}.wav"
            _write_tone(path, pitch, pulses)
            effect = multimedia.QSoundEffect(self)
            effect.setSource(QUrl.fromLocalFile(str(path)))
            effect.setLoopCount(-2)  # QSoundEffect.Infinite
            self._effects[priority] = effect

    @property
    def available(self) -> bool:
        return bool(self._effects)

    @property
    def playing(self) -> Priority | None:
        return self._playing

    def play(self, priority: Priority | None) -> None:
        if priority is self._playing:
            return
        if self._playing is not None and self._playing in self._effects:
            self._effects[self._playing].stop()
        self._playing = priority
        if priority is not None and priority in self._effects:
            self._effects[priority].play()
