"""The station's speaker: PulseAudio, or PipeWire's PulseAudio server, through `pacat`.

`play(name, pcm)` loops raw 16-bit mono samples until `stop()` or the next `play` of another name; both
return at once, so the GUI thread never waits on audio. One worker thread owns the sound: it starts a
`pacat` process and feeds it the samples in 20 ms chunks, paced by the pipe and the stream's 400 ms
buffer. The buffer rides out a busy machine without gaps and delays nothing: the worker fills it at
once, so the first pulse plays within tens of milliseconds. `stop` kills the process, which throws
away what the sound server had buffered: a paused or acknowledged alarm is silent at once, and the next
pattern starts at its beginning.

No audio (`pacat` missing, no sound server, or a server with no sound card, whose only sink is
PulseAudio's stand-in `auto_null`) gives `SpeakerStatus(available=False, detail=<why>)` through
`on_status` (called on the worker thread) and one log line per change; never an exception. The worker
looks again every `probe_every_s` while idle, and every `retry_s` while an alarm should sound, so
plugging in a speaker or restarting the sound server brings the sound back.

PULSE_SERVER / PULSE_RUNTIME_PATH in the environment choose the server, as for any PulseAudio client.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

log = logging.getLogger(__name__)

CHUNK_MS = 20
PROBE_TIMEOUT_S = 5.0
NO_DEVICE_SINKS = frozenset({"auto_null"})  # what PulseAudio plays into when it found no sound card


@dataclass(frozen=True)
class SpeakerStatus:
    available: bool | None  # None: not looked yet
    detail: str  # where the sound goes, or why there is none

    @property
    def text(self) -> str:
        if self.available is False:
            return f"NO AUDIO: alarms are not heard at this station ({self.detail})"
        return self.detail


UNKNOWN = SpeakerStatus(None, "looking for a sound device")


def system_program_env(base: Mapping[str, str]) -> dict[str, str]:
    """The environment for a program of the system (pacat, pactl). A PyInstaller build points
    LD_LIBRARY_PATH at its own bundled libraries, which a system program must not load: restore the
    value the station was started with (PyInstaller keeps it in LD_LIBRARY_PATH_ORIG)."""
    env = dict(base)
    if getattr(sys, "frozen", False):
        original = env.pop("LD_LIBRARY_PATH_ORIG", None)
        if original is not None:
            env["LD_LIBRARY_PATH"] = original
        else:
            env.pop("LD_LIBRARY_PATH", None)
    return env


class PulseSpeaker:
    """Loops one sound at a time through `pacat`; see the module docstring."""

    def __init__(
        self,
        sample_rate_hz: int,
        on_status: Callable[[SpeakerStatus], None] | None = None,
        *,
        pacat: str = "pacat",
        pactl: str = "pactl",
        latency_ms: int = 400,
        probe_every_s: float = 30.0,
        retry_s: float = 5.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.sample_rate_hz = sample_rate_hz
        self._on_status = on_status
        self._pacat = pacat
        self._pactl = pactl
        self._latency_ms = latency_ms
        self._probe_every_s = probe_every_s
        self._retry_s = retry_s
        self._env = dict(env) if env is not None else None  # None: this process's environment
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._want: tuple[str, bytes] | None = None
        self._generation = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._dying: list[subprocess.Popen[bytes]] = []  # killed by play/stop, for the worker to reap
        self._closed = False
        self._status = UNKNOWN
        self._thread = threading.Thread(target=self._run, name="alarm-speaker", daemon=True)
        self._thread.start()

    # -- the caller's side (any thread; never blocks on audio) -----------------------------------

    @property
    def status(self) -> SpeakerStatus:
        return self._status

    @property
    def playing(self) -> str | None:
        want = self._want
        return want[0] if want is not None else None

    def play(self, name: str, pcm: bytes) -> None:
        if len(pcm) < 2:
            raise ValueError("nothing to play")
        with self._lock:
            if self._want is not None and self._want[0] == name:
                return
            self._want = (name, pcm[: len(pcm) - len(pcm) % 2])
            self._replace_locked()

    def stop(self) -> None:
        with self._lock:
            if self._want is None:
                return
            self._want = None
            self._replace_locked()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._want = None
            self._replace_locked()
        self._thread.join(timeout=5.0)

    def _replace_locked(self) -> None:
        self._generation += 1
        if self._proc is not None:
            with contextlib.suppress(OSError):
                self._proc.kill()  # drops the server's buffer: silent now, not after it drains
            self._dying.append(self._proc)
            self._proc = None
        self._wake.set()

    # -- the worker ------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop()
        except Exception:  # the speaker must never take the station down
            log.exception("alarm sound: the speaker stopped")
            self._set_status(SpeakerStatus(False, "the sound output failed; see the log"))
        finally:
            with self._lock:
                procs = [*self._dying, *([self._proc] if self._proc is not None else [])]
                self._proc, self._dying = None, []
            for proc in procs:
                self._reap(proc)

    def _loop(self) -> None:
        self._probe()
        next_probe = time.monotonic() + self._probe_every_s
        retry_at = 0.0
        position = 0
        while True:
            with self._lock:
                if self._closed:
                    return
                want, generation, proc = self._want, self._generation, self._proc
                dying, self._dying = self._dying, []
            for old in dying:
                self._reap(old)
            now = time.monotonic()
            if want is None or (self._status.available is False and now < retry_at):
                deadline = next_probe if want is None else min(next_probe, retry_at)
                self._wake.wait(max(0.0, deadline - now))
                self._wake.clear()
                if want is None and time.monotonic() >= next_probe:
                    self._probe()
                    next_probe = time.monotonic() + self._probe_every_s
                continue
            if proc is None:
                if self._status.available is not True and not self._probe():
                    retry_at = time.monotonic() + self._retry_s
                    continue
                proc = self._spawn(want[0])
                if proc is None:
                    retry_at = time.monotonic() + self._retry_s
                    continue
                with self._lock:
                    current = self._generation == generation and not self._closed
                    if current:
                        self._proc = proc
                if not current:
                    proc.kill()
                    self._reap(proc)
                    continue
                position = 0
            if time.monotonic() >= next_probe:  # a speaker unplugged while sounding: say so
                self._probe()  # (the pipe holds more than the probe takes: the sound goes on)
                next_probe = time.monotonic() + self._probe_every_s
            pcm = want[1]
            end = min(len(pcm), position + self._chunk_bytes)
            try:
                os.write(proc.stdin.fileno(), pcm[position:end])  # type: ignore[union-attr]
            except OSError:
                with self._lock:
                    on_purpose = self._proc is not proc  # play/stop replaced it (and will reap it)
                    if not on_purpose:
                        self._proc = None
                if on_purpose:
                    continue
                reason = self._reap(proc)
                self._set_status(SpeakerStatus(False, reason or "the sound server closed the stream"))
                retry_at = time.monotonic() + self._retry_s
                continue
            position = 0 if end >= len(pcm) else end

    @property
    def _chunk_bytes(self) -> int:
        return max(2, self.sample_rate_hz * CHUNK_MS // 1000 * 2)

    def _spawn(self, name: str) -> subprocess.Popen[bytes] | None:
        command = [
            self._pacat,
            "--playback",
            "--raw",
            "--format=s16le",
            f"--rate={self.sample_rate_hz}",
            "--channels=1",
            f"--latency-msec={self._latency_ms}",
            "--client-name=Chairside",
            f"--stream-name=Chairside alarm ({name})",
        ]
        try:
            return subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                bufsize=0,
                env=self._child_env(),
            )
        except OSError as exc:
            self._set_status(SpeakerStatus(False, f"cannot start {self._pacat}: {exc.strerror or exc}"))
            return None

    @staticmethod
    def _reap(proc: subprocess.Popen[bytes]) -> str:
        """Wait for a pacat that was killed or died; its last error line, if it said one."""
        with contextlib.suppress(OSError):
            proc.kill()
        try:
            _, err = proc.communicate(timeout=5.0)  # closes its pipes
        except (subprocess.TimeoutExpired, OSError, ValueError):
            for pipe in (proc.stdin, proc.stderr):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()
            return ""
        lines = [line.strip() for line in err.decode("utf-8", "replace").splitlines() if line.strip()]
        return lines[-1] if lines else ""

    def _child_env(self) -> dict[str, str]:
        return system_program_env(self._env if self._env is not None else os.environ)

    def _probe(self) -> bool:
        """Is there a sound server with a real sink? Sets the status; True when there is."""
        if shutil.which(self._pacat, path=(self._env or os.environ).get("PATH")) is None:
            return self._set_status(
                SpeakerStatus(False, f"{self._pacat} is not installed (Debian/Ubuntu: pulseaudio-utils)")
            )
        try:
            result = subprocess.run(
                [self._pactl, "list", "short", "sinks"],
                capture_output=True,
                timeout=PROBE_TIMEOUT_S,
                env=self._child_env(),
                check=False,
            )
        except FileNotFoundError:  # pacat without pactl: we learn whether it works when it plays
            return self._set_status(SpeakerStatus(True, "PulseAudio (not checked: pactl is missing)"))
        except (OSError, subprocess.TimeoutExpired) as exc:
            return self._set_status(SpeakerStatus(False, f"the sound server does not answer ({exc})"))
        if result.returncode != 0:
            said = result.stderr.decode("utf-8", "replace").strip().splitlines()
            detail = said[-1] if said else f"{self._pactl} exited with {result.returncode}"
            return self._set_status(SpeakerStatus(False, f"no sound server: {detail}"))
        sinks = [
            fields[1]
            for fields in (line.split("\t") for line in result.stdout.decode("utf-8", "replace").splitlines())
            if len(fields) > 1
        ]
        real = [s for s in sinks if s not in NO_DEVICE_SINKS]
        if not real:
            return self._set_status(SpeakerStatus(False, "no sound device"))
        return self._set_status(SpeakerStatus(True, f"sound through {', '.join(real)}"))

    def _set_status(self, status: SpeakerStatus) -> bool:
        if status != self._status:
            self._status = status
            if status.available is False:
                log.warning("alarm sound: %s", status.text)
            else:
                log.info("alarm sound: %s", status.detail)
            if self._on_status is not None:
                try:
                    self._on_status(status)
                except RuntimeError as exc:  # its receiver is gone (a window closed without close())
                    log.debug("alarm sound: status not delivered: %s", exc)
        return status.available is True
