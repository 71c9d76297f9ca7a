"""The simulated pump's side of the wire, byte for byte, and its line faults."""

from __future__ import annotations

import pytest

from drivers.alaris.codec import Frame, FrameDecoder, decode_frame, encode_fields
from drivers.base import CrcError, FrameError
from drivers.sim import AlarisResponder, Faults, ManualClock, SimulatedPump


@pytest.fixture
def pump() -> SimulatedPump:
    return SimulatedPump("8002-51740", clock=ManualClock())


def ask(responder: AlarisResponder, *fields: str, now: float = 0.0) -> bytes | None:
    replies = responder.feed(encode_fields(*fields), now)
    assert len(replies) <= 1
    return replies[0][1] if replies else None


@pytest.mark.parametrize(
    ("request_fields", "reply"),
    [
        (("INST_SERIALNO",), b"!INST_SERIALNO^8002-51740|050B\r"),
        (("COMMS_PROTOCOL",), b"!COMMS_PROTOCOL^Asena Rev 2.1.5|661A\r"),
        (("COMMS_RESPONSE_MAX",), b"!COMMS_RESPONSE_MAX^4000^ms|DFDF\r"),
        (("REMOTE_CTRL", "ENABLED", "3CC1"), b"!REMOTE_CTRL^ENABLED^****^PERMIT^0^ms|7BB0\r"),
        (("REMOTE_CTRL", "DISABLED"), b"!REMOTE_CTRL^DISABLED^****^PERMIT^0^ms|3C5D\r"),
        (("ALARM",), b"!ALARM^AL_NOALM^ ^ |C73B\r"),
        (("SYRINGE_STATUS",), b"!SYRINGE_STATUS^BD PLASTIPAK^ 50^CONF|1CF8\r"),
        (("REMQUERY", "DEACT"), b"!REMQUERY^DEACT^^^|B968\r"),  # SingleSimAlaris sent E5C9 here
    ],
)
def test_published_replies_byte_exact(
    pump: SimulatedPump, request_fields: tuple[str, ...], reply: bytes
) -> None:
    assert ask(AlarisResponder(pump), *request_fields) == reply


def test_status_replies_follow_the_model(pump: SimulatedPump) -> None:
    responder = AlarisResponder(pump)
    pump.change_bag(500)
    pump.set_rate(120)
    pump.start()
    pump.clock.advance(1800)
    assert ask(responder, "INF") == encode_fields(
        "INF", "8002-51740", "-", "INFUS", "120.00", "ml/h", "", "60.000", "ml", "22.00", "mmHg", "03:40:00",
        "EVENT", str(pump.snapshot().log_id),
    )  # fmt: skip
    assert ask(responder, "INF_VTBI") == encode_fields("INF_VTBI", "ACTIV", "440.000", "ml", "KVO")
    assert ask(responder, "INF_RATE") == encode_fields("INF_RATE", "120.00", "ml/h")
    assert ask(responder, "INF_VI") == encode_fields("INF_VI", "60.000", "ml")
    assert ask(responder, "REMOTE_CFG", "ENABLED", "3CC1") == encode_fields(
        "REMOTE_CFG", "ENABLED", "****", "PERMIT", "0", "ms"
    )
    pump.raise_alarm("occlusion")
    assert ask(responder, "ALARM") == encode_fields("ALARM", "AL_OCCLU", "OCCLUSION", " ")
    assert decode_frame(ask(responder, "INF") or b"").fields[2:4] == ("AL_OCCLU", "ALARM")


def test_delivery_commands_are_counted_and_obeyed_only_after_the_handshake(pump: SimulatedPump) -> None:
    responder = AlarisResponder(pump)
    assert ask(responder, "INF_RATE", "0.10", "ml/h") is None  # remote control not enabled
    ask(responder, "REMOTE_CTRL", "ENABLED", "3CC1")
    assert ask(responder, "INF_RATE", "0.10", "ml/h") == b"!INF_RATE^0.10^ml/h|D407\r"
    assert pump.snapshot().set_rate_ml_h == 0.1
    assert ask(responder, "INF_START") == b"!INF_START|38F3\r"
    assert ask(responder, "INF_VI_CLEAR") == b"!INF_VI_CLEAR|A706\r"
    assert responder.delivery_commands == [
        "INF_RATE^0.10^ml/h",
        "INF_RATE^0.10^ml/h",
        "INF_START",
        "INF_VI_CLEAR",
    ]


def test_a_wrong_handshake_code_is_refused(pump: SimulatedPump) -> None:
    reply = ask(AlarisResponder(pump), "REMOTE_CTRL", "ENABLED", "FFFF")
    assert reply is not None and decode_frame(reply).fields[1] == "DISABLED"


def test_silent_when_off_unknown_or_not_yet_enabled(pump: SimulatedPump) -> None:
    responder = AlarisResponder(pump, require_remote_ctrl=True)
    assert ask(responder, "INF") is None
    assert ask(responder, "INST_SERIALNO") is not None  # start-up queries are always answered
    assert ask(responder, "REMOTE_CTRL", "ENABLED", "3CC1") is not None
    assert ask(responder, "INF") is not None
    assert ask(responder, "NO_SUCH_THING") is None
    pump.power_cycle(off_s=10)
    assert ask(responder, "INST_SERIALNO") is None
    pump.clock.advance(10)
    assert ask(responder, "INST_SERIALNO") is not None
    assert ask(responder, "INF") is None  # a reboot forgets the handshake
    assert responder.unanswered["INF"] == 2
    assert responder.bad_requests == 0
    responder.feed(b"!INF|0000\r", 0.0)
    assert responder.bad_requests == 1


def test_line_faults(pump: SimulatedPump) -> None:
    faults = Faults(seed=1)
    responder = AlarisResponder(pump, faults)
    faults.bad_crc(1)
    corrupt = ask(responder, "ALARM")
    assert corrupt is not None
    with pytest.raises(CrcError):
        decode_frame(corrupt)
    assert ask(responder, "ALARM") == b"!ALARM^AL_NOALM^ ^ |C73B\r"  # only the next one

    faults.garbage(1, size=30)
    noisy = ask(responder, "ALARM")
    assert noisy is not None and noisy.endswith(b"!ALARM^AL_NOALM^ ^ |C73B\r") and len(noisy) == 30 + 25
    assert [i for i in FrameDecoder().feed(noisy) if isinstance(i, Frame)] == [Frame(b"ALARM^AL_NOALM^ ^ ")]

    faults.slow(delay_s=0.5, duration_s=2.0, now=10.0)
    [(due, _)] = responder.feed(encode_fields("ALARM"), 11.0)
    assert due == 11.5
    [(due, _)] = responder.feed(encode_fields("ALARM"), 12.5)
    assert due == 12.5

    faults.silence(3.0, now=20.0)
    assert responder.feed(encode_fields("ALARM"), 22.9) == []
    assert len(responder.feed(encode_fields("ALARM"), 23.0)) == 1
    assert dict(faults.injected) == {"bad_crc": 1, "garbage": 1, "slow": 1, "silence": 1}


def test_the_spy_keeps_every_request(pump: SimulatedPump) -> None:
    responder = AlarisResponder(pump)
    responder.feed(b"!INF|4961\r!ALA", 0.0)
    responder.feed(b"RM|50B2\rnoise", 0.0)
    assert responder.spy.raw == b"!INF|4961\r!ALARM|50B2\rnoise"
    assert responder.spy.commands() == {"INF": 1, "ALARM": 1}
    assert not [i for i in FrameDecoder().feed(responder.spy.raw) if isinstance(i, FrameError)]
