"""The floor's messages as types: one schema per topic (docs/mqtt.md), parsed before anything uses them.

Every message a station or the overview reads from the broker goes through `parse_*` here first: JSON
objects only (no NaN or Infinity, at most `MAX_MESSAGE_BYTES`), every field checked for its type and
range, times aware. What does not fit raises `MessageRefused` with one line saying which field; the
caller drops that message (and only that message). Qt-free, no database: the station core, the overview
and the tests share it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.domain.alarms import Priority
from app.domain.phase import Phase

SCHEMA = 2
"""The schema version every message carries (`"schema"`); a reader refuses any other."""
MAX_MESSAGE_BYTES = 64 * 1024
MAX_TEXT = 400
MAX_ALARMS = 32
MAX_READINGS = 240
STATES = ("online", "offline")
LINK_STATES = ("connecting", "negotiating", "connected", "lost")
RESULTS = ("done", "refused")


class MessageRefused(ValueError):
    """A message that does not fit its topic's schema, in one line."""


def _refuse_constant(name: str) -> float:
    raise MessageRefused(f"{name} is not a number")


def load_object(raw: bytes | str) -> dict[str, Any]:
    """A JSON object of at most MAX_MESSAGE_BYTES, with no NaN/Infinity, of this schema version."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise MessageRefused(f"message of {len(raw)} bytes (at most {MAX_MESSAGE_BYTES})")
    try:
        value = json.loads(raw, parse_constant=_refuse_constant)
    except MessageRefused:
        raise
    except (ValueError, RecursionError) as error:
        raise MessageRefused(f"not JSON ({str(error)[:80]})") from None
    if not isinstance(value, dict):
        raise MessageRefused(f"not a JSON object but {type(value).__name__}")
    schema = value.get("schema")
    if schema != SCHEMA or isinstance(schema, bool):
        raise MessageRefused(f"schema {str(schema)[:20]!r}, this reader knows {SCHEMA}")
    return value


class _Reader:
    """Typed reads of one JSON object; errors name the field's path."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, Mapping):
            raise MessageRefused(f"{where or 'message'}: not an object")
        self.data = data
        self.where = where

    def _fail(self, key: str, problem: str) -> MessageRefused:
        return MessageRefused(f"{self.where}{key}: {problem}")

    def text(self, key: str, *, optional: bool = False, limit: int = MAX_TEXT) -> Any:
        value = self.data.get(key)
        if value is None and optional:
            return None
        if not isinstance(value, str):
            raise self._fail(key, f"expected text, got {type(value).__name__}")
        if len(value) > limit or "\x00" in value:
            raise self._fail(key, f"text longer than {limit} characters or with NUL")
        return value

    def number(self, key: str, *, optional: bool = False, low: float = 0.0, high: float = 1e6) -> Any:
        value = self.data.get(key)
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._fail(key, f"expected a number, got {type(value).__name__}")
        if not math.isfinite(value) or not low <= value <= high:
            raise self._fail(key, f"{value!r} outside {low:g}..{high:g}")
        return float(value)

    def integer(self, key: str, *, low: int = 0, high: int = 10**9) -> int:
        value = self.data.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self._fail(key, f"expected a whole number {low}..{high}")
        return value

    def flag(self, key: str) -> bool:
        value = self.data.get(key)
        if not isinstance(value, bool):
            raise self._fail(key, f"expected true or false, got {type(value).__name__}")
        return value

    def time(self, key: str, *, optional: bool = False) -> Any:
        value = self.data.get(key)
        if value is None and optional:
            return None
        if not isinstance(value, str) or len(value) > 40:
            raise self._fail(key, "expected an ISO 8601 time")
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise self._fail(key, f"{value!r} is not an ISO 8601 time") from None
        if moment.tzinfo is None:
            raise self._fail(key, "a time without its UTC offset")
        return moment

    def choice(self, key: str, allowed: tuple[str, ...], *, optional: bool = False) -> Any:
        value = self.data.get(key)
        if value is None and optional:
            return None
        if value not in allowed:
            raise self._fail(key, f"{str(value)[:30]!r} is not one of {', '.join(allowed)}")
        return value

    def child(self, key: str, *, optional: bool = False) -> _Reader | None:
        value = self.data.get(key)
        if value is None and optional:
            return None
        return _Reader(value, f"{self.where}{key}.")

    def items(self, key: str, limit: int) -> list[Any]:
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list) or len(value) > limit:
            raise self._fail(key, f"expected a list of at most {limit}")
        return value


