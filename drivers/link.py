"""The serial link under every driver: one port, one I/O thread, reconnection, a quiet-time watchdog.

`SerialLink` opens any pyserial URL (``/dev/tty...``, ``COMx``, ``socket://``, ``rfc2217://``), runs the
driver's session on its own thread and, when the session fails (I/O error, unplugged adapter, a pump
silent for longer than the quiet time), closes the port, reports ``LOST`` with the reason and tries
again with a growing back-off. A session talks through a `FrameChannel`: its own frame reader with
timeouts (no ``readline``), every frame in and out logged on the ``drivers.wire`` logger, corrupt frames
counted and dropped.

Link states follow OpenICE's AbstractSerialDevice: CONNECTING (first attempt) -> NEGOTIATING (port
open, talking) -> CONNECTED (the session says so) -> LOST (with reason); retries from LOST do not
announce CONNECTING again, so a chair with an unplugged pump shows "lost" until it is back.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import serial

from drivers.base import DriverError, FrameError, LinkState, LinkStateCallback, LinkStatus, ProtocolError

wire_log = logging.getLogger("drivers.wire")
log = logging.getLogger(__name__)


class _HasRaw(Protocol):
    @property
    def raw(self) -> bytes: ...


F = TypeVar("F", bound=_HasRaw)


class StreamDecoder(Protocol[F]):
    def feed(self, data: bytes) -> list[F | FrameError]: ...


class LinkClosed(Exception):
    """The link is being stopped; unwinds the session."""


class LinkLostError(DriverError):
    """The session cannot go on (quiet time exceeded, pump changed, handshake refused)."""


class ReplyTimeout(DriverError):
    """No reply to one request in time; the link may still be fine."""


class UnsolicitedFrames(ProtocolError):
    """Frames the driver did not ask for came during a poll: none of its replies can be trusted to be the
    pump's answer, so the reading is dropped (a link fault, like an implausible reading)."""


FAULT_LOG_PERIOD_S = 60.0


