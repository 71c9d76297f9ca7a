"""What the station's speaker plays: the alarm signal patterns, and which one sounds now.

The patterns are data (the `[sound]` tables of resources/alarms.toml, after IEC 60601-1-8 Tables 3 and 4):
per priority a burst of pulses (high 10, medium 3, low 2), the spacing between them and the interval
before the burst repeats. `AlarmSounds.samples` renders one period of a pattern (burst, then the silence
before the next) as 16-bit PCM; a speaker loops it.

`StationSound` is the one home of the rule "what does the station sound": every chair's `AlarmBoard`
says what it wants (`sounding(now)`: None while its audio is paused or all is acknowledged), the highest
priority wins, and the speaker is told only when that changes. A new higher-priority alarm ends a pause
inside the board, so it breaks through here too. Qt-free: the GUI calls `update` on every alarm change
and every tick.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from app.domain.alarms import AlarmBoard, AlarmPolicyError, Priority
from app.resources import resource_path

# --------------------------------------------------------------------------------------------------
# The patterns


@dataclass(frozen=True)
class SoundPattern:
    """One priority's auditory alarm signal. Times between the 50 % points of the pulse envelope."""

    priority: Priority
    pulses: int
    pulse_ms: float  # effective pulse duration td
    spacing_ms: tuple[float, ...]  # ts after each pulse but the last: end of one pulse to start of the next
    interburst_s: float  # tb: end of the burst's last pulse to the start of the next burst
    frequency_hz: float  # f0
    harmonics: tuple[float, ...]  # relative amplitude of f0, 2 f0, 3 f0, ...
    rise_percent: float  # rise (and fall) time, % of td

    @property
    def rise_ms(self) -> float:
        return self.pulse_ms * self.rise_percent / 100.0

    def onsets_ms(self) -> list[float]:
        """When each pulse starts (its 50 % point), from the start of the burst's first pulse."""
        onsets = [0.0]
        for spacing in self.spacing_ms:
            onsets.append(onsets[-1] + self.pulse_ms + spacing)
        return onsets

    @property
    def burst_ms(self) -> float:
        return self.pulses * self.pulse_ms + sum(self.spacing_ms)

    @property
    def period_s(self) -> float:
        """From the start of one burst to the start of the next."""
        return self.burst_ms / 1000.0 + self.interburst_s


@dataclass(frozen=True)
class AlarmSounds:
    """The three patterns and how to render them."""

    sample_rate_hz: int
    level_dbfs: float
    patterns: Mapping[Priority, SoundPattern]
    source: str = ""

    def pattern(self, priority: Priority) -> SoundPattern:
        return self.patterns[priority]

    def samples(self, priority: Priority) -> np.ndarray:
        """One period of the pattern as int16 mono: the burst (its first pulse starting half a rise time
        in, so that pulse's 50 % point is at rise/2), then silence until the next burst would begin."""
        p = self.patterns[priority]
        rate = self.sample_rate_hz
        total = round(p.period_s * rate)
        out = np.zeros(total, dtype=np.float64)
        pulse = self._pulse(p)
        for onset in p.onsets_ms():  # a pulse's samples begin half a rise time before its 50 % point
            first = round(onset * rate / 1000.0)
            out[first : first + pulse.size] += pulse[: max(0, total - first)]
        peak = 10.0 ** (self.level_dbfs / 20.0) * 32767.0
        samples: np.ndarray = np.round(out * peak).astype(np.int16)
        return samples

    def pcm(self, priority: Priority) -> bytes:
        """`samples` as raw signed 16-bit little-endian bytes."""
        return self.samples(priority).astype("<i2").tobytes()

    def _pulse(self, p: SoundPattern) -> np.ndarray:
        """One pulse, peak 1.0: harmonics of f0 under a raised-cosine rise, a plateau and a fall."""
        rate = self.sample_rate_hz
        rise = max(1, round(p.rise_ms * rate / 1000.0))
        length = round((p.pulse_ms + p.rise_ms) * rate / 1000.0)  # 50 % points td apart
        t = np.arange(length) / rate
        tone = sum(
            a * np.sin(2.0 * math.pi * (h + 1) * p.frequency_hz * t) for h, a in enumerate(p.harmonics)
        )
        tone = np.asarray(tone, dtype=np.float64)
        tone /= max(float(np.max(np.abs(tone))), 1e-12)
        envelope = np.ones(length)
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(rise) + 0.5) / rise)
        envelope[:rise] = ramp
        envelope[length - rise :] = ramp[::-1]
        return tone * envelope


def _field(source: str, table: Mapping[str, Any], section: str, key: str) -> Any:
    if key not in table:
        raise AlarmPolicyError(source, f"{section}.{key}", "is missing")
    return table[key]


def _positive(source: str, table: Mapping[str, Any], section: str, key: str) -> float:
    value = _field(source, table, section, key)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise AlarmPolicyError(source, f"{section}.{key}", f"must be a positive number, got {value!r}")
    return float(value)


def _numbers(source: str, table: Mapping[str, Any], section: str, key: str) -> tuple[float, ...]:
    values = _field(source, table, section, key)
    if not isinstance(values, list) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v >= 0 for v in values
    ):
        raise AlarmPolicyError(source, f"{section}.{key}", f"must be a list of numbers >= 0, got {values!r}")
    return tuple(float(v) for v in values)


