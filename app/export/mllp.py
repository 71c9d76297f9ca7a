"""Sending HL7 messages over MLLP (minimal lower layer protocol) and checking each acknowledgement.

One TCP connection; each message framed as <VT> message <FS><CR>, the message's last segment ended by
its own CR (so the bytes before <FS> are ...<CR><FS><CR>); the next message goes only after
the previous one was accepted (AA, or CA for enhanced mode), so the receiver's record keeps the
journal's order. AE/AR (CE/CR), a wrong MSA-2, silence past the timeout or a closed connection stop
the transfer with a message that says how many were accepted.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from app.export.hl7 import Hl7Message

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\r"
ACCEPTED = {"AA", "CA"}


class MllpError(RuntimeError):
    """The receiver did not accept every message; says which one and why."""

    def __init__(self, message: str, accepted: int) -> None:
        super().__init__(message)
        self.accepted = accepted


@dataclass(frozen=True)
class Ack:
    code: str
    control_id: str
    text: str


def parse_address(text: str) -> tuple[str, int]:
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"--mllp {text!r}: use HOST:PORT, e.g. 10.1.2.3:2575")
    return host.strip("[]"), int(port_text)


def open_mllp(host: str, port: int, timeout_s: float, tls: ssl.SSLContext | None = None) -> socket.socket:
    """A connection to an MLLP receiver: plain TCP, or TLS (the receiver's certificate and host name
    checked by `tls`, which may carry the station's client certificate). OSError when it fails."""
    sock = socket.create_connection((host, port), timeout=timeout_s)
    if tls is None:
        return sock
    try:
        return tls.wrap_socket(sock, server_hostname=host)
    except BaseException:
        sock.close()
        raise


def frame(er7: str) -> bytes:
    body = er7 if er7.endswith("\r") else er7 + "\r"
    return START_BLOCK + body.encode("utf-8") + END_BLOCK


class Cursor:
    """Which messages a receiver has acknowledged, kept next to the database (one JSON line per ACK),
    so `export --mllp` resumes where it stopped instead of starting again at message 1."""

    def __init__(self, path: Path, receiver: str, scope: str) -> None:
        self.path = path
        self.receiver = receiver
        self.scope = scope
        self.accepted: set[str] = set()
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # a line cut short by a crash: that ACK is simply sent again
                if record.get("receiver") == receiver and record.get("scope") == scope:
                    self.accepted.add(str(record.get("control_id")))

    def record(self, control_id: str) -> None:
        self.accepted.add(control_id)
        line = json.dumps({"receiver": self.receiver, "scope": self.scope, "control_id": control_id})
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())


def parse_ack(er7: str) -> Ack:
    """MSA-1 (code), MSA-2 (control id) and the best error text (MSA-3 or ERR-8 / ERR-3)."""
    fields: dict[str, list[str]] = {}
    for segment in er7.replace("\n", "\r").split("\r"):
        if segment[:3] in ("MSA", "ERR") and segment[:3] not in fields:
            fields[segment[:3]] = segment.split("|")
    msa = fields.get("MSA")
    if msa is None or len(msa) < 3:
        raise ValueError("the reply has no MSA segment")
    text = msa[3] if len(msa) > 3 else ""
    err = fields.get("ERR")
    if not text and err is not None:
        text = next((f for f in (err[8] if len(err) > 8 else "", err[3] if len(err) > 3 else "") if f), "")
    return Ack(msa[1], msa[2], text)


def _read_frame(sock: socket.socket, buffer: bytearray) -> bytes:
    while True:
        end = buffer.find(END_BLOCK)
        if end != -1:
            start = buffer.find(START_BLOCK)
            payload = bytes(buffer[start + 1 if start != -1 and start < end else 0 : end])
            del buffer[: end + len(END_BLOCK)]
            return payload
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the receiver closed the connection")
        buffer.extend(chunk)


def send_messages(
    messages: Sequence[Hl7Message],
    host: str,
    port: int,
    timeout_s: float = 10.0,
    progress: Callable[[int, int], None] | None = None,
    cursor: Cursor | None = None,
    tls: ssl.SSLContext | None = None,
) -> int:
    """Send every message not yet acknowledged (per `cursor`) and wait for each acknowledgement.
    Returns how many were accepted in this call."""
    if cursor is not None:
        messages = [m for m in messages if m.control_id not in cursor.accepted]
    if not messages:
        return 0
    where = f"{host}:{port}"
    try:
        sock = open_mllp(host, port, timeout_s, tls)
    except OSError as exc:
        raise MllpError(f"cannot connect to the HL7 receiver at {where}: {exc}", 0) from exc
    accepted = 0
    buffer = bytearray()
    with sock:
        sock.settimeout(timeout_s)
        for message in messages:
            label = f"message {accepted + 1} of {len(messages)} ({message.control_id}, {message.what})"
            try:
                sock.sendall(frame(message.er7))
                reply = _read_frame(sock, buffer).decode("utf-8", errors="replace")
            except TimeoutError as exc:
                raise MllpError(
                    f"no acknowledgement from {where} within {timeout_s:g} s for {label}; "
                    f"{accepted} message(s) were accepted before it",
                    accepted,
                ) from exc
            except OSError as exc:
                raise MllpError(
                    f"sending {label} to {where} failed: {exc}; {accepted} accepted before it", accepted
                ) from exc
            try:
                ack = parse_ack(reply)
            except ValueError as exc:
                raise MllpError(
                    f"{where} answered {label} with something that is not an HL7 ACK: {exc}", accepted
                ) from exc
            if ack.control_id != message.control_id:
                raise MllpError(
                    f"{where} acknowledged {ack.control_id!r} when {label} was sent; stopped ({accepted} accepted)",
                    accepted,
                )
            if ack.code not in ACCEPTED:
                meaning = {"AE": "error", "AR": "rejected", "CE": "error", "CR": "rejected"}.get(
                    ack.code, "not accepted"
                )
                detail = f": {ack.text}" if ack.text else ""
                raise MllpError(
                    f"{where} {meaning} {label} (MSA-1 {ack.code}{detail}); stopped, {accepted} accepted before it",
                    accepted,
                )
            accepted += 1
            if cursor is not None:
                cursor.record(message.control_id)
            if progress is not None:
                progress(accepted, len(messages))
    return accepted
