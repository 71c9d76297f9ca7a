"""Alaris GH/CC messages: the only requests this app may send, and the meaning of the replies.

Monitoring only. The host may send the bare queries in `QUERY_COMMANDS` and the remote-communication
handshake ``REMOTE_CTRL^ENABLED^<code>``; nothing else leaves the driver (`check_request`). In particular
``INF_START``, ``INF_STOP``, ``INF_VI_CLEAR`` and the set forms of ``INF_RATE`` / ``INF_VTBI`` cannot be
built here.

Reply fields by position come from OpenICE ``Asena.java``. What no public source documents (the words
in the INF mode field other than ``SET``, the alarm codes of a volumetric pump) is marked as our
reading; the simulator speaks the same reading.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from drivers.alaris.codec import Frame, crc_text, encode_body, join_fields
from drivers.base import AlarmKind, DeliveryState, ForbiddenCommandError, ProtocolError, PumpAlarm, Telemetry

QUERY_COMMANDS = frozenset(
    {
        "INST_SERIALNO",
        "COMMS_PROTOCOL",
        "COMMS_RESPONSE_MAX",
        "INF",
        "INF_VTBI",
        "ALARM",
        "INF_RATE",
        "INF_VI",
        "SYRINGE_STATUS",
        "INF_RATE_MAX_SYRINGE",
    }
)
"""Bare queries: the command word alone, no fields. (``INF_RATE`` and ``INF_VTBI`` with fields are sets.)"""

STARTUP_QUERIES = ("INST_SERIALNO", "COMMS_RESPONSE_MAX", "COMMS_PROTOCOL")
POLL_QUERIES = ("INF", "INF_VTBI", "ALARM")

_HANDSHAKE = re.compile(rb"REMOTE_CTRL\^ENABLED\^[0-9A-F]{4}")


def check_request(body: bytes) -> None:
    """The last gate before the wire: raise ForbiddenCommandError unless ``body`` is a query or the
    handshake."""
    if body.decode("latin-1") in QUERY_COMMANDS or _HANDSHAKE.fullmatch(body):
        return
    raise ForbiddenCommandError(f"refusing to send {body[:40]!r}: this app only monitors pumps")


def query(command: str) -> bytes:
    """The frame of one bare query."""
    if command not in QUERY_COMMANDS:
        raise ForbiddenCommandError(f"{command!r} is not a query this app may send")
    return encode_body(command.encode("ascii"))


def security_code(serial: str) -> str:
    """The handshake code: CRC of the serial number (CRC("8002-51740") = 3CC1)."""
    return crc_text(serial)


def remote_ctrl_enable(serial: str) -> bytes:
    body = join_fields("REMOTE_CTRL", "ENABLED", security_code(serial))
    check_request(body)
    return encode_body(body)


# --- replies ---------------------------------------------------------------------------------------

MODE_WORDS: dict[str, DeliveryState] = {
    # "SET" is the only word a public source shows (SingleSimAlaris): programmed, not running.
    "SET": DeliveryState.STOPPED,
    # Our reading; the simulator uses the first word of each line.
    "INFUS": DeliveryState.INFUSING,
    "INFUSING": DeliveryState.INFUSING,
    "RUN": DeliveryState.INFUSING,
    "HOLD": DeliveryState.PAUSED,
    "ON_HOLD": DeliveryState.PAUSED,
    "PAUSED": DeliveryState.PAUSED,
    "STOP": DeliveryState.STOPPED,
    "STOPPED": DeliveryState.STOPPED,
    "KVO": DeliveryState.KVO,
    "EOI": DeliveryState.COMPLETE,
    "COMPLETE": DeliveryState.COMPLETE,
    "ALARM": DeliveryState.ALARM,
}
WIRE_MODE: dict[DeliveryState, str] = {
    DeliveryState.INFUSING: "INFUS",
    DeliveryState.PAUSED: "HOLD",
    DeliveryState.STOPPED: "SET",
    DeliveryState.KVO: "KVO",
    DeliveryState.COMPLETE: "EOI",
    DeliveryState.ALARM: "ALARM",
}

NO_ALARM_CODES = frozenset({"", "-", "AL_NOALM"})

ALARM_CODES: dict[str, tuple[str, AlarmKind]] = {
    # Codes listed in OpenICE AlarisMITM.java; the texts are our reading of the abbreviations.
    "AL_OCCLU": ("Occlusion", AlarmKind.OCCLUSION),
    "AL_PRDSC": ("Pressure disc not fitted", AlarmKind.OCCLUSION),
    "AL_DRDIS": ("Door open / driver disengaged", AlarmKind.DOOR),
    "AL DRDIS": ("Door open / driver disengaged", AlarmKind.DOOR),
    "AL_LWBAT": ("Battery low", AlarmKind.BATTERY),
    "AL_EMBAT": ("Battery empty", AlarmKind.BATTERY),
    "AL_LBTAC": ("Battery low, on AC", AlarmKind.BATTERY),
    "AL_ACDIS": ("Mains power disconnected", AlarmKind.BATTERY),
    "AL_EOIKV": ("End of infusion, KVO", AlarmKind.END_OF_INFUSION),
    "AL_EOIST": ("End of infusion, stopped", AlarmKind.END_OF_INFUSION),
    "AL_NEOIN": ("Near end of infusion", AlarmKind.END_OF_INFUSION),
    "AL_CALLB": ("Call back: pump left on hold", AlarmKind.CALL_BACK),
    "AL_FAULT": ("Pump fault", AlarmKind.FAULT),
    "AL_COMTO": ("Communication time-out", AlarmKind.OTHER),
    # Not in any public list: a volumetric pump's air-in-line alarm, as our simulator reports it.
    "AL_AIRIL": ("Air in line", AlarmKind.AIR),
}


def alarm_for(code: str, text: str = "") -> PumpAlarm:
    known_text, kind = ALARM_CODES.get(code, (code, AlarmKind.OTHER))
    return PumpAlarm(code=code, text=text.strip() or known_text, kind=kind)


def _expect(frame: Frame, command: str, min_fields: int) -> tuple[str, ...]:
    fields = frame.fields
    if fields[0] != command:
        raise ProtocolError(f"expected a {command} reply, got {fields[0]!r}")
    if len(fields) < min_fields:
        raise ProtocolError(f"{command} reply has {len(fields)} fields, expected {min_fields}: {fields}")
    return fields


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ProtocolError(f"{what} is not a number: {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ProtocolError(f"{what} is not a finite number: {text!r}")
    return value


def _optional_number(text: str, what: str) -> float | None:
    text = text.strip()
    if text in ("", "-", "--"):
        return None
    return _number(text, what)


def _unit(text: str, expected: str, what: str) -> None:
    if text.strip().lower() != expected:
        raise ProtocolError(f"{what} in {text!r}, the driver reads only {expected}")


_HMS = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")


def time_remaining_min(text: str) -> float | None:
    """``HH:MM:SS`` below 24 h; ``24+`` (24 h or more) and anything else give None."""
    match = _HMS.fullmatch(text.strip())
    if not match:
        return None
    hours, minutes, seconds = int(match[1]), int(match[2]), int(match[3] or 0)
    return hours * 60 + minutes + seconds / 60


def format_time_remaining(seconds: float | None) -> str:
    if seconds is None:
        return "--:--:--"
    if seconds >= 24 * 3600:
        return "24+"
    whole = round(seconds)
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}"


@dataclass(frozen=True, slots=True)
class InfReply:
    serial: str
    alarm_code: str | None
    state: DeliveryState
    rate_ml_h: float
    volume_infused_ml: float
    pressure_mmhg: float | None
    time_remaining_min: float | None


def parse_inf(frame: Frame) -> InfReply:
    """``INF^serial^alarm^mode^rate^unit^^volume^unit^pressure^unit^timeRemaining^logType^logId``."""
    f = _expect(frame, "INF", 12)
    _unit(f[5], "ml/h", "rate unit")
    _unit(f[8], "ml", "volume unit")
    alarm = f[2].strip()
    return InfReply(
        serial=f[1].strip(),
        alarm_code=None if alarm in NO_ALARM_CODES else alarm,
        state=MODE_WORDS.get(f[3].strip().upper(), DeliveryState.UNKNOWN),
        rate_ml_h=_number(f[4], "rate"),
        volume_infused_ml=_number(f[7], "volume infused"),
        pressure_mmhg=_optional_number(f[9], "pressure"),
        time_remaining_min=time_remaining_min(f[11]),
    )


def parse_vtbi(frame: Frame) -> float | None:
    """``INF_VTBI^ACTIV^11.000^ml^STOP``: the volume still to be infused, None when deactivated."""
    f = _expect(frame, "INF_VTBI", 2)
    if f[1].strip().upper() != "ACTIV":
        return None
    if len(f) < 4:
        raise ProtocolError(f"INF_VTBI reply too short: {f}")
    _unit(f[3], "ml", "VTBI unit")
    return _number(f[2], "VTBI")


def parse_alarm(frame: Frame) -> PumpAlarm | None:
    """``ALARM^AL_NOALM^ ^ ``: the pump's current (highest) alarm, None when there is none."""
    f = _expect(frame, "ALARM", 2)
    code = f[1].strip()
    if code in NO_ALARM_CODES:
        return None
    return alarm_for(code, f[2] if len(f) > 2 else "")


