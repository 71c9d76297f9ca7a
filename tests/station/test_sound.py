"""The alarm signal patterns (resources/alarms.toml) and the choice of what the station sounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from app.alarm_policy import load_alarm_policy
from app.domain.alarms import AlarmBoard, AlarmCategory, AlarmCondition, AlarmPolicyError, Priority
from app.resources import resource_path
from app.station.sound import AlarmSounds, StationSound, load_alarm_sounds, station_sounding
from tests.station.pulse import bursts, find_pulses, spacings_ms

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)

# IEC 60601-1-8 Table 3 (burst) and Table 4 (pulse): the ranges the shipped patterns must keep to.
PULSES = {Priority.HIGH: {10}, Priority.MEDIUM: {3}, Priority.LOW: {1, 2}}
PULSE_MS = {Priority.HIGH: (75, 200), Priority.MEDIUM: (125, 250), Priority.LOW: (125, 250)}
INTERBURST_S = {Priority.HIGH: (2.5, 15.0), Priority.MEDIUM: (2.5, 30.0), Priority.LOW: (15.0, float("inf"))}
X_MS, Y_MS, HIGH_PAUSE_MS = (50, 125), (125, 250), (350, 1300)


@pytest.fixture(scope="module")
def sounds() -> AlarmSounds:
    return load_alarm_sounds()


def test_shipped_patterns_keep_to_iec_60601_1_8(sounds: AlarmSounds) -> None:
    for priority, p in sounds.patterns.items():
        assert p.pulses in PULSES[priority]
        assert PULSE_MS[priority][0] <= p.pulse_ms <= PULSE_MS[priority][1]
        assert INTERBURST_S[priority][0] <= p.interburst_s <= INTERBURST_S[priority][1]
        assert 150 <= p.frequency_hz <= 1000
        in_band = [a for h, a in enumerate(p.harmonics, 1) if 300 <= h * p.frequency_hz <= 4000]
        assert len(in_band) >= 4
        assert all(20 * np.log10(a / p.harmonics[0]) >= -15 for a in p.harmonics)
        assert 10 <= p.rise_percent <= 20
    high = sounds.pattern(Priority.HIGH)
    x = high.spacing_ms[0]
    assert X_MS[0] <= x <= X_MS[1]
    assert high.spacing_ms == (
        x,
        x,
        2 * x + high.pulse_ms,
        x,
        high.spacing_ms[4],
        x,
        x,
        2 * x + high.pulse_ms,
        x,
    )
    assert HIGH_PAUSE_MS[0] <= high.spacing_ms[4] <= HIGH_PAUSE_MS[1]
    for priority in (Priority.MEDIUM, Priority.LOW):
        spacing = sounds.pattern(priority).spacing_ms
        assert all(Y_MS[0] <= y <= Y_MS[1] and y == spacing[0] for y in spacing)


@pytest.mark.parametrize("priority", list(Priority))
def test_rendered_samples_have_the_pattern(sounds: AlarmSounds, priority: Priority) -> None:
    p = sounds.pattern(priority)
    x = sounds.samples(priority).astype(np.float64)
    assert x.size == round(p.period_s * sounds.sample_rate_hz)
    assert np.max(np.abs(x)) == pytest.approx(32767 * 10 ** (sounds.level_dbfs / 20), rel=0.01)
    found = find_pulses(x, rate=sounds.sample_rate_hz)
    [burst] = bursts(found)
    assert len(burst) == p.pulses
    assert [q.length_ms for q in burst] == pytest.approx([p.pulse_ms] * p.pulses, abs=2.0)
    assert spacings_ms(burst) == pytest.approx(list(p.spacing_ms), abs=2.0)
    next_burst_s = p.period_s + burst[0].start_s  # the loop starts over
    assert next_burst_s - burst[-1].end_s == pytest.approx(p.interburst_s, abs=0.003)


def test_a_pulse_has_the_fundamental_and_its_harmonics(sounds: AlarmSounds) -> None:
    p = sounds.pattern(Priority.HIGH)
    rate = sounds.sample_rate_hz
    first = sounds.samples(Priority.HIGH)[: round(p.pulse_ms * rate / 1000)].astype(np.float64)
    spectrum = np.abs(np.fft.rfft(first * np.hanning(first.size)))
    freqs = np.fft.rfftfreq(first.size, 1 / rate)
    level = [spectrum[np.argmin(np.abs(freqs - h * p.frequency_hz))] for h in range(1, len(p.harmonics) + 1)]
    assert all(20 * np.log10(v / level[0]) > -15 for v in level)
    between = spectrum[np.argmin(np.abs(freqs - 1.5 * p.frequency_hz))]
    assert 20 * np.log10(between / level[0]) < -30  # tones, not noise


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "alarms.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_bad_sound_table_names_the_file_and_the_field(tmp_path: Path) -> None:
    shipped = resource_path("alarms.toml").read_text(encoding="utf-8")
    wrong_count = shipped.replace("spacing_ms = [200, 200]", "spacing_ms = [200]")
    with pytest.raises(AlarmPolicyError, match=r"alarms.toml: field 'sound.medium.spacing_ms': needs 2"):
        load_alarm_sounds(_write(tmp_path, wrong_count))
    no_high = shipped.replace("[sound.high]", "[sound.loud]")
    with pytest.raises(AlarmPolicyError, match=r"field 'sound.high': table is missing"):
        load_alarm_sounds(_write(tmp_path, no_high))
    negative = shipped.replace("interburst_s = 2.5", "interburst_s = -2.5")
    with pytest.raises(AlarmPolicyError, match=r"'sound.high.interburst_s': must be a positive number"):
        load_alarm_sounds(_write(tmp_path, negative))
    with pytest.raises(AlarmPolicyError, match=r"not valid TOML"):
        load_alarm_sounds(_write(tmp_path, "[sound"))


def _condition(rule: str, priority: Priority) -> AlarmCondition:
    return AlarmCondition(rule, priority, AlarmCategory.TECHNICAL, False, f"{rule} on the chair")


class _Calls:
    """A speaker that writes down what it was told (the real one is tested in test_speaker.py)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def play(self, name: str, pcm: bytes) -> None:
        self.calls.append(f"play {name} {len(pcm)}")

    def stop(self) -> None:
        self.calls.append("stop")

    def close(self) -> None:
        self.calls.append("close")