# ------------------------------------------------------------------------------------------------
# status


@dataclass(frozen=True)
class StatusMessage:
    """`chairside/v1/<station>/status` (retained): online with a heartbeat, or offline."""

    state: str
    station: str
    at: datetime
    since: datetime | None
    keepalive_s: float
    chairs: int
    reason: str | None = None
    warnings: tuple[str, ...] = ()
    """What the station's services need someone to see (the HL7 feed's set-aside messages)."""
    display_tz: str | None = None
    """The station's display zone (IANA name): the floor shows this station's times in it."""

    @property
    def online(self) -> bool:
        return self.state == "online"


def parse_status(raw: bytes | str) -> StatusMessage:
    r = _Reader(load_object(raw), "")
    return StatusMessage(
        state=r.choice("state", STATES),
        station=r.text("station", limit=80),
        at=r.time("at"),
        since=r.time("since", optional=True),
        keepalive_s=r.number("keepalive_s", low=1.0, high=60.0),
        chairs=r.integer("chairs", low=0, high=1000),
        reason=r.text("reason", optional=True, limit=120),
        warnings=tuple(_warning(w, n) for n, w in enumerate(r.items("warnings", 20))),
        display_tz=r.text("display_tz", optional=True, limit=80),
    )


def _warning(value: Any, n: int) -> str:
    text: str = _Reader({"w": value}, f"warnings[{n}].").text("w")
    return text


# ------------------------------------------------------------------------------------------------
# chairs/<chair>


@dataclass(frozen=True)
class PumpNow:
    rate_ml_h: float | None = None
    planned_rate_ml_h: float | None = None
    volume_ml: float | None = None
    read_at: datetime | None = None


@dataclass(frozen=True)
class NextStep:
    action: str = ""
    urgent: bool = False
    due_label: str | None = None
    due_at: datetime | None = None


@dataclass(frozen=True)
class VitalsDue:
    label: str
    due_at: datetime
    overdue: bool


@dataclass(frozen=True)
class PumpLinkNow:
    pump: bool = False
    state: str | None = None
    since: datetime | None = None


@dataclass(frozen=True)
class ChairAlarm:
    id: str
    rule: str
    priority: Priority
    message: str
    raised_at: datetime | None
    acknowledged: bool
    acknowledged_by: str | None
    escalated: bool


@dataclass(frozen=True)
class DeliverySegment:
    started_at: datetime | None
    rate_ml_h: float
    stopped_at: datetime | None
    stop_reason: str | None


@dataclass(frozen=True)
class Delivery:
    """How the infusion stands, from the station's session timeline (app.domain.timeline)."""

    state: str
    outcome: str | None
    stopped_for_good: bool
    rate_ml_h: float
    since: datetime | None
    stop_reason: str | None
    ended_at: datetime | None
    segments: tuple[DeliverySegment, ...]


def _delivery(r: _Reader) -> Delivery:
    segments = []
    for n, item in enumerate(r.items("segments", 200)):
        s = _Reader(item, f"{r.where}segments[{n}].")
        segments.append(
            DeliverySegment(
                s.time("started_at", optional=True),
                s.number("rate_ml_h", high=2000.0),
                s.time("stopped_at", optional=True),
                s.text("stop_reason", optional=True, limit=60),
            )
        )
    return Delivery(
        state=r.text("state", limit=60),
        outcome=r.text("outcome", optional=True, limit=60),
        stopped_for_good=r.flag("stopped_for_good"),
        rate_ml_h=r.number("rate_ml_h", high=2000.0),
        since=r.time("since", optional=True),
        stop_reason=r.text("stop_reason", optional=True, limit=60),
        ended_at=r.time("ended_at", optional=True),
        segments=tuple(segments),
    )


@dataclass(frozen=True)
class Anaphylaxis:
    """After anaphylaxis: the chair is shown red whatever its phase."""

    onset_at: datetime | None
    observe_until: datetime | None