def parse_single(frame: Frame, command: str) -> str:
    """Replies like ``INST_SERIALNO^8002-51740`` or ``COMMS_PROTOCOL^Asena Rev 2.1.5``."""
    value = _expect(frame, command, 2)[1].strip()
    if not value:
        raise ProtocolError(f"{command} reply is empty")
    return value


def parse_response_max_ms(frame: Frame) -> int | None:
    """``COMMS_RESPONSE_MAX^4000^ms``."""
    f = _expect(frame, "COMMS_RESPONSE_MAX", 2)
    value = _optional_number(f[1], "response max")
    if value is None:
        return None
    unit = f[2].strip().lower() if len(f) > 2 else "ms"
    return round(value * 1000) if unit == "s" else round(value)


def handshake_accepted(frame: Frame) -> bool:
    """``REMOTE_CTRL^ENABLED^****^PERMIT^0^ms`` when the pump accepts remote communication."""
    f = _expect(frame, "REMOTE_CTRL", 2)
    return f[1].strip().upper() == "ENABLED"


def build_telemetry(at: datetime, inf: InfReply, vtbi_ml: float | None, alarm: PumpAlarm | None) -> Telemetry:
    alarms: list[PumpAlarm] = []
    if inf.alarm_code is not None:
        alarms.append(alarm_for(inf.alarm_code, alarm.text if alarm and alarm.code == inf.alarm_code else ""))
    if alarm is not None and alarm.code != inf.alarm_code:
        alarms.append(alarm)
    return Telemetry(
        at=at,
        rate_ml_h=inf.rate_ml_h,
        volume_infused_ml=inf.volume_infused_ml,
        vtbi_ml=vtbi_ml,
        pressure_mmhg=inf.pressure_mmhg,
        time_remaining_min=inf.time_remaining_min,
        state=inf.state,
        alarms=tuple(alarms),
        serial=inf.serial,
    )
