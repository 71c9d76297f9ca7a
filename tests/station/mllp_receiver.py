"""A local MLLP receiver for the live-feed tests and bench: a thread on 127.0.0.1 that answers each
message as its policy says (AA, AE, AR, or drop the connection without an answer), can be stopped and
started again on the same port, and records what it received and what it accepted. Given a server
`ssl.SSLContext` it speaks MLLP over TLS (and counts the handshakes that failed)."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections import Counter
from collections.abc import Callable

from tests.ports import free_port

Policy = Callable[[str, int], str]
"""(MSH-10, how many times this control id arrived) -> "AA" | "AE" | "AR" | "drop"."""


def accept_all(_control_id: str, _attempt: int) -> str:
    return "AA"


def control_id(er7: str) -> str:
    return er7.split("\r", 1)[0].split("|")[9]


class MllpReceiver:
    def __init__(self, policy: Policy = accept_all, tls: ssl.SSLContext | None = None) -> None:
        self.policy = policy
        self.tls = tls
        self.handshake_failures: list[str] = []
        self.received: list[str] = []  # MSH-10 of every message that arrived (resends too)
        self.accepted: list[str] = []  # MSH-10 of every message answered AA, in order
        self.messages: dict[str, str] = {}
        self.attempts: Counter[str] = Counter()
        self.connections = 0
        self.changed = threading.Condition()
        self.port = free_port()  # kept: the receiver restarts on the same port
        self._listener: socket.socket | None = None
        self._conn: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> MllpReceiver:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(4)
        self._listener = listener
        self._thread = threading.Thread(target=self._serve, args=(listener,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """The engine goes down: the listening socket and the open connection close."""
        for sock in (self._listener, self._conn):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
        if self._thread is not None:
            self._thread.join(10)
        self._listener = self._conn = None

    def wait_accepted(self, count: int, timeout_s: float = 30.0) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: len(self.accepted) >= count, timeout_s)

    def wait_received(self, count: int, timeout_s: float = 30.0) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: len(self.received) >= count, timeout_s)

    def _serve(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            if self.tls is not None:
                try:
                    conn.settimeout(10)
                    conn = self.tls.wrap_socket(conn, server_side=True)
                    conn.settimeout(None)
                except (ssl.SSLError, OSError) as exc:
                    conn.close()
                    with self.changed:
                        self.handshake_failures.append(str(exc))
                        self.changed.notify_all()
                    continue
            self._conn = conn
            with self.changed:
                self.connections += 1
            self._handle(conn)

    def _handle(self, conn: socket.socket) -> None:
        buffer = bytearray()
        with conn:
            while True:
                end = buffer.find(b"\x1c\r")
                if end == -1:
                    try:
                        chunk = conn.recv(65536)
                    except OSError:
                        return
                    if not chunk:
                        return
                    buffer.extend(chunk)
                    continue
                er7 = buffer[buffer.find(b"\x0b") + 1 : end].decode("utf-8")
                del buffer[: end + 2]
                msh10 = control_id(er7)
                with self.changed:
                    self.attempts[msh10] += 1
                    self.received.append(msh10)
                    self.messages[msh10] = er7
                    answer = self.policy(msh10, self.attempts[msh10])
                    self.changed.notify_all()
                if answer == "drop":
                    return
                ack = f"MSH|^~\\&|ENGINE|HOSP|||20260105080000||ACK|A{msh10}|P|2.6\rMSA|{answer}|{msh10}\r"
                try:
                    conn.sendall(b"\x0b" + ack.encode("utf-8") + b"\x1c\r")
                except OSError:
                    return
                if answer == "AA":  # accepted once the answer is on its way
                    with self.changed:
                        self.accepted.append(msh10)
                        self.changed.notify_all()