@dataclass(frozen=True)
class ChairMessage:
    """`chairside/v1/<station>/chairs/<chair>` (retained): the chair as the floor sees it."""

    station: str
    chair: str
    index: int
    phase: Phase
    session: str | None = None
    anaphylaxis: Anaphylaxis | None = None
    delivery: Delivery | None = None
    initials: str = ""
    nurse: str = ""
    protocol: str | None = None
    pump: PumpNow = field(default_factory=PumpNow)
    next: NextStep = field(default_factory=NextStep)
    progress: float | None = None
    alarms: tuple[ChairAlarm, ...] = ()
    notice: str | None = None
    vitals: VitalsDue | None = None
    link: PumpLinkNow = field(default_factory=PumpLinkNow)
    updated_at: datetime | None = None
    published_at: datetime | None = None
    display_tz: str | None = None
    """The station's display zone (IANA name), in which its texts are said."""

    @property
    def patient_present(self) -> bool:
        """Someone sits in the chair: a session under way (an empty or discharged chair has nobody)."""
        return self.phase not in (Phase.EMPTY, Phase.DISCHARGED)


def _phase(value: Any) -> Phase:
    try:
        return Phase(value)
    except ValueError:
        raise MessageRefused(f"phase: {str(value)[:30]!r} is not a phase") from None


def _priority(value: Any, where: str) -> Priority:
    try:
        return Priority(value)
    except ValueError:
        raise MessageRefused(f"{where}priority: {str(value)[:30]!r} is not high, medium or low") from None


def _alarm(data: Any, n: int) -> ChairAlarm:
    r = _Reader(data, f"alarms[{n}].")
    return ChairAlarm(
        id=r.text("id", limit=120),
        rule=r.text("rule", limit=120),
        priority=_priority(r.data.get("priority"), r.where),
        message=r.text("message"),
        raised_at=r.time("raised_at", optional=True),
        acknowledged=r.flag("acknowledged"),
        acknowledged_by=r.text("acknowledged_by", optional=True, limit=80),
        escalated=r.flag("escalated"),
    )


def parse_chair(raw: bytes | str | Mapping[str, Any]) -> ChairMessage:
    data = raw if isinstance(raw, Mapping) else load_object(raw)
    r = _Reader(data, "")
    pump = r.child("pump", optional=True)
    nxt = r.child("next", optional=True)
    vitals = r.child("vitals", optional=True)
    link = r.child("link", optional=True)
    protocol = r.child("protocol", optional=True)
    anaphylaxis = r.child("anaphylaxis", optional=True)
    delivery = r.child("delivery", optional=True)
    rate_limit = 2000.0  # above any infusion pump's range (mL/h)
    return ChairMessage(
        station=r.text("station", limit=80),
        chair=r.text("chair", limit=80),
        index=r.integer("index", low=0, high=1000),
        phase=_phase(data.get("phase")),
        session=r.text("session", optional=True, limit=80),
        anaphylaxis=Anaphylaxis(
            anaphylaxis.time("onset_at", optional=True), anaphylaxis.time("observe_until", optional=True)
        )
        if anaphylaxis is not None
        else None,
        delivery=_delivery(delivery) if delivery is not None else None,
        initials=r.text("initials", optional=True, limit=40) or "",
        nurse=r.text("nurse", optional=True, limit=80) or "",
        protocol=protocol.text("name", limit=200) if protocol is not None else None,
        pump=PumpNow(
            pump.number("rate_ml_h", optional=True, high=rate_limit),
            pump.number("planned_rate_ml_h", optional=True, high=rate_limit),
            pump.number("volume_ml", optional=True, high=100_000.0),
            pump.time("read_at", optional=True),
        )
        if pump is not None
        else PumpNow(),
        next=NextStep(
            nxt.text("action", optional=True) or "",
            nxt.flag("urgent"),
            nxt.text("due_label", optional=True, limit=120),
            nxt.time("due_at", optional=True),
        )
        if nxt is not None
        else NextStep(),
        progress=r.number("progress", optional=True, high=10.0),
        alarms=tuple(_alarm(a, n) for n, a in enumerate(r.items("alarms", MAX_ALARMS))),
        notice=r.text("notice", optional=True),
        vitals=VitalsDue(vitals.text("label", limit=120), vitals.time("due_at"), vitals.flag("overdue"))
        if vitals is not None
        else None,
        link=PumpLinkNow(
            link.flag("pump"),
            link.choice("state", LINK_STATES, optional=True),
            link.time("since", optional=True),
        )
        if link is not None
        else PumpLinkNow(),
        updated_at=r.time("updated_at", optional=True),
        published_at=r.time("published_at", optional=True),
        display_tz=r.text("display_tz", optional=True, limit=80),
    )


