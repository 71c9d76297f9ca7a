"""A private PulseAudio daemon with a null sink, a recorder of that sink's monitor, and the analysis of
what was recorded (pulses found by their envelope, grouped into bursts).

The daemon runs on its own socket and runtime folder in the test's temporary directory, so tests never
reach the developer's real sound server. `pulseaudio -D` returns once the daemon is ready; the recorder
is `parec` on the sink's monitor, read by a thread, so the test waits on recorded samples (audio time),
never on a sleep.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

RATE = 48000
SINK = "station"


def require_pulseaudio() -> None:
    """Skip where PulseAudio cannot be had; as root (CI, `make test`) its absence is a failure:
    packaging/system-packages.txt lists it."""
    missing = [p for p in ("pulseaudio", "pacat", "parec", "pactl") if shutil.which(p) is None]
    if not missing:
        return
    message = f"{', '.join(missing)} not installed: apt-get install -y pulseaudio pulseaudio-utils"
    if os.geteuid() == 0:
        pytest.fail(message + " (make test installs packaging/system-packages.txt)")
    pytest.skip(message)


@dataclass
class PulseServer:
    folder: Path
    pid: int
    sink: str

    @property
    def socket(self) -> Path:
        return self.folder / "native"

    @property
    def env(self) -> dict[str, str]:
        """What points a PulseAudio client at this daemon."""
        return {"PULSE_SERVER": f"unix:{self.socket}", "PULSE_RUNTIME_PATH": str(self.folder / "runtime")}

    def client_env(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def record(self) -> Recording:
        return Recording(self)

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)


@contextlib.contextmanager
def pulse_server(folder: Path, *, sink: str = SINK) -> Iterator[PulseServer]:
    """A PulseAudio daemon whose only sink is a null sink named `sink` (mono, 48 kHz)."""
    require_pulseaudio()
    folder.mkdir(parents=True, exist_ok=True)
    runtime = folder / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = {
        **os.environ,
        "HOME": str(folder),
        "XDG_RUNTIME_DIR": str(runtime),
        "XDG_CONFIG_HOME": str(folder / "config"),
        "PULSE_RUNTIME_PATH": str(runtime),
    }
    env.pop("PULSE_SERVER", None)
    command = [
        "pulseaudio",
        "--daemonize=yes",  # returns once the daemon is ready to take clients
        "-n",  # no default.pa: only the modules below
        "--exit-idle-time=-1",
        "--use-pid-file=yes",
        "--log-target=stderr",
        "--log-level=error",
        f"--load=module-native-protocol-unix socket={folder / 'native'} auth-anonymous=1",
        f"--load=module-null-sink sink_name={sink} rate={RATE} channels=1 format=s16le",
    ]
    started = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30, check=False)
    if started.returncode != 0:
        pytest.fail(f"pulseaudio did not start: {started.stderr.strip()}")
    server = PulseServer(folder, int((runtime / "pid").read_text().strip()), sink)
    try:
        yield server
    finally:
        server.stop()


class Recording:
    """`parec` on the sink's monitor, collected by a thread. `samples()` is everything so far."""

    def __init__(self, server: PulseServer) -> None:
        self._data = bytearray()
        self._lock = threading.Condition()  # notified on every chunk read
        self._proc = subprocess.Popen(
            [
                "parec",
                f"--device={server.sink}.monitor",
                "--raw",
                "--format=s16le",
                f"--rate={RATE}",
                "--channels=1",
                "--latency-msec=20",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=server.client_env(),
        )
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        stream = self._proc.stdout
        assert stream is not None
        while chunk := stream.read1(4096):
            with self._lock:
                self._data += chunk
                self._lock.notify_all()

    @property
    def position(self) -> int:
        """Samples recorded so far."""
        with self._lock:
            return len(self._data) // 2

    def samples(self, start: int = 0, end: int | None = None) -> np.ndarray:
        with self._lock:
            data = bytes(self._data[: len(self._data) - len(self._data) % 2])
        return np.frombuffer(data, dtype="<i2")[start:end].astype(np.float64)

    def wait_for(self, samples: int, timeout_s: float) -> bool:
        """Block (off the Qt thread) until `samples` have been recorded; False on time-out."""
        with self._lock:
            return self._lock.wait_for(lambda: len(self._data) // 2 >= samples, timeout_s)

    def until(self, samples: int) -> Callable[[], bool]:
        """A condition for qtbot.waitUntil: `samples` have been recorded."""
        return lambda: self.position >= samples

    def close(self) -> None:
        self._proc.kill()
        self._proc.wait(timeout=10)
        self._thread.join(timeout=10)
        if self._proc.stdout is not None:
            self._proc.stdout.close()


# --------------------------------------------------------------------------------------------------
# Analysis


@dataclass(frozen=True)
class Pulse:
    start_s: float  # where the envelope crosses half its peak, rising
    end_s: float  # ... falling

    @property
    def length_ms(self) -> float:
        return (self.end_s - self.start_s) * 1000.0


def find_pulses(
    x: np.ndarray, *, rate: int = RATE, window_ms: float = 6.0, floor: float = 300.0, glitch_ms: float = 15.0
) -> list[Pulse]:
    """Pulses in a recording: the RMS envelope over `window_ms`, cut at half the loudest pulse's level;
    the envelope's ripple near the cut (gaps and blips shorter than `glitch_ms`) is smoothed over.
    A recording whose envelope never rises above `floor` (of 32767) has no pulses."""
    if x.size == 0:
        return []
    width = max(1, round(rate * window_ms / 1000.0))
    power = np.convolve(x * x, np.ones(width) / width, mode="same")
    envelope = np.sqrt(power)
    peak = float(envelope.max())
    if peak < floor:
        return []
    on = envelope > peak / 2.0
    edges = np.flatnonzero(np.diff(on.astype(np.int8)))
    starts = [int(e) + 1 for e in edges if not on[e]]
    ends = [int(e) + 1 for e in edges if on[e]]
    if on[0]:
        starts.insert(0, 0)
    if on[-1]:
        ends.append(int(on.size))
    runs: list[list[int]] = []
    glitch = rate * glitch_ms / 1000.0
    for start, end in zip(starts, ends, strict=True):
        if runs and start - runs[-1][1] < glitch:
            runs[-1][1] = end
        else:
            runs.append([start, end])
    return [Pulse(s / rate, e / rate) for s, e in runs if e - s >= glitch]


def bursts(pulses: list[Pulse], *, gap_s: float = 1.5) -> list[list[Pulse]]:
    """Pulses grouped into bursts: a silence longer than `gap_s` starts a new one."""
    groups: list[list[Pulse]] = []
    for pulse in pulses:
        if groups and pulse.start_s - groups[-1][-1].end_s <= gap_s:
            groups[-1].append(pulse)
        else:
            groups.append([pulse])
    return groups


def spacings_ms(burst: list[Pulse]) -> list[float]:
    return [(b.start_s - a.end_s) * 1000.0 for a, b in itertools.pairwise(burst)]


def loudest(x: np.ndarray) -> float:
    return float(np.max(np.abs(x))) if x.size else 0.0