class FaultLog:
    """Link faults said once per kind per minute, with how many more there were: a flood of bad frames
    is counted, not written line by line to the log (the issue's 28 MB in 100 s)."""

    def __init__(
        self,
        logger: logging.Logger,
        period_s: float = FAULT_LOG_PERIOD_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._period_s = period_s
        self._clock = clock
        self._kinds: dict[str, tuple[float, int]] = {}  # kind -> (when last said, how many since)

    def note(self, kind: str, message: str, *args: object, level: int = logging.WARNING) -> None:
        now = self._clock()
        said = self._kinds.get(kind)
        if said is not None and now - said[0] < self._period_s:
            self._kinds[kind] = (said[0], said[1] + 1)
            return
        if said is not None and said[1]:
            message = f"{message} (and {said[1]} more in the last {now - said[0]:.0f} s)"
        self._kinds[kind] = (now, 0)
        self._logger.log(level, message, *args)


@dataclass(frozen=True, slots=True)
class LinkSettings:
    baudrate: int = 38400
    bytesize: int = serial.EIGHTBITS
    parity: str = serial.PARITY_NONE
    stopbits: float = serial.STOPBITS_ONE
    quiet_time_s: float = 10.0
    """No valid frame for this long: the link is lost and renegotiated (OpenICE uses 10 s)."""
    reply_timeout_s: float = 1.0
    read_timeout_s: float = 0.05
    """Granularity of the reader; a read returns as soon as bytes arrive."""
    reconnect_initial_s: float = 0.25
    reconnect_max_s: float = 5.0

    def __post_init__(self) -> None:
        times = (self.quiet_time_s, self.reply_timeout_s, self.read_timeout_s, self.reconnect_initial_s)
        if min(times) <= 0 or self.reconnect_max_s < self.reconnect_initial_s:
            raise ValueError("link times must be positive (and reconnect_max_s >= reconnect_initial_s)")


@dataclass(slots=True)
class LinkStats:
    """Counters, written by the I/O thread only."""

    frames_in: int = 0
    frames_out: int = 0
    bad_frames: int = 0
    stale_frames: int = 0
    reply_timeouts: int = 0
    bad_replies: int = 0
    unsolicited: int = 0
    """Frames that answered no request of the driver's (sent unasked, or after their request timed out):
    dropped, and the poll they came in is dropped too."""
    implausible: int = 0
    """Well-formed readings no pump can produce (drivers.base.implausibility): dropped."""
    last_fault: str = ""
    """The last unusable or implausible reply, for `chairside probe` and the log."""
    sessions: int = 0
    losses: int = 0
    polls: int = 0
    last_poll_started: float = 0.0
    """time.monotonic() when the poll cycle that produced the latest Telemetry began."""


class FrameChannel(Generic[F]):
    """What a session sees of an open port: send a frame, wait for the reply that matches."""

    def __init__(
        self,
        port: Any,
        decoder: StreamDecoder[F],
        *,
        url: str,
        settings: LinkSettings,
        stats: LinkStats,
        stop: threading.Event,
        outgoing_guard: Callable[[bytes], None],
        faults: FaultLog | None = None,
    ) -> None:
        self._port = port
        self.faults = faults or FaultLog(wire_log)
        self._decoder = decoder
        self._url = url
        self._settings = settings
        self.stats = stats
        self._stop = stop
        self._guard = outgoing_guard
        self._pending: collections.deque[F] = collections.deque()
        self._last_rx = time.monotonic()

    def send(self, raw: bytes) -> None:
        self._guard(raw)
        if wire_log.isEnabledFor(logging.DEBUG):
            wire_log.debug("%s > %r", self._url, raw)
        self._port.write(raw)
        self.stats.frames_out += 1

    def request(self, raw: bytes, is_reply: Callable[[F], bool]) -> F:
        """Send ``raw`` and return the first frame ``is_reply`` accepts; ReplyTimeout if none comes."""
        self._drain()
        self.send(raw)
        deadline = time.monotonic() + self._settings.reply_timeout_s
        while True:
            frame = self._next_frame(deadline)
            if frame is None:
                self.stats.reply_timeouts += 1
                self.check_quiet()
                raise ReplyTimeout(f"no reply to {raw!r}")
            if is_reply(frame):
                return frame
            self._drop(frame, "not the reply awaited")

    def idle_until(self, when: float) -> None:
        """Wait (for the next poll) until ``time.monotonic() >= when``; LinkClosed when stopping."""
        if self._stop.wait(max(0.0, when - time.monotonic())):
            raise LinkClosed

    def check_quiet(self) -> None:
        quiet_s = self._settings.quiet_time_s
        if time.monotonic() - self._last_rx > quiet_s:
            raise LinkLostError(f"no valid frame from the pump for more than {quiet_s:g} s")

    def _drop(self, frame: F, why: str) -> None:
        self.stats.stale_frames += 1
        self.stats.unsolicited += 1
        self.stats.last_fault = f"a frame the driver did not ask for (unasked): {why}"
        self.faults.note("unasked", "%s dropped %r: %s", self._url, frame.raw, why, level=logging.INFO)

    def settle(self) -> None:
        """After the last reply of a poll: drop (and count) what else already waits, so frames sent
        unasked during the poll are seen before its reading is trusted."""
        self._drain()

    def _drain(self) -> None:
        """Read what already waits (late replies) so it cannot pass for the next reply."""
        for _ in range(64):  # bounded: a device that never stops talking must not stall the poll
            waiting = self._port.in_waiting
            if not waiting:
                break
            self._feed(self._port.read(waiting))
        while self._pending:
            self._drop(self._pending.popleft(), "arrived after its request timed out")

    def _next_frame(self, deadline: float) -> F | None:
        while not self._pending:
            if self._stop.is_set():
                raise LinkClosed
            if time.monotonic() >= deadline:
                return None
            self._feed(self._port.read(max(1, self._port.in_waiting)))
        return self._pending.popleft()

    def _feed(self, data: bytes) -> None:
        if not data:
            return
        for item in self._decoder.feed(data):
            if isinstance(item, FrameError):
                self.stats.bad_frames += 1
                self.faults.note("corrupt", "%s < corrupt frame dropped: %s", self._url, item)
                continue
            self.stats.frames_in += 1
            self._last_rx = time.monotonic()
            if wire_log.isEnabledFor(logging.DEBUG):
                wire_log.debug("%s < %r", self._url, item.raw)
            self._pending.append(item)


class SerialLink(Generic[F]):
    """Runs ``session(channel)`` on its own thread over ``url``, reconnecting for ever until stopped.

    The session returns only by raising: LinkClosed (stop), DriverError / SerialException / OSError
    (the link is lost; the port is closed and reopened after a back-off).
    """

    def __init__(
        self,
        url: str,
        session: Callable[[FrameChannel[F]], None],
        decoder_factory: Callable[[], StreamDecoder[F]],
        *,
        on_state: LinkStateCallback,
        outgoing_guard: Callable[[bytes], None],
        settings: LinkSettings | None = None,
        name: str | None = None,
    ) -> None:
        self.url = url
        self._session = session
        self._decoder_factory = decoder_factory
        self._on_state = on_state
        self._guard = outgoing_guard
        self.settings = settings or LinkSettings()
        self.stats = LinkStats()
        self._state = LinkState(LinkStatus.CONNECTING, "not started")
        self._stop = threading.Event()
        self.faults = FaultLog(wire_log)  # one per link: its flood is said once a minute, with a count
        self._thread = threading.Thread(target=self._run, name=name or f"pump-link {url}", daemon=True)
        self._port: Any = None

    @property
    def state(self) -> LinkState:
        return self._state

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        port = self._port
        if port is not None and hasattr(port, "cancel_read"):
            with contextlib.suppress(Exception):  # only a wake-up; the read times out anyway
                port.cancel_read()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.error("link thread for %s did not stop within %.1f s", self.url, timeout_s)

    def set_state(self, status: LinkStatus, reason: str) -> None:
        new = LinkState(status, reason)
        if new == self._state:
            return
        self._state = new
        log.info("%s link %s: %s", self.url, status.value, reason)
        try:
            self._on_state(new)
        except Exception:
            log.exception("on_link_state callback failed for %s", self.url)

    def _open(self) -> Any:
        s = self.settings
        kwargs: dict[str, Any] = {
            "baudrate": s.baudrate,
            "bytesize": s.bytesize,
            "parity": s.parity,
            "stopbits": s.stopbits,
            "timeout": s.read_timeout_s,
            "xonxoff": False,
            "rtscts": False,
            "dsrdtr": False,
        }
        if "://" not in self.url:  # a local device: keep others off it; URL handlers lack these
            kwargs["exclusive"] = True
            kwargs["write_timeout"] = max(1.0, s.reply_timeout_s)
        return serial.serial_for_url(self.url, **kwargs)

    def _run(self) -> None:
        backoff = self.settings.reconnect_initial_s
        self.set_state(LinkStatus.CONNECTING, f"opening {self.url}")
        while not self._stop.is_set():
            try:
                self._port = self._open()
            except (serial.SerialException, OSError, ValueError) as error:
                self._lost(f"cannot open {self.url}: {error}")
            else:
                reason = self._serve()
                if reason is None:
                    break
                if self._state.status is LinkStatus.CONNECTED:
                    backoff = self.settings.reconnect_initial_s
                self._lost(reason)
            if self._stop.wait(backoff):
                break
            backoff = min(backoff * 2, self.settings.reconnect_max_s)

    def _serve(self) -> str | None:
        """One session on the open port; the reason it ended, None when stopped."""
        self.stats.sessions += 1
        channel = FrameChannel(
            self._port,
            self._decoder_factory(),
            url=self.url,
            settings=self.settings,
            stats=self.stats,
            stop=self._stop,
            outgoing_guard=self._guard,
            faults=self.faults,
        )
        try:
            self.set_state(LinkStatus.NEGOTIATING, f"talking to {self.url}")
            self._session(channel)
            return "session ended"
        except LinkClosed:
            return None
        except DriverError as error:
            return str(error)
        except (serial.SerialException, OSError) as error:
            return f"I/O error: {error}"
        except Exception as error:
            log.exception("driver session on %s failed", self.url)
            return f"driver fault: {error!r}"
        finally:
            port, self._port = self._port, None
            try:
                port.close()
            except Exception:  # closing a dead port may fail; it is gone either way
                log.debug("closing %s failed", self.url, exc_info=True)

    def _lost(self, reason: str) -> None:
        if self._stop.is_set():
            return
        if self._state.status is not LinkStatus.LOST:
            self.stats.losses += 1
        self.set_state(LinkStatus.LOST, reason)
