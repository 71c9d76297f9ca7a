"""Framing of the Alaris GH/CC ("Asena") protocol.

A frame is ``!`` + body + ``|`` + CRC (4 upper-case hex digits) + CR. The body's fields are separated by
``^``; there is no escaping. ESC (0x1B) aborts the frame in progress. The CRC is CRC-16/CCITT-FALSE of
the body. Sources: OpenICE ``Asena.java`` / ``SingleSimAlaris.java`` and infupy ``alaris.py`` agree.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass

from drivers.base import CrcError, FrameError

START = 0x21  # "!"
END = 0x0D  # CR
ESC = 0x1B
CRC_SEPARATOR = b"|"
FIELD_SEPARATOR = "^"
MAX_BODY_BYTES = 1024
"""Longer than any reply we know of (an INF reply is about 80 bytes); a runaway frame is dropped."""

_DELIMITERS = re.compile(rb"[!\r\x1b]")
_CRC_DIGITS = re.compile(rb"[0-9A-F]{4}")


def crc16(body: bytes) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final XOR."""
    return binascii.crc_hqx(body, 0xFFFF)


def crc_text(data: str) -> str:
    """The CRC as the protocol writes it: 4 upper-case hex digits."""
    return f"{crc16(data.encode('latin-1')):04X}"


def encode_body(body: bytes) -> bytes:
    if not body or any(b in (START, END, ESC) for b in body) or CRC_SEPARATOR in body:
        raise FrameError(f"body cannot be framed: {body!r}")
    return b"!" + body + b"|" + b"%04X" % crc16(body) + b"\r"


def join_fields(*fields: str) -> bytes:
    return FIELD_SEPARATOR.join(fields).encode("latin-1")


def encode_fields(*fields: str) -> bytes:
    """``encode_fields("INF_RATE", "0.10", "ml/h") == b"!INF_RATE^0.10^ml/h|D407\\r"``."""
    return encode_body(join_fields(*fields))


@dataclass(frozen=True, slots=True)
class Frame:
    body: bytes

    @property
    def fields(self) -> tuple[str, ...]:
        # latin-1 maps every byte, so decoding a body can never raise.
        return tuple(self.body.decode("latin-1").split(FIELD_SEPARATOR))

    @property
    def command(self) -> str:
        return self.body.split(b"^", 1)[0].decode("latin-1")

    @property
    def raw(self) -> bytes:
        return b"!" + self.body + b"|" + b"%04X" % crc16(self.body) + b"\r"


def _check(content: bytes) -> Frame:
    """``content`` is what stood between ``!`` and CR."""
    body, sep, crc = content.rpartition(CRC_SEPARATOR)
    if not sep:
        raise FrameError(f"no CRC separator in {content[:40]!r}")
    if not body:
        raise FrameError("empty frame body")
    if not _CRC_DIGITS.fullmatch(crc):
        raise FrameError(f"bad CRC field {crc[:8]!r} in {content[:40]!r}")
    expected = crc16(body)
    if int(crc, 16) != expected:
        raise CrcError(f"CRC {crc.decode()} but body gives {expected:04X}: {content[:40]!r}")
    return Frame(body)


def decode_frame(raw: bytes) -> Frame:
    """Decode exactly one complete frame (``!...|XXXX\\r``); raise FrameError otherwise."""
    if len(raw) < 2 or raw[0] != START or raw[-1] != END:
        raise FrameError(f"not a single frame: {raw[:40]!r}")
    content = raw[1:-1]
    if _DELIMITERS.search(content):
        raise FrameError(f"not a single frame: {raw[:40]!r}")
    return _check(content)


class FrameDecoder:
    """Turns a byte stream into frames, resynchronising on the next ``!`` after any damage.

    ``feed`` never raises: it returns the frames found, in order, interleaved with a FrameError for
    each damaged frame, so the link can count and log them and carry on.
    """

    __slots__ = ("_buf", "_in_frame", "aborted_frames", "garbage_bytes")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._in_frame = False
        self.garbage_bytes = 0
        """Bytes outside any frame (line noise)."""
        self.aborted_frames = 0
        """Frames cut short by ESC, as the protocol allows."""

    def reset(self) -> None:
        self._buf.clear()
        self._in_frame = False

    def _take(self, segment: bytes, out: list[Frame | FrameError]) -> None:
        if not self._in_frame:
            self.garbage_bytes += len(segment)
            return
        self._buf += segment
        if len(self._buf) > MAX_BODY_BYTES + 5:
            out.append(FrameError(f"frame longer than {MAX_BODY_BYTES} bytes dropped"))
            self.reset()

    def feed(self, data: bytes) -> list[Frame | FrameError]:
        out: list[Frame | FrameError] = []
        pos = 0
        for match in _DELIMITERS.finditer(data):
            at = match.start()
            if at > pos:
                self._take(data[pos:at], out)
            pos = at + 1
            delimiter = data[at]
            if delimiter == START:
                if self._in_frame and self._buf:
                    out.append(FrameError(f"frame cut short by a new start: {bytes(self._buf[:40])!r}"))
                self._buf.clear()
                self._in_frame = True
            elif delimiter == ESC:
                if self._in_frame:
                    self.aborted_frames += 1
                self.reset()
            elif self._in_frame:  # CR ends the frame in progress
                content = bytes(self._buf)
                self.reset()
                try:
                    out.append(_check(content))
                except FrameError as error:
                    out.append(error)
            else:
                self.garbage_bytes += 1
        if pos < len(data):
            self._take(data[pos:], out)
        return out