# ------------------------------------------------------------------------------------------------
# chairs/<chair>/readings


@dataclass(frozen=True)
class ReadingsMessage:
    """`chairside/v1/<station>/chairs/<chair>/readings` (retained, at the heartbeat): the chair's
    plan-vs-pump plot, as (seconds since the epoch, mL/h) points."""

    station: str
    chair: str
    session: str | None
    pump: tuple[tuple[float, float], ...]
    plan: tuple[tuple[float, float], ...]


def _points(r: _Reader, key: str) -> tuple[tuple[float, float], ...]:
    points = []
    for n, item in enumerate(r.items(key, MAX_READINGS)):
        if not isinstance(item, list) or len(item) != 2:
            raise MessageRefused(f"{key}[{n}]: expected [seconds, mL/h]")
        point = _Reader({"t": item[0], "rate": item[1]}, f"{key}[{n}].")
        points.append((point.number("t", high=1e11), point.number("rate", high=2000.0)))
    return tuple(points)


def parse_readings(raw: bytes | str) -> ReadingsMessage:
    r = _Reader(load_object(raw), "")
    return ReadingsMessage(
        station=r.text("station", limit=80),
        chair=r.text("chair", limit=80),
        session=r.text("session", optional=True, limit=80),
        pump=_points(r, "pump"),
        plan=_points(r, "plan"),
    )


# ------------------------------------------------------------------------------------------------
# answers


@dataclass(frozen=True)
class AnswerMessage:
    """`chairside/v1/<station>/answers`: the station's answer to one command, by its id."""

    id: str
    command: str
    chair: str | None
    alarm: str | None
    by: str | None
    overview: str | None
    at: datetime
    result: str
    message: str

    @property
    def done(self) -> bool:
        return self.result == "done"


def parse_answer(raw: bytes | str) -> AnswerMessage:
    r = _Reader(load_object(raw), "")
    return AnswerMessage(
        id=r.text("id", limit=80),
        command=r.text("command", limit=40),
        chair=r.text("chair", optional=True, limit=80),
        alarm=r.text("alarm", optional=True, limit=120),
        by=r.text("by", optional=True, limit=80),
        overview=r.text("overview", optional=True, limit=80),
        at=r.time("at"),
        result=r.choice("result", RESULTS),
        message=r.text("message"),
    )


# ------------------------------------------------------------------------------------------------
# commands


@dataclass(frozen=True)
class Person:
    """Who is signed in at the overview (its own accounts): what the signature vouches for."""

    id: str
    name: str
    role: str


@dataclass(frozen=True)
class CommandMessage:
    """`chairside/v1/<station>/commands`: an overview's signed command (app.station.floor_commands)."""

    id: str
    command: str
    station: str
    chair: str
    alarm: str
    by: Person
    overview: str
    sent_at: datetime
    body: Mapping[str, Any]
    """The whole message but its signature: what the signature covers."""
    signature: str | None


COMMANDS = ("acknowledge",)
ROLES = ("nurse", "charge", "admin")


def parse_command(raw: bytes | str) -> CommandMessage:
    data = load_object(raw)
    r = _Reader(data, "")
    by = r.child("by")
    assert by is not None
    signature = data.get("signature")
    if signature is not None and (not isinstance(signature, str) or len(signature) > 200):
        raise MessageRefused("signature: expected base64 text")
    return CommandMessage(
        id=r.text("id", limit=64),
        command=r.choice("command", COMMANDS),
        station=r.text("station", limit=80),
        chair=r.text("chair", limit=80),
        alarm=r.text("alarm", limit=120),
        by=Person(by.text("id", limit=40), by.text("name", limit=80), by.choice("role", ROLES)),
        overview=r.text("overview", limit=80),
        sent_at=r.time("sent_at"),
        body={k: v for k, v in data.items() if k != "signature"},
        signature=signature,
    )