def _pattern(source: str, sound: Mapping[str, Any], priority: Priority) -> SoundPattern:
    section = f"sound.{priority.value}"
    table = sound.get(priority.value)
    if not isinstance(table, Mapping):
        raise AlarmPolicyError(source, section, "table is missing")
    pulses = _field(source, table, section, "pulses")
    if isinstance(pulses, bool) or not isinstance(pulses, int) or pulses < 1:
        raise AlarmPolicyError(source, f"{section}.pulses", f"must be a whole number >= 1, got {pulses!r}")
    spacing = _numbers(source, table, section, "spacing_ms")
    if len(spacing) != pulses - 1:
        raise AlarmPolicyError(
            source,
            f"{section}.spacing_ms",
            f"needs {pulses - 1} spacings for {pulses} pulses, got {len(spacing)}",
        )
    harmonics = _numbers(source, table, section, "harmonics")
    if not harmonics or harmonics[0] <= 0:
        raise AlarmPolicyError(source, f"{section}.harmonics", "must start with the amplitude of f0 (> 0)")
    pattern = SoundPattern(
        priority=priority,
        pulses=pulses,
        pulse_ms=_positive(source, table, section, "pulse_ms"),
        spacing_ms=spacing,
        interburst_s=_positive(source, table, section, "interburst_s"),
        frequency_hz=_positive(source, table, section, "frequency_hz"),
        harmonics=harmonics,
        rise_percent=_positive(source, table, section, "rise_percent"),
    )
    if pattern.rise_percent >= 50:
        raise AlarmPolicyError(source, f"{section}.rise_percent", "must be below 50")
    if any(s < pattern.rise_ms for s in spacing):
        raise AlarmPolicyError(
            source,
            f"{section}.spacing_ms",
            f"every spacing must be at least the rise time, {pattern.rise_ms:g} ms",
        )
    return pattern


def alarm_sounds_from_mapping(data: Mapping[str, Any], source: str) -> AlarmSounds:
    sound = data.get("sound")
    if not isinstance(sound, Mapping):
        raise AlarmPolicyError(source, "sound", "table is missing")
    cited = sound.get("source")
    if not isinstance(cited, str) or not cited.strip():
        raise AlarmPolicyError(source, "sound.source", "must cite where the numbers come from")
    rate = _positive(source, sound, "sound", "sample_rate_hz")
    if rate != int(rate) or not 8000 <= rate <= 192000:
        raise AlarmPolicyError(source, "sound.sample_rate_hz", f"must be a whole number of Hz, got {rate:g}")
    level = _field(source, sound, "sound", "level_dbfs")
    if isinstance(level, bool) or not isinstance(level, int | float) or not -60 <= level <= 0:
        raise AlarmPolicyError(source, "sound.level_dbfs", f"must be between -60 and 0, got {level!r}")
    patterns = {p: _pattern(source, sound, p) for p in Priority}
    for p in patterns.values():
        if p.frequency_hz * 2 >= rate:
            raise AlarmPolicyError(
                source, f"sound.{p.priority.value}.frequency_hz", "above half the sample rate"
            )
    return AlarmSounds(int(rate), float(level), patterns, cited)


def load_alarm_sounds(path: Path | None = None) -> AlarmSounds:
    """The patterns from `path` (default: the shipped resources/alarms.toml). A bad file raises
    AlarmPolicyError naming the file and the field."""
    path = path or resource_path("alarms.toml")
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise AlarmPolicyError(path.name, "(file)", f"is not valid TOML: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise AlarmPolicyError(path.name, "(file)", f"cannot be read: {exc}") from exc
    return alarm_sounds_from_mapping(data, path.name)


# --------------------------------------------------------------------------------------------------
# What sounds now


def station_sounding(boards: Iterable[AlarmBoard], now: datetime) -> Priority | None:
    """The priority the station's one audible signal has now: the highest any chair's board sounds."""
    wanted = [p for p in (board.sounding(now) for board in boards) if p is not None]
    return max(wanted, key=lambda p: p.rank, default=None)


class Speaker(Protocol):
    """Plays one looping sound at a time, without blocking the caller."""

    def play(self, name: str, pcm: bytes) -> None: ...

    def stop(self) -> None: ...

    def close(self) -> None: ...


class StationSound:
    """The station's audible alarm signal: tells the speaker to loop the pattern of the highest priority
    any board sounds, or to stop."""

    def __init__(self, sounds: AlarmSounds, speaker: Speaker) -> None:
        self.sounds = sounds
        self.speaker = speaker
        self._pcm = {p: sounds.pcm(p) for p in Priority}
        self._playing: Priority | None = None

    @property
    def playing(self) -> Priority | None:
        return self._playing

    def update(self, boards: Iterable[AlarmBoard], now: datetime) -> Priority | None:
        wanted = station_sounding(boards, now)
        if wanted is not self._playing:
            self._playing = wanted
            if wanted is None:
                self.speaker.stop()
            else:
                self.speaker.play(wanted.value, self._pcm[wanted])
        return wanted

    def close(self) -> None:
        self._playing = None
        self.speaker.close()
