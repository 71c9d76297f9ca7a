"""Property tests of the Alaris decoder: noise, splits and arbitrary bytes."""

from __future__ import annotations

import contextlib

from hypothesis import assume, given
from hypothesis import strategies as st

from drivers.alaris import messages
from drivers.alaris.codec import Frame, FrameDecoder, decode_frame, encode_fields
from drivers.base import DriverError, FrameError

# Field text: printable ASCII without the framing characters.
field_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="!|^"), max_size=12
)
frame_fields = st.lists(field_text, min_size=1, max_size=8).filter(
    lambda fields: fields[0] != "" or len(fields) > 1
)
noise = st.binary(max_size=40)


def feed_in_pieces(data: bytes, cuts: list[int]) -> list[Frame | FrameError]:
    decoder = FrameDecoder()
    out: list[Frame | FrameError] = []
    points = sorted({min(cut, len(data)) for cut in cuts})
    start = 0
    for point in [*points, len(data)]:
        out += decoder.feed(data[start:point])
        start = point
    return out


def frames_in(items: list[Frame | FrameError]) -> list[Frame]:
    return [item for item in items if isinstance(item, Frame)]


@given(
    st.lists(st.tuples(noise, frame_fields), max_size=8), noise, st.lists(st.integers(0, 2000), max_size=12)
)
def test_frames_between_noise_are_all_recovered_in_order(
    parts: list[tuple[bytes, list[str]]], tail: bytes, cuts: list[int]
) -> None:
    # Noise that happens to hold a valid frame of its own would be a frame; keep it out.
    for junk in [*(junk for junk, _ in parts), tail]:
        assume(not frames_in(FrameDecoder().feed(junk)))
    expected = [encode_fields(*fields) for _, fields in parts]
    stream = b"".join(junk + raw for (junk, _), raw in zip(parts, expected, strict=True)) + tail
    got = frames_in(feed_in_pieces(stream, cuts))
    assert [frame.raw for frame in got] == expected
    assert [list(frame.fields) for frame in got] == [fields for _, fields in parts]


@given(st.binary(max_size=300), st.lists(st.integers(0, 300), max_size=10))
def test_arbitrary_bytes_give_only_frames_or_frame_errors(data: bytes, cuts: list[int]) -> None:
    for item in feed_in_pieces(data, cuts):
        assert isinstance(item, Frame | FrameError)
        if isinstance(item, Frame):
            assert decode_frame(item.raw) == item  # only CRC-valid frames come out


@given(st.binary(max_size=120))
def test_single_frame_decoding_raises_only_frame_errors(data: bytes) -> None:
    try:
        frame = decode_frame(data)
    except FrameError:
        return
    assert frame.raw == data


@given(frame_fields)
def test_encode_then_decode_round_trips(fields: list[str]) -> None:
    raw = encode_fields(*fields)
    assert list(decode_frame(raw).fields) == fields
    assert FrameDecoder().feed(raw) == [decode_frame(raw)]


inf_like = st.lists(
    st.one_of(
        field_text, st.sampled_from(["ml/h", "ml", "mmHg", "1.5", "-", "24+", "01:02:03", "nan", "1e999"])
    ),
    min_size=0,
    max_size=16,
)


@given(
    st.sampled_from(["INF", "INF_VTBI", "ALARM", "INST_SERIALNO", "COMMS_RESPONSE_MAX", "REMOTE_CTRL"]),
    inf_like,
)
def test_reply_parsers_raise_only_driver_errors(command: str, rest: list[str]) -> None:
    frame = Frame("^".join([command, *rest]).encode("latin-1"))
    parsers = {
        "INF": messages.parse_inf,
        "INF_VTBI": messages.parse_vtbi,
        "ALARM": messages.parse_alarm,
        "INST_SERIALNO": lambda f: messages.parse_single(f, "INST_SERIALNO"),
        "COMMS_RESPONSE_MAX": messages.parse_response_max_ms,
        "REMOTE_CTRL": messages.handshake_accepted,
    }
    with contextlib.suppress(DriverError):  # anything else escaping fails the test
        parsers[command](frame)
