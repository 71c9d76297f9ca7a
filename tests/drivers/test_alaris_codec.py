"""Byte-exact framing against the frames published in reference/pump-protocols.md and OpenICE."""

from __future__ import annotations

import pytest

from drivers.alaris.codec import (
    MAX_BODY_BYTES,
    Frame,
    FrameDecoder,
    crc16,
    crc_text,
    decode_frame,
    encode_body,
    encode_fields,
)
from drivers.alaris.messages import remote_ctrl_enable
from drivers.base import CrcError, FrameError

# The test vectors of reference/pump-protocols.md, with their fields.
PUBLISHED = [
    (b"!INF|4961\r", ("INF",)),
    (b"!INST_SERIALNO^8002-51740|050B\r", ("INST_SERIALNO", "8002-51740")),
    (b"!COMMS_PROTOCOL^Asena Rev 2.1.5|661A\r", ("COMMS_PROTOCOL", "Asena Rev 2.1.5")),
    (
        b"!REMOTE_CTRL^ENABLED^****^PERMIT^0^ms|7BB0\r",
        ("REMOTE_CTRL", "ENABLED", "****", "PERMIT", "0", "ms"),
    ),
    (b"!INF_RATE^0.10^ml/h|D407\r", ("INF_RATE", "0.10", "ml/h")),
    (b"!ALARM^AL_NOALM^ ^ |C73B\r", ("ALARM", "AL_NOALM", " ", " ")),
    (b"!INF_VTBI^ACTIV^11.000^ml^STOP|4433\r", ("INF_VTBI", "ACTIV", "11.000", "ml", "STOP")),
]

# Constants in OpenICE Asena.java / SingleSimAlaris.java / AlarisMITM.java (requests and replies).
OPENICE = [
    b"!COMMS_PROTOCOL|E8DA\r",
    b"!INST_SERIALNO|457D\r",
    b"!INF_VTBI|8456\r",
    b"!ALARM|50B2\r",
    b"!REMOTE_CTRL^ENABLED^3CC1|B1F1\r",
    b"!REMOTE_CTRL^DISABLED|EF95\r",
    b"!REMOTE_CTRL^DISABLED^****^PERMIT^0^ms|3C5D\r",
    b"!COMMS_RESPONSE_MAX^4000^ms|DFDF\r",
    b"!SYRINGE_STATUS^BD PLASTIPAK^ 50^CONF|1CF8\r",
    b"!INF_RATE_MAX_SYRINGE^1200.00^ml/h|8575\r",
    b"!INF_RATE^0.1^ml/h|B775\r",
    b"!INF_START|38F3\r",
    b"!INF_STOP|CD57\r",
    b"!INF_VI_CLEAR|A706\r",
    b"!INF_VTBI^DEACT|D8C5\r",
    b"!INF_BOLUS^ENABLED|E288\r",
    b"!REMQUERY^DEACT|F295\r",
]

WRONG_CRC = b"!REMQUERY^DEACT^^^|E5C9\r"


@pytest.mark.parametrize(("raw", "fields"), PUBLISHED, ids=[f[0] for _, f in PUBLISHED])
def test_published_frames_encode_and_decode_byte_exact(raw: bytes, fields: tuple[str, ...]) -> None:
    assert encode_fields(*fields) == raw
    frame = decode_frame(raw)
    assert frame.fields == fields
    assert frame.command == fields[0]
    assert frame.raw == raw
    assert FrameDecoder().feed(raw) == [frame]


@pytest.mark.parametrize("raw", OPENICE, ids=[r.decode().strip() for r in OPENICE])
def test_openice_frames_decode_and_reencode_byte_exact(raw: bytes) -> None:
    frame = decode_frame(raw)
    assert encode_body(frame.body) == raw
    assert encode_fields(*frame.fields) == raw


def test_crc_is_ccitt_false() -> None:
    assert crc16(b"123456789") == 0x29B1  # the catalogue check value of CRC-16/CCITT-FALSE
    assert crc_text("8002-51740") == "3CC1"


def test_handshake_frame_is_openices() -> None:
    assert remote_ctrl_enable("8002-51740") == b"!REMOTE_CTRL^ENABLED^3CC1|B1F1\r"


def test_wrong_crc_from_singlesimalaris_is_rejected() -> None:
    with pytest.raises(CrcError, match="B968"):
        decode_frame(WRONG_CRC)
    decoder = FrameDecoder()
    out = decoder.feed(WRONG_CRC + b"!INF|4961\r")
    assert isinstance(out[0], CrcError)
    assert out[1:] == [Frame(b"INF")]
    # With the CRC the body really has, the same frame is fine.
    assert decode_frame(b"!REMQUERY^DEACT^^^|B968\r").fields == ("REMQUERY", "DEACT", "", "", "")


@pytest.mark.parametrize(
    "raw",
    [
        b"!INF|4961",  # no CR
        b"INF|4961\r",  # no start
        b"!INF4961\r",  # no CRC separator
        b"!INF|496\r",  # short CRC
        b"!INF|4961A\r",  # long CRC
        b"!INF|4g61\r",  # not hex
        b"!INF|4961\r!INF|4961\r",  # two frames
        b"!|FFFF\r",  # empty body
    ],
)
def test_malformed_single_frames_raise_frame_error(raw: bytes) -> None:
    with pytest.raises(FrameError):
        decode_frame(raw)


def test_lower_case_crc_is_not_the_protocol() -> None:
    with pytest.raises(FrameError):
        decode_frame(b"!INST_SERIALNO^8002-51740|050b\r")


@pytest.mark.parametrize("body", [b"", b"A!B", b"A\rB", b"A\x1bB", b"A|B"])
def test_bodies_that_cannot_be_framed_are_refused(body: bytes) -> None:
    with pytest.raises(FrameError):
        encode_body(body)


def test_decoder_takes_a_frame_one_byte_at_a_time() -> None:
    decoder = FrameDecoder()
    raw = PUBLISHED[2][0]
    out = [item for byte in raw for item in decoder.feed(bytes([byte]))]
    assert out == [decode_frame(raw)]


def test_esc_aborts_the_frame_in_progress() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"!INF_VTBI^ACT\x1b") == []
    assert decoder.aborted_frames == 1
    assert decoder.feed(b"IV^11.000|0000\r") == []  # the rest of the aborted frame is line noise
    assert decoder.feed(b"!INF|4961\r") == [Frame(b"INF")]


def test_a_new_start_resynchronises_and_reports_the_cut_frame() -> None:
    out = FrameDecoder().feed(b"\x00\xff garbage !INF_VT!INF|4961\r")
    assert isinstance(out[0], FrameError)
    assert out[1:] == [Frame(b"INF")]


def test_runaway_frame_is_dropped_and_the_next_one_read() -> None:
    decoder = FrameDecoder()
    out = decoder.feed(b"!" + b"A" * (MAX_BODY_BYTES + 10) + b"|0000\r!INF|4961\r")
    assert isinstance(out[0], FrameError)
    assert out[1:] == [Frame(b"INF")]


def test_garbage_is_counted() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"xyz\r\r!INF|4961\r") == [Frame(b"INF")]
    assert decoder.garbage_bytes == 5
