"""Replies to Telemetry, and the allow-list that keeps delivery commands off the wire."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

import drivers
from drivers.alaris import messages
from drivers.alaris.codec import Frame, decode_frame, encode_fields
from drivers.alaris.driver import _guard
from drivers.base import AlarmKind, DeliveryState, ForbiddenCommandError, ProtocolError, PumpAlarm

AT = datetime(2025, 3, 4, 9, 30, tzinfo=UTC)
PUBLISHED_INF = "INF^8002-51740^-^SET^5.00^ml/h^^1.234^ml^17.91^mmHg^24+^EVENT^127904"


def frame(body: str) -> Frame:
    return Frame(body.encode("latin-1"))


def test_published_inf_reply() -> None:
    inf = messages.parse_inf(frame(PUBLISHED_INF))
    assert inf == messages.InfReply(
        serial="8002-51740",
        alarm_code=None,
        state=DeliveryState.STOPPED,
        rate_ml_h=5.0,
        volume_infused_ml=1.234,
        pressure_mmhg=17.91,
        time_remaining_min=None,  # "24+": 24 h or more
    )


def test_inf_reply_with_an_alarm_and_a_time() -> None:
    body = "INF^8002-51740^AL_OCCLU^ALARM^120.00^ml/h^^80.000^ml^350.00^mmHg^01:30:30^EVENT^9"
    inf = messages.parse_inf(frame(body))
    assert inf.alarm_code == "AL_OCCLU"
    assert inf.state is DeliveryState.ALARM
    assert inf.time_remaining_min == pytest.approx(90.5)


@pytest.mark.parametrize(
    ("word", "state"),
    [
        ("INFUS", DeliveryState.INFUSING),
        ("HOLD", DeliveryState.PAUSED),
        ("KVO", DeliveryState.KVO),
        ("EOI", DeliveryState.COMPLETE),
        ("WHATEVER", DeliveryState.UNKNOWN),
    ],
)
def test_mode_words(word: str, state: DeliveryState) -> None:
    assert messages.parse_inf(frame(PUBLISHED_INF.replace("^SET^", f"^{word}^"))).state is state


@pytest.mark.parametrize(
    "body",
    [
        PUBLISHED_INF.replace("ml/h", "mg/h"),  # a dose mode: the rate is not in mL/h
        PUBLISHED_INF.replace("^1.234^", "^lots^"),
        PUBLISHED_INF.replace("^5.00^", "^nan^"),
        "INF^8002-51740^-^SET",
        "INF_VTBI^ACTIV^11.000^ml^STOP",
    ],
)
def test_unusable_inf_replies_raise_protocol_error(body: str) -> None:
    with pytest.raises(ProtocolError):
        messages.parse_inf(frame(body))


def test_vtbi_replies() -> None:
    assert messages.parse_vtbi(decode_frame(b"!INF_VTBI^ACTIV^11.000^ml^STOP|4433\r")) == 11.0
    assert messages.parse_vtbi(frame("INF_VTBI^DEACT^0.000^ml^STOP")) is None
    with pytest.raises(ProtocolError):
        messages.parse_vtbi(frame("INF_VTBI^ACTIV^11.000^l^STOP"))


def test_alarm_replies() -> None:
    assert messages.parse_alarm(decode_frame(b"!ALARM^AL_NOALM^ ^ |C73B\r")) is None
    assert messages.parse_alarm(frame("ALARM^AL_OCCLU^OCCLUSION^ ")) == PumpAlarm(
        "AL_OCCLU", "OCCLUSION", AlarmKind.OCCLUSION
    )
    unknown = messages.parse_alarm(frame("ALARM^AL_ZZZZZ^ ^ "))
    assert unknown == PumpAlarm("AL_ZZZZZ", "AL_ZZZZZ", AlarmKind.OTHER)


def test_startup_replies() -> None:
    assert messages.parse_single(decode_frame(b"!INST_SERIALNO^8002-51740|050B\r"), "INST_SERIALNO") == (
        "8002-51740"
    )
    assert messages.parse_response_max_ms(decode_frame(b"!COMMS_RESPONSE_MAX^4000^ms|DFDF\r")) == 4000
    assert messages.handshake_accepted(decode_frame(b"!REMOTE_CTRL^ENABLED^****^PERMIT^0^ms|7BB0\r"))
    assert not messages.handshake_accepted(decode_frame(b"!REMOTE_CTRL^DISABLED^****^PERMIT^0^ms|3C5D\r"))
    with pytest.raises(ProtocolError):
        messages.parse_single(frame("INST_SERIALNO^ "), "INST_SERIALNO")


def test_telemetry_merges_the_inf_alarm_and_the_alarm_reply() -> None:
    inf = messages.parse_inf(frame(PUBLISHED_INF.replace("^-^", "^AL_LWBAT^")))
    occlusion = PumpAlarm("AL_OCCLU", "OCCLUSION", AlarmKind.OCCLUSION)
    telemetry = messages.build_telemetry(AT, inf, 11.0, occlusion)
    assert [a.code for a in telemetry.alarms] == ["AL_LWBAT", "AL_OCCLU"]
    same = messages.build_telemetry(
        AT, messages.parse_inf(frame(PUBLISHED_INF.replace("^-^", "^AL_OCCLU^"))), 1.0, occlusion
    )
    assert same.alarms == (occlusion,)
    assert telemetry.at == AT
    assert telemetry.vtbi_ml == 11.0


def test_telemetry_needs_an_aware_time() -> None:
    inf = messages.parse_inf(frame(PUBLISHED_INF))
    with pytest.raises(ValueError, match="aware"):
        messages.build_telemetry(datetime(2025, 3, 4, 9, 30), inf, None, None)


@pytest.mark.parametrize("command", sorted(messages.QUERY_COMMANDS))
def test_every_query_passes_the_gate(command: str) -> None:
    raw = messages.query(command)
    assert raw == encode_fields(command)
    _guard(raw)


FORBIDDEN = [
    b"!INF_START|38F3\r",
    b"!INF_STOP|CD57\r",
    b"!INF_VI_CLEAR|A706\r",
    b"!INF_RATE^0.1^ml/h|B775\r",
    b"!INF_VTBI^ACTIV^11.000^ml^STOP|4433\r",
    b"!INF_VTBI^DEACT|D8C5\r",
    b"!INF_BOLUS^ENABLED|E288\r",
    b"!REMOTE_CTRL^DISABLED|EF95\r",
    b"!REMQUERY^DEACT|F295\r",
    encode_fields("REMOTE_CFG", "ENABLED", "3CC1"),
    encode_fields("REMOTE_CTRL", "ENABLED", "3CC1", "X"),
    b"!INF|4961\r!INF_START|38F3\r",  # smuggled behind a query
    b"garbage",
]


@pytest.mark.parametrize("raw", FORBIDDEN)
def test_delivery_commands_cannot_pass_the_gate(raw: bytes) -> None:
    with pytest.raises(ForbiddenCommandError):
        _guard(raw)


@pytest.mark.parametrize(
    "command", ["INF_START", "INF_STOP", "INF_VI_CLEAR", "INF_RATE^1^ml/h", "REMOTE_CFG"]
)
def test_delivery_commands_cannot_be_built(command: str) -> None:
    with pytest.raises(ForbiddenCommandError):
        messages.query(command)


def test_no_driver_module_names_a_delivery_command() -> None:
    """Only the allow-list's explanation may mention them; the code that talks has no way to."""
    package = Path(drivers.__file__).parent
    talking = [p for p in package.rglob("*.py") if "sim" not in p.parts and p.name != "messages.py"]
    assert talking
    for path in talking:
        text = path.read_text()
        for word in ("INF_START", "INF_STOP", "INF_VI_CLEAR"):
            assert word not in text, f"{path} mentions {word}"