def test_the_highest_board_wins_a_pause_silences_and_a_higher_priority_breaks_through(
    sounds: AlarmSounds,
) -> None:
    policy = load_alarm_policy()
    chair1, chair2 = AlarmBoard(policy), AlarmBoard(policy)
    speaker = _Calls()
    station = StationSound(sounds, speaker)
    high_bytes = len(sounds.pcm(Priority.HIGH))
    medium_bytes = len(sounds.pcm(Priority.MEDIUM))

    assert station.update([chair1, chair2], T0) is None
    chair1.update([_condition("pump_door_open", Priority.MEDIUM)], T0)
    chair2.update([_condition("step_up_overdue", Priority.LOW)], T0)
    assert station.update([chair1, chair2], T0) is Priority.MEDIUM
    assert station.update([chair1, chair2], T0 + timedelta(seconds=1)) is Priority.MEDIUM  # no restart

    for board in (chair1, chair2):  # "Pause audio" on the floor's bar pauses every chair
        board.pause_audio(T0 + timedelta(seconds=2))
    assert station.update([chair1, chair2], T0 + timedelta(seconds=3)) is None

    later = T0 + timedelta(seconds=30)
    chair2.update(
        [_condition("step_up_overdue", Priority.LOW), _condition("pump_occlusion", Priority.HIGH)], later
    )
    assert station_sounding([chair1, chair2], later) is Priority.HIGH
    assert station.update([chair1, chair2], later) is Priority.HIGH  # chair 1 stays paused

    chair2.acknowledge("pump_occlusion#1", "AB", later)
    chair2.acknowledge("step_up_overdue#1", "AB", later)
    assert station.update([chair1, chair2], later) is None
    end_of_pause = T0 + timedelta(seconds=2 + policy.audio_pause_s)
    assert station.update([chair1, chair2], end_of_pause) is Priority.MEDIUM  # the pause is over
    station.close()
    assert speaker.calls == [
        f"play medium {medium_bytes}",
        "stop",
        f"play high {high_bytes}",
        "stop",
        f"play medium {medium_bytes}",
        "close",
    ]
