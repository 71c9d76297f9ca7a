"""Serve a simulated pump where a driver can open it: a pseudo-terminal, or TCP (raw or RFC 2217).

On a pty the pump is a real tty, so the production driver runs unchanged. The server publishes a
stable symlink to the pty's slave (like socat's ``link=``): after a disconnect-and-return the pump is
back on a new pty behind the same path, as a USB adapter comes back under the same udev name.

Everything here is usable in-process: ``serve_pty(pump)`` returns a handle with ``.url`` and
``.close()``; `SimulatorFleet` runs many.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import os
import queue
import select
import shutil
import socket
import tempfile
import threading
import time
import tty
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from serial import rfc2217

from drivers.sim.clock import ScaledClock
from drivers.sim.pump import SimulatedPump
from drivers.sim.responder import FAULT_KINDS, AlarisResponder, Faults

log = logging.getLogger(__name__)


class PumpServer:
    """One simulated pump on one endpoint, served by one thread. Subclasses own the endpoint."""

    def __init__(self, pump: SimulatedPump, responder: AlarisResponder | None = None) -> None:
        self.pump = pump
        self.responder = responder or AlarisResponder(pump, Faults())
        self.faults = self.responder.faults
        self._lock = threading.Lock()
        self._closing = False
        self._want_down = False
        self._reopen_at: float | None = None
        self._up = False
        self._outbox: list[tuple[float, int, bytes]] = []
        self._sequence = itertools.count()
        self._unasked: queue.SimpleQueue[tuple[float, bytes]] = queue.SimpleQueue()  # from inject()
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name=f"sim-pump {pump.serial}", daemon=True)
        self.connections = 0
        """How many times the endpoint was (re)opened."""

    # -- public ------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        raise NotImplementedError

    @property
    def is_up(self) -> bool:
        return self._up

    def start(self) -> Self:
        self._open_endpoint()
        self._up = True
        self.connections += 1
        self._thread.start()
        return self

    def disconnect(self, duration_s: float | None = None) -> None:
        """Take the endpoint away (pull the cable); back after ``duration_s`` real seconds, or on
        `reconnect`."""
        with self._lock:
            self._want_down = True
            self._reopen_at = None if duration_s is None else time.monotonic() + duration_s
        self._wake()

    def reconnect(self) -> None:
        with self._lock:
            self._want_down = False
            self._reopen_at = None
        self._wake()

    def inject(self, kind: str, **params: Any) -> None:
        """A line fault by name (scenario files use this): bad_crc(count), garbage(count, size),
        slow(delay_s, duration_s), silence(duration_s), disconnect(duration_s), implausible(count, rate,
        volume): raw values on the next INF replies, unsolicited(count, rate, interval_s): CRC-valid INF
        frames sent unasked."""
        now = time.monotonic()
        if kind == "bad_crc":
            self.faults.bad_crc(int(params.get("count", 1)))
        elif kind == "garbage":
            self.faults.garbage(int(params.get("count", 1)), int(params.get("size", 24)))
        elif kind == "slow":
            self.faults.slow(float(params["delay_s"]), float(params.get("duration_s", 5.0)), now)
        elif kind == "silence":
            self.faults.silence(float(params["duration_s"]), now)
        elif kind == "implausible":
            rate, volume = params.get("rate"), params.get("volume")
            self.faults.implausible(
                int(params.get("count", 1)),
                rate=None if rate is None else str(rate),
                volume=None if volume is None else str(volume),
            )
        elif kind == "unsolicited":
            count, interval = int(params.get("count", 1)), float(params.get("interval_s", 0.01))
            frame = self.responder.unsolicited_inf(str(params.get("rate", "777.00")))
            for number in range(count):
                self._unasked.put((now + number * interval, frame))
            self.faults.injected["unsolicited"] += count
            self._wake()
        elif kind == "disconnect":
            duration = params.get("duration_s")
            self.disconnect(None if duration is None else float(duration))
            self.faults.injected["disconnect"] += 1
        else:
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULT_KINDS)}")

    def close(self) -> None:
        with self._lock:
            if self._closing:
                return
            self._closing = True
        self._wake()
        if self._thread.is_alive():
            self._thread.join(5.0)
        if self._up:
            self._close_endpoint()
            self._up = False
        self._cleanup()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- endpoint, for subclasses --------------------------------------------------------------------

    def _open_endpoint(self) -> None:
        raise NotImplementedError

    def _close_endpoint(self) -> None:
        raise NotImplementedError

    def _read_fds(self) -> list[Any]:
        raise NotImplementedError

    def _on_readable(self, fd: Any, now: float) -> None:
        raise NotImplementedError

    def _send(self, data: bytes) -> None:
        raise NotImplementedError

    def _cleanup(self) -> None:
        """After the final close."""

    # -- the thread --------------------------------------------------------------------------------

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def _schedule(self, replies: list[tuple[float, bytes]]) -> None:
        for due, data in replies:
            heapq.heappush(self._outbox, (due, next(self._sequence), data))

    def _flush_due(self, now: float) -> None:
        while self._outbox and self._outbox[0][0] <= now:
            _, _, data = heapq.heappop(self._outbox)
            try:
                self._send(data)
            except OSError as error:
                log.info("%s: reply not delivered: %s", self.url, error)

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._closing:
                    return
                now = time.monotonic()
                if self._reopen_at is not None and now >= self._reopen_at:
                    self._want_down, self._reopen_at = False, None
                want_down, reopen_at = self._want_down, self._reopen_at
            if want_down and self._up:
                self._close_endpoint()
                self._up = False
                self._outbox.clear()
                log.info("simulated pump %s disconnected", self.pump.serial)
            elif not want_down and not self._up:
                try:
                    self._open_endpoint()
                except OSError as error:
                    log.warning("simulated pump %s cannot reopen %s: %s", self.pump.serial, self.url, error)
                else:
                    self._up = True
                    self.connections += 1
                    log.info("simulated pump %s back on %s", self.pump.serial, self.url)
            while not self._unasked.empty():
                self._schedule([self._unasked.get_nowait()])
            self._flush_due(now)
            timeout = 0.5
            if self._outbox:
                timeout = min(timeout, max(0.0, self._outbox[0][0] - now))
            if reopen_at is not None:
                timeout = min(timeout, max(0.0, reopen_at - now))
            fds = [self._wake_r, *(self._read_fds() if self._up else [])]
            readable, _, _ = select.select(fds, [], [], timeout)
            now = time.monotonic()
            for fd in readable:
                if fd == self._wake_r:
                    os.read(self._wake_r, 512)
                elif self._up:
                    self._on_readable(fd, now)
            self._flush_due(now)


class PtyPumpServer(PumpServer):
    """The pump on a pseudo-terminal, reachable through a stable symlink (``url``)."""

    def __init__(
        self, pump: SimulatedPump, link_path: str | os.PathLike[str] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(pump, **kwargs)
        self._own_dir: str | None = None
        if link_path is None:
            self._own_dir = tempfile.mkdtemp(prefix="chairside-sim-")
            link_path = Path(self._own_dir) / f"pump-{pump.serial}"
        self.link_path = Path(link_path)
        self.device = ""
        """The pty's current slave device, e.g. /dev/pts/7 (changes after a disconnect)."""
        self._master = -1
        self._slave = -1

    @property
    def url(self) -> str:
        return str(self.link_path)

    def _open_endpoint(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # whoever opens it gets raw bytes: no echo, no CR/LF translation
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.device = os.ttyname(slave)
        staging = self.link_path.with_name(f".{self.link_path.name}.{os.getpid()}.new")
        with contextlib.suppress(FileNotFoundError):
            staging.unlink()
        staging.symlink_to(self.device)
        staging.replace(self.link_path)
        self.responder.reset_line()

    def _close_endpoint(self) -> None:
        # Closing the master hangs up the slave: the driver's next read fails as on an unplugged adapter.
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._master = self._slave = -1

    def _read_fds(self) -> list[Any]:
        return [self._master]

    def _on_readable(self, fd: Any, now: float) -> None:
        try:
            data = os.read(self._master, 4096)
        except BlockingIOError:
            return
        self._schedule(self.responder.feed(data, now))

    def _send(self, data: bytes) -> None:
        try:
            os.write(self._master, data)
        except BlockingIOError:
            log.info("%s: host not reading, reply dropped", self.url)

    def _cleanup(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.link_path.unlink()
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)


class _LineSettings:
    """The serial line an RFC 2217 client configures; a simulated pump has no real one."""

    def __init__(self) -> None:
        self.baudrate = 38400
        self.bytesize = 8
        self.parity = "N"
        self.stopbits = 1
        self.xonxoff = False
        self.rtscts = False
        self.dtr = True
        self.rts = True
        self.break_condition = False
        self.cts = True
        self.dsr = True
        self.ri = False
        self.cd = True

    def reset_input_buffer(self) -> None:
        pass

    def reset_output_buffer(self) -> None:
        pass


class _SocketWriter:
    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def write(self, data: bytes) -> None:
        self._sock.sendall(data)


class TcpPumpServer(PumpServer):
    """The pump behind a TCP port: raw bytes (``socket://``) or a serial device server (``rfc2217://``).
    One client at a time; a new connection replaces the old one."""

    def __init__(
        self,
        pump: SimulatedPump,
        host: str = "127.0.0.1",
        port: int = 0,
        rfc2217: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(pump, **kwargs)
        self.host = host
        self.port = port
        self.rfc2217 = rfc2217
        self._listener: socket.socket | None = None
        self._client: socket.socket | None = None
        self._manager: Any = None  # serial.rfc2217.PortManager

    @property
    def url(self) -> str:
        return f"{'rfc2217' if self.rfc2217 else 'socket'}://{self.host}:{self.port}"

    def _open_endpoint(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((self.host, self.port))
            listener.listen(1)
        except OSError:
            listener.close()
            raise
        self.port = listener.getsockname()[1]
        self._listener = listener

    def _drop_client(self) -> None:
        if self._client is not None:
            with contextlib.suppress(OSError):
                self._client.shutdown(socket.SHUT_RDWR)
            self._client.close()
        self._client = None
        self._manager = None

    def _close_endpoint(self) -> None:
        self._drop_client()
        if self._listener is not None:
            self._listener.close()
        self._listener = None

    def _read_fds(self) -> list[Any]:
        return [s for s in (self._listener, self._client) if s is not None]

    def _on_readable(self, fd: Any, now: float) -> None:
        if self._listener is not None and fd is self._listener:
            client, _ = self._listener.accept()
            self._drop_client()
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            client.settimeout(2.0)
            self._client = client
            self.responder.reset_line()
            if self.rfc2217:
                self._manager = rfc2217.PortManager(_LineSettings(), _SocketWriter(client))
            return
        try:
            data = fd.recv(4096)
        except OSError:
            data = b""
        if not data:
            self._drop_client()
            return
        if self._manager is not None:
            data = b"".join(self._manager.filter(data))
        if data:
            self._schedule(self.responder.feed(data, now))

    def _send(self, data: bytes) -> None:
        if self._client is None:
            return
        if self._manager is not None:
            data = b"".join(self._manager.escape(data))
        self._client.sendall(data)


def serve_pty(
    pump: SimulatedPump, link_path: str | os.PathLike[str] | None = None, **kwargs: Any
) -> PtyPumpServer:
    """Serve ``pump`` on a new pseudo-terminal; ``.url`` is the path to open, ``.close()`` ends it."""
    server = PtyPumpServer(pump, link_path, **kwargs)
    server.start()
    return server


def serve_tcp(
    pump: SimulatedPump, host: str = "127.0.0.1", port: int = 0, *, rfc2217: bool = False, **kwargs: Any
) -> TcpPumpServer:
    """Serve ``pump`` on TCP; ``.url`` is ``socket://host:port`` or ``rfc2217://host:port``."""
    server = TcpPumpServer(pump, host, port, rfc2217, **kwargs)
    server.start()
    return server


class SimulatorFleet:
    """Many simulated pumps for the demo or a benchmark, each with its own clock at ``speed``.

    ``with SimulatorFleet(6, speed=60) as fleet: urls = fleet.urls``
    """

    def __init__(
        self,
        count: int = 0,
        *,
        transport: str = "pty",
        speed: float = 1.0,
        first_serial: int = 51740,
        link_dir: str | os.PathLike[str] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        if transport not in ("pty", "socket", "rfc2217"):
            raise ValueError(f"transport is pty, socket or rfc2217, not {transport!r}")
        self.transport = transport
        self.speed = speed
        self.host = host
        self._next_serial = first_serial
        self._own_dir: str | None = None
        if link_dir is None and transport == "pty":
            self._own_dir = tempfile.mkdtemp(prefix="chairside-sim-")
            link_dir = self._own_dir
        self.link_dir = None if link_dir is None else Path(link_dir)
        self.servers: list[PumpServer] = []
        try:
            for _ in range(count):
                self.add()
        except BaseException:
            self.close()
            raise

    def add(self, pump: SimulatedPump | None = None) -> PumpServer:
        if pump is None:
            pump = SimulatedPump(f"8002-{self._next_serial}", clock=ScaledClock(self.speed))
            self._next_serial += 1
        server: PumpServer
        if self.transport == "pty":
            assert self.link_dir is not None
            server = serve_pty(pump, self.link_dir / f"chair-{len(self.servers) + 1}")
        else:
            server = serve_tcp(pump, self.host, rfc2217=self.transport == "rfc2217")
        self.servers.append(server)
        return server

    @property
    def pumps(self) -> list[SimulatedPump]:
        return [server.pump for server in self.servers]

    @property
    def urls(self) -> list[str]:
        return [server.url for server in self.servers]

    def close(self) -> None:
        for server in self.servers:
            server.close()
        self.servers.clear()
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)
            self._own_dir = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
