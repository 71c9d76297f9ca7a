"""The speaker against a real PulseAudio daemon: what it plays is recorded from the null sink's monitor."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.domain.alarms import Priority
from app.station.sound import AlarmSounds, load_alarm_sounds
from app.station.speaker import PulseSpeaker, SpeakerStatus, system_program_env
from tests.station.pulse import RATE, PulseServer, Recording, bursts, find_pulses, loudest, pulse_server

WAIT_S = 20.0  # generous: the machine may be loaded


@pytest.fixture(scope="module")
def sounds() -> AlarmSounds:
    return load_alarm_sounds()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PulseServer]:
    with pulse_server(tmp_path / "pulse") as running:
        yield running


class Statuses:
    def __init__(self) -> None:
        self.seen: list[SpeakerStatus] = []
        self._changed = threading.Condition()

    def __call__(self, status: SpeakerStatus) -> None:
        with self._changed:
            self.seen.append(status)
            self._changed.notify_all()

    def wait(self, predicate: Callable[[SpeakerStatus], bool]) -> SpeakerStatus:
        with self._changed:
            assert self._changed.wait_for(lambda: any(predicate(s) for s in self.seen), WAIT_S), self.seen
            return next(s for s in self.seen if predicate(s))


def wait_recorded(recording: Recording, samples: int) -> None:
    assert recording.wait_for(samples, WAIT_S + samples / RATE), f"recorded {recording.position} of {samples}"


def test_plays_a_burst_switches_pattern_and_stops_at_once(server: PulseServer, sounds: AlarmSounds) -> None:
    statuses = Statuses()
    speaker = PulseSpeaker(RATE, statuses, env=server.client_env())
    recording = server.record()
    try:
        assert statuses.wait(lambda s: s.available is not None) == SpeakerStatus(
            True, "sound through station"
        )
        start = recording.position
        speaker.play("high", sounds.pcm(Priority.HIGH))
        burst_s = sounds.pattern(Priority.HIGH).burst_ms / 1000
        wait_recorded(recording, start + round((burst_s + 0.5) * RATE))
        switched = recording.position
        speaker.play("medium", sounds.pcm(Priority.MEDIUM))  # starts over with the other pattern
        wait_recorded(recording, switched + round(0.5 * RATE))
        stopped = recording.position
        speaker.stop()  # in the middle of the medium burst
        wait_recorded(recording, stopped + round(1.5 * RATE))
        assert [len(b) for b in bursts(find_pulses(recording.samples(start, switched)))] == [10]
        medium = find_pulses(recording.samples(switched, stopped + round(0.3 * RATE)))
        assert 1 <= len(medium) <= 2, medium
        # what the stream still held when stopped is cut within its latency; then silence
        assert loudest(recording.samples(stopped + round(0.3 * RATE))) == 0
    finally:
        recording.close()
        speaker.close()


def test_no_sound_server_is_a_status_never_an_exception(tmp_path: Path, sounds: AlarmSounds) -> None:
    statuses = Statuses()
    env = {"PULSE_SERVER": f"unix:{tmp_path / 'nobody-listens'}", "PATH": "/usr/bin:/bin"}
    speaker = PulseSpeaker(RATE, statuses, env=env, retry_s=0.2)
    try:
        speaker.play("high", sounds.pcm(Priority.HIGH))
        status = statuses.wait(lambda s: s.available is False)
        assert status.detail.startswith("no sound server: ")
        assert "NO AUDIO" in status.text
    finally:
        speaker.close()


def test_pacat_missing_says_what_to_install(sounds: AlarmSounds) -> None:
    statuses = Statuses()
    speaker = PulseSpeaker(RATE, statuses, pacat="chairside-no-such-pacat")
    try:
        speaker.play("medium", sounds.pcm(Priority.MEDIUM))
        status = statuses.wait(lambda s: s.available is False)
        assert status.detail == "chairside-no-such-pacat is not installed (Debian/Ubuntu: pulseaudio-utils)"
    finally:
        speaker.close()


def test_a_server_without_a_sound_card_is_no_audio(tmp_path: Path) -> None:
    # PulseAudio plays into its stand-in sink "auto_null" when it found no sound card
    with pulse_server(tmp_path / "pulse", sink="auto_null") as server:
        statuses = Statuses()
        speaker = PulseSpeaker(RATE, statuses, env=server.client_env())
        try:
            assert statuses.wait(lambda s: s.available is not None) == SpeakerStatus(False, "no sound device")
        finally:
            speaker.close()


def test_the_sound_server_going_away_while_sounding_is_reported(
    server: PulseServer, sounds: AlarmSounds
) -> None:
    statuses = Statuses()
    speaker = PulseSpeaker(RATE, statuses, env=server.client_env(), retry_s=0.2)
    try:
        statuses.wait(lambda s: s.available is True)
        recording = server.record()
        speaker.play("high", sounds.pcm(Priority.HIGH))
        wait_recorded(recording, round(0.5 * RATE))
        recording.close()
        server.stop()
        status = statuses.wait(lambda s: s.available is False)
        assert "NO AUDIO" in status.text
    finally:
        speaker.close()


def test_a_frozen_station_runs_pacat_with_the_system_libraries(monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = {"PATH": "/usr/bin", "LD_LIBRARY_PATH": "/opt/chairside/_internal", "PULSE_SERVER": "unix:/x"}
    assert system_program_env(bundle) == bundle  # from source: as it is
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert system_program_env({**bundle, "LD_LIBRARY_PATH_ORIG": "/usr/local/lib"}) == {
        **bundle,
        "LD_LIBRARY_PATH": "/usr/local/lib",
    }
    assert "LD_LIBRARY_PATH" not in system_program_env(bundle)
