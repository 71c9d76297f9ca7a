"""What every pump driver produces and promises, whatever the wire protocol.

A driver reads one pump: it turns the pump's replies into `Telemetry` values and reports the state
of the link as `LinkState`. The app only monitors pumps; no driver has a way to change delivery.
Callbacks run on the driver's own I/O thread; the Qt layer re-emits them as queued signals.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

Clock = Callable[[], datetime]
"""Driver time: returns an aware UTC datetime (injected so tests control it)."""


def utc_now() -> datetime:
    return datetime.now(UTC)


class DeliveryState(enum.Enum):
    INFUSING = "infusing"
    STOPPED = "stopped"
    PAUSED = "paused"
    COMPLETE = "complete"
    KVO = "kvo"
    ALARM = "alarm"
    UNKNOWN = "unknown"

    @property
    def is_delivering(self) -> bool:
        """Fluid is flowing (at the programmed rate or the keep-vein-open rate)."""
        return self in (DeliveryState.INFUSING, DeliveryState.KVO)


class AlarmKind(enum.StrEnum):
    OCCLUSION = "occlusion"
    AIR = "air"
    DOOR = "door"
    BATTERY = "battery"
    END_OF_INFUSION = "end_of_infusion"
    CALL_BACK = "call_back"
    FAULT = "fault"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class PumpAlarm:
    code: str
    """The pump's own code, e.g. ``AL_OCCLU``."""
    text: str
    kind: AlarmKind = AlarmKind.OTHER


@dataclass(frozen=True, slots=True)
class Telemetry:
    """One reading of a pump.

    ``rate_ml_h`` is the rate the pump reports: the programmed rate, or the KVO rate in KVO. Fluid flows
    only when ``state.is_delivering``. ``vtbi_ml`` is the volume still to be infused (the pump counts it
    down), None when no VTBI is set. ``time_remaining_min`` is None when the pump does not say (no VTBI,
    or 24 h and more).
    """

    at: datetime
    rate_ml_h: float
    volume_infused_ml: float
    vtbi_ml: float | None
    pressure_mmhg: float | None
    time_remaining_min: float | None
    state: DeliveryState
    alarms: tuple[PumpAlarm, ...]
    serial: str

    def __post_init__(self) -> None:
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise ValueError("Telemetry.at must be an aware datetime (UTC)")

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "serial": self.serial,
            "state": self.state.value,
            "rate_ml_h": self.rate_ml_h,
            "volume_infused_ml": self.volume_infused_ml,
            "vtbi_ml": self.vtbi_ml,
            "pressure_mmhg": self.pressure_mmhg,
            "time_remaining_min": self.time_remaining_min,
            "alarms": [{"code": a.code, "text": a.text, "kind": str(a.kind)} for a in self.alarms],
        }


class LinkStatus(enum.Enum):
    CONNECTING = "connecting"
    NEGOTIATING = "negotiating"
    CONNECTED = "connected"
    LOST = "lost"


@dataclass(frozen=True, slots=True)
class LinkState:
    status: LinkStatus
    reason: str = ""


@dataclass(frozen=True, slots=True)
class PumpIdentity:
    serial: str
    protocol: str
    """Driver name, e.g. ``alaris``."""
    protocol_version: str
    """What the pump says it speaks, e.g. ``Asena Rev 2.1.5``."""
    url: str
    response_max_ms: int | None = None
    """The longest the pump says it takes to answer (COMMS_RESPONSE_MAX)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "protocol": self.protocol,
            "protocol_version": self.protocol_version,
            "url": self.url,
            "response_max_ms": self.response_max_ms,
        }


TelemetryCallback = Callable[[Telemetry], None]
LinkStateCallback = Callable[[LinkState], None]


@runtime_checkable
class PumpDriver(Protocol):
    """A running connection to one pump. Built with its callbacks; `start` spawns its I/O thread."""

    def start(self) -> None: ...

    def stop(self) -> None:
        """Stop polling, join the I/O thread and close the port. Safe to call twice."""
        ...

    @property
    def identity(self) -> PumpIdentity | None:
        """The pump last negotiated with; None before the first negotiation."""
        ...

    @property
    def link_state(self) -> LinkState: ...


class DriverError(Exception):
    """Base of every error a driver raises on purpose."""


class FrameError(DriverError):
    """Bytes on the wire that are not a valid frame (counted and dropped, never fatal)."""


class CrcError(FrameError):
    pass


class ProtocolError(DriverError):
    """A valid frame whose content the driver cannot use."""


class ForbiddenCommandError(DriverError):
    """Something tried to put a delivery-changing command on the wire. The app only monitors."""


MAX_VOLUME_INFUSED_ML = 10_000.0
"""No infusion bag or pump reservoir on an infusion chair holds 10 L: a volume above it is a corrupt
reading, not a dose."""


class ImplausibleReading(ProtocolError):
    """A well-formed reply whose numbers no pump can produce (a link fault: never shown, never journaled)."""


def implausibility(t: Telemetry, max_rate_ml_h: float) -> str | None:
    """Why this reading cannot be true (NaN or infinite numbers, a negative rate or volume, a rate above
    the pump's maximum, a volume above 10 L); None when it is plausible. Every driver checks its
    readings with this before handing them over."""
    numbers = (
        ("rate", t.rate_ml_h, "mL/h"),
        ("volume infused", t.volume_infused_ml, "mL"),
        ("volume to be infused", t.vtbi_ml, "mL"),
        ("pressure", t.pressure_mmhg, "mmHg"),
        ("time remaining", t.time_remaining_min, "min"),
    )
    for what, value, unit in numbers:
        if value is not None and not math.isfinite(value):
            return f"{what} {value} {unit} is not a number"
    for what, value, unit in numbers[:3]:
        if value is not None and value < 0:
            return f"{what} {value:g} {unit} is negative"
    if t.rate_ml_h > max_rate_ml_h:
        return f"rate {t.rate_ml_h:g} mL/h is above the pump's maximum of {max_rate_ml_h:g} mL/h"
    for what, value, _unit in numbers[1:3]:
        if value is not None and value > MAX_VOLUME_INFUSED_ML:
            return f"{what} {value:g} mL is above {MAX_VOLUME_INFUSED_ML / 1000:g} L"
    return None


class ConfigError(DriverError, ValueError):
    """A chair's pump configuration the registry cannot build a driver from."""
