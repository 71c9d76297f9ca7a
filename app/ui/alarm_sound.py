"""The station's audible alarm signal, wired to the floor, and the notice when it cannot be heard.

`start_alarm_sound(floor, window)` is what the station start (app/ui/launch.py) calls: one
`StationAlarmSound` for the whole floor, which re-decides on every chair's `alarms_changed` and on the
floor's tick (where a 2-minute audio pause runs out) through app.station.sound.StationSound, and plays
through app.station.speaker.PulseSpeaker. When there is no audio (no sound server, no sound card,
`pacat` missing, a bad `[sound]` table) the window's status bar says so with a symbol and words, and the
log has a line; the station runs on, its alarms visual only.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QLabel, QMainWindow, QWidget

from app.domain.alarms import AlarmPolicyError, Priority
from app.station.sound import AlarmSounds, Speaker, StationSound, load_alarm_sounds
from app.station.speaker import UNKNOWN, PulseSpeaker, SpeakerStatus

log = logging.getLogger(__name__)

NOTICE_STYLE = (
    "QLabel#noAudioNotice { background: #ffd400; color: #000000; font-size: 14pt; font-weight: bold;"
    " padding: 2px 12px; border: 2px solid #8a7300; border-radius: 4px; }"
)


class _Silent:
    """The speaker of a station whose sound patterns could not be loaded."""

    def play(self, name: str, pcm: bytes) -> None:
        pass

    def stop(self) -> None:
        pass

    def close(self) -> None:
        pass


class StationAlarmSound(QObject):
    """One audible signal for every chair of an app.chairs.FloorController."""

    status_changed = Signal(object)  # SpeakerStatus, in the GUI thread
    _status_from_speaker = Signal(object)  # emitted on the speaker's thread; Qt queues it here

    def __init__(
        self,
        floor: Any,
        *,
        sounds: AlarmSounds | None = None,
        sounds_file: Path | None = None,
        speaker: Speaker | None = None,
        parent: QObject | None = None,
    ) -> None:
        """`sounds` (or the `[sound]` tables of `sounds_file`, default resources/alarms.toml) are the
        patterns; `speaker` defaults to a PulseSpeaker."""
        super().__init__(parent)
        self._floor = floor
        self._closed = False
        self.status: SpeakerStatus = UNKNOWN
        self._status_from_speaker.connect(self._on_status, Qt.ConnectionType.QueuedConnection)
        try:
            sounds = sounds or load_alarm_sounds(sounds_file)
        except AlarmPolicyError as exc:
            log.error("alarm sound: %s", exc)
            self.sound: StationSound | None = None
            self.speaker: Speaker = _Silent()
            self._on_status(SpeakerStatus(False, f"the alarm sounds cannot be loaded: {exc}"))
        else:
            self.speaker = speaker or PulseSpeaker(sounds.sample_rate_hz, self._status_from_speaker.emit)
            self.sound = StationSound(sounds, self.speaker)
        floor.ticked.connect(self.update)
        for chair in floor.chairs:
            chair.alarms_changed.connect(self.update)
        self.update()

    @property
    def playing(self) -> Priority | None:
        return self.sound.playing if self.sound is not None else None

    def update(self, *_args: object) -> None:
        if self._closed or self.sound is None:
            return
        self.sound.update([chair.alarm_board for chair in self._floor.chairs], self._floor.now())

    def close(self) -> None:
        """Silence and stop the speaker (waits for its thread)."""
        if self._closed:
            return
        self._closed = True
        if self.sound is not None:
            self.sound.close()
        else:
            self.speaker.close()

    def _on_status(self, status: SpeakerStatus) -> None:
        self.status = status
        self.status_changed.emit(status)


class NoAudioNotice(QLabel):
    """Shown only while the station cannot sound its alarms: symbol, words and the short reason on one
    line; the full reason in the tooltip."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("noAudioNotice")
        self.setStyleSheet(NOTICE_STYLE)
        self.hide()

    def show_status(self, status: SpeakerStatus) -> None:
        if status.available is False:
            reason = status.detail.split(":", 1)[0]
            self.setText(f"⚠ NO AUDIO: alarms are not heard at this station ({reason}). Watch the screen.")
            self.setToolTip(status.detail)
            self.show()
        else:
            self.hide()


def start_alarm_sound(floor: Any, window: QMainWindow) -> StationAlarmSound:
    """The station's sound, and its "no audio" notice in the window's status bar."""
    sound = StationAlarmSound(floor, parent=window)
    notice = NoAudioNotice(window)
    bar = window.statusBar()
    bar.addWidget(notice, 1)

    def show(status: SpeakerStatus) -> None:
        notice.show_status(status)
        bar.setVisible(not notice.isHidden())  # no empty strip taking a short screen's room

    sound.status_changed.connect(show)
    show(sound.status)
    return sound
