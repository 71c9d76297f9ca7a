"""The pump's side of the Alaris wire: requests in, replies out, and the line faults we inject.

Replies follow what the public implementations show (OpenICE ``SingleSimAlaris.java``, infupy). The
responder obeys delivery commands too (``INF_START``, ``INF_RATE^x^ml/h``, ...) as a real pump would,
and counts every one it receives: this app must never send one, and the tests check that count.
"""

from __future__ import annotations

import collections
import logging
import random
import threading
from dataclasses import dataclass
from datetime import datetime

from drivers.alaris.codec import Frame, FrameDecoder, encode_body, join_fields
from drivers.alaris.messages import ALARM_CODES, WIRE_MODE, alarm_for, format_time_remaining, security_code
from drivers.base import FrameError, Telemetry
from drivers.sim.pump import MAX_RATE_ML_H, PumpOperationError, PumpSnapshot, SimAlarm, SimulatedPump

log = logging.getLogger(__name__)

PROTOCOL_VERSION = "Asena Rev 2.1.5"
RESPONSE_MAX_MS = 4000

WIRE_ALARM = {
    SimAlarm.EMPTY_BATTERY: "AL_EMBAT",
    SimAlarm.OCCLUSION: "AL_OCCLU",
    SimAlarm.AIR_IN_LINE: "AL_AIRIL",
    SimAlarm.DOOR_OPEN: "AL_DRDIS",
    SimAlarm.CALL_BACK: "AL_CALLB",
    SimAlarm.LOW_BATTERY: "AL_LWBAT",
}
DELIVERY_COMMANDS = frozenset({"INF_START", "INF_STOP", "INF_VI_CLEAR"})
"""Always delivery-changing; ``INF_RATE`` and ``INF_VTBI`` are when they carry fields."""
_ALWAYS_ANSWERED = frozenset(
    {"INST_SERIALNO", "COMMS_PROTOCOL", "COMMS_RESPONSE_MAX", "REMOTE_CTRL", "REMOTE_CFG"}
)


def wire_alarm_code(alarm: SimAlarm, snapshot: PumpSnapshot) -> str:
    if alarm is SimAlarm.END_OF_INFUSION:
        return "AL_EOIKV" if snapshot.end_action == "KVO" else "AL_EOIST"
    return WIRE_ALARM[alarm]


FAULT_KINDS = ("bad_crc", "garbage", "slow", "silence", "disconnect", "implausible", "unsolicited")


@dataclass(frozen=True, slots=True)
class ReplyPlan:
    drop: bool = False
    delay_s: float = 0.0
    corrupt_crc: bool = False
    garbage: bytes = b""


class Faults:
    """Line faults for the next replies. Durations are real seconds: they act on the link, whose
    watchdog runs on real time, not on the pump's simulated time."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._bad_crc = 0
        self._garbage = 0
        self._garbage_size = 0
        self._slow_until = 0.0
        self._slow_delay_s = 0.0
        self._silent_until = 0.0
        self._implausible = 0
        self._implausible_fields: dict[str, str] = {}
        self.injected: collections.Counter[str] = collections.Counter()

    def implausible(self, count: int = 1, *, rate: str | None = None, volume: str | None = None) -> None:
        """The next ``count`` INF replies carry these raw values (e.g. ``"-250"``, ``"nan"``,
        ``"99999999999"``) instead of the pump's rate / volume infused."""
        fields = {key: value for key, value in (("rate", rate), ("volume", volume)) if value is not None}
        if not fields:
            raise ValueError("an implausible reading needs a rate or a volume")
        with self._lock:
            self._implausible = count
            self._implausible_fields = fields

    def inf_override(self) -> dict[str, str]:
        """For one INF reply: the raw values to put on the wire instead of the pump's."""
        with self._lock:
            if self._implausible <= 0:
                return {}
            self._implausible -= 1
            self.injected["implausible"] += 1
            return dict(self._implausible_fields)

    def bad_crc(self, count: int = 1) -> None:
        with self._lock:
            self._bad_crc += count

    def garbage(self, count: int = 1, size: int = 24) -> None:
        """Line noise (random bytes, stray ``!``, CR and ESC) before each of the next ``count`` replies."""
        with self._lock:
            self._garbage += count
            self._garbage_size = size

    def slow(self, delay_s: float, duration_s: float, now: float) -> None:
        with self._lock:
            self._slow_delay_s = delay_s
            self._slow_until = now + duration_s

    def silence(self, duration_s: float, now: float) -> None:
        with self._lock:
            self._silent_until = now + duration_s

    def clear(self) -> None:
        with self._lock:
            self._bad_crc = self._garbage = self._implausible = 0
            self._slow_until = self._silent_until = 0.0

    def _noise(self, size: int) -> bytes:
        specials = b"!\r\x1b|^0123456789ABCDEF"
        alphabet = specials + bytes(range(0x20, 0x7F)) + bytes(self._rng.randrange(256) for _ in range(8))
        return bytes(self._rng.choice(alphabet) for _ in range(size))

    def plan(self, now: float) -> ReplyPlan:
        with self._lock:
            if now < self._silent_until:
                self.injected["silence"] += 1
                return ReplyPlan(drop=True)
            delay = self._slow_delay_s if now < self._slow_until else 0.0
            if delay:
                self.injected["slow"] += 1
            corrupt = self._bad_crc > 0
            if corrupt:
                self._bad_crc -= 1
                self.injected["bad_crc"] += 1
            noise = b""
            if self._garbage > 0:
                self._garbage -= 1
                self.injected["garbage"] += 1
                noise = self._noise(self._garbage_size)
            return ReplyPlan(delay_s=delay, corrupt_crc=corrupt, garbage=noise)


class WireSpy:
    """Everything the host sent, as bytes and as frames (bounded, for long demos)."""

    def __init__(self, max_bytes: int = 4_000_000, max_frames: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._max_bytes = max_bytes
        self._raw = bytearray()
        self.frames: collections.deque[Frame] = collections.deque(maxlen=max_frames)

    def record_bytes(self, data: bytes) -> None:
        with self._lock:
            if len(self._raw) + len(data) <= self._max_bytes:
                self._raw += data

    @property
    def raw(self) -> bytes:
        with self._lock:
            return bytes(self._raw)

    def commands(self) -> collections.Counter[str]:
        return collections.Counter(frame.command for frame in list(self.frames))


class AlarisResponder:
    """Answers one host on behalf of one `SimulatedPump`."""

    def __init__(
        self,
        pump: SimulatedPump,
        faults: Faults | None = None,
        *,
        require_remote_ctrl: bool = False,
        protocol_version: str = PROTOCOL_VERSION,
    ) -> None:
        self.pump = pump
        self.faults = faults or Faults()
        self.require_remote_ctrl = require_remote_ctrl
        self.protocol_version = protocol_version
        self.spy = WireSpy()
        self.delivery_commands: list[str] = []
        self.unanswered: collections.Counter[str] = collections.Counter()
        self.bad_requests = 0
        self._decoder = FrameDecoder()
        self._remote_enabled = False
        self._boot_seen = pump.snapshot().boot_count

    def reset_line(self) -> None:
        """A new connection: forget half-received bytes and the handshake."""
        self._decoder.reset()
        self._remote_enabled = False

    def feed(self, data: bytes, now: float) -> list[tuple[float, bytes]]:
        """Bytes from the host; returns (when, bytes) to write, ``now`` on the caller's real clock."""
        self.spy.record_bytes(data)
        out: list[tuple[float, bytes]] = []
        for item in self._decoder.feed(data):
            if isinstance(item, FrameError):
                self.bad_requests += 1
                continue
            self.spy.frames.append(item)
            body = self._answer(item)
            if body is None:
                self.unanswered[item.command] += 1
                continue
            plan = self.faults.plan(now)
            if plan.drop:
                continue
            raw = encode_body(body)
            if plan.corrupt_crc:
                digit = raw[-2:-1]
                raw = raw[:-2] + (b"0" if digit != b"0" else b"1") + b"\r"
            out.append((now + plan.delay_s, plan.garbage + raw))
        return out

    def _answer(self, frame: Frame) -> bytes | None:
        snap = self.pump.snapshot()
        if not snap.powered:
            return None
        if snap.boot_count != self._boot_seen:
            self._boot_seen = snap.boot_count
            self._remote_enabled = False
        command, *args = frame.fields
        if self.require_remote_ctrl and not self._remote_enabled and command not in _ALWAYS_ANSWERED:
            return None
        if command in DELIVERY_COMMANDS or (command in ("INF_RATE", "INF_VTBI") and args):
            return self._obey(command, args, snap)
        return self._query(command, args, snap)

    def _query(self, command: str, args: list[str], snap: PumpSnapshot) -> bytes | None:
        if command == "INST_SERIALNO" and not args:
            return join_fields(command, snap.serial)
        if command == "COMMS_PROTOCOL" and not args:
            return join_fields(command, self.protocol_version)
        if command == "COMMS_RESPONSE_MAX" and not args:
            return join_fields(command, str(RESPONSE_MAX_MS), "ms")
        if command in ("REMOTE_CTRL", "REMOTE_CFG") and args:
            granted = args[0] == "ENABLED" and args[1:2] == [security_code(snap.serial)]
            if command == "REMOTE_CTRL":
                self._remote_enabled = granted
            return join_fields(command, "ENABLED" if granted else "DISABLED", "****", "PERMIT", "0", "ms")
        if command == "INF" and not args:
            return self._inf(snap)
        if command == "INF_VTBI":
            active = snap.vtbi_ml is not None
            return join_fields(
                command, "ACTIV" if active else "DEACT", f"{snap.vtbi_ml or 0.0:.3f}", "ml", snap.end_action
            )
        if command == "INF_RATE":
            return join_fields(command, f"{snap.rate_ml_h:.2f}", "ml/h")
        if command == "INF_VI":
            return join_fields(command, f"{snap.volume_infused_ml:.3f}", "ml")
        if command == "ALARM":
            if not snap.alarms:
                return join_fields(command, "AL_NOALM", " ", " ")
            code = wire_alarm_code(snap.alarms[0], snap)
            return join_fields(command, code, ALARM_CODES[code][0].upper(), " ")
        if command == "SYRINGE_STATUS":
            return join_fields(command, "BD PLASTIPAK", " 50", "CONF")
        if command == "INF_RATE_MAX_SYRINGE":
            return join_fields(command, f"{MAX_RATE_ML_H:.2f}", "ml/h")
        if command == "REMQUERY":
            return join_fields(command, *args, "", "", "")
        return None

    def unsolicited_inf(self, rate: str) -> bytes:
        """A CRC-valid INF frame in the pump's own format with this rate, for sending unasked (a second
        device on the line, a replayed capture): a driver must never take it for a reading."""
        return encode_body(self._inf(self.pump.snapshot(), {"rate": rate}))

    def _inf(self, snap: PumpSnapshot, override: dict[str, str] | None = None) -> bytes:
        alarm = wire_alarm_code(snap.alarms[0], snap) if snap.alarms else "-"
        raw = self.faults.inf_override() if override is None else override
        return join_fields(
            "INF",
            snap.serial,
            alarm,
            WIRE_MODE[snap.state],
            raw.get("rate", f"{snap.rate_ml_h:.2f}"),
            "ml/h",
            "",
            raw.get("volume", f"{snap.volume_infused_ml:.3f}"),
            "ml",
            f"{snap.pressure_mmhg:.2f}",
            "mmHg",
            format_time_remaining(snap.time_remaining_s),
            "EVENT",
            str(snap.log_id),
        )

    def _obey(self, command: str, args: list[str], snap: PumpSnapshot) -> bytes | None:
        self.delivery_commands.append("^".join([command, *args]))
        log.warning("pump %s received delivery command %s %s", snap.serial, command, args)
        if not self._remote_enabled:
            return None
        pump = self.pump
        try:
            if command == "INF_START":
                pump.start()
            elif command == "INF_STOP":
                pump.pause()
            elif command == "INF_VI_CLEAR":
                pump.clear_volume()
            elif command == "INF_RATE":
                pump.set_rate(float(args[0]))
                return join_fields(command, f"{float(args[0]):.2f}", "ml/h")
            elif args[0] == "ACTIV" and len(args) >= 2:
                pump.set_vtbi(float(args[1]), args[3] if len(args) > 3 else "STOP")
            else:
                pump.set_vtbi(None)
        except (PumpOperationError, ValueError) as error:
            log.warning("pump %s refused %s: %s", snap.serial, command, error)
            return None
        return join_fields(command, *args)


def telemetry_of(snap: PumpSnapshot, at: datetime) -> Telemetry:
    """What the driver would read from this pump now, without the wire (the demo's pre-roll uses it to
    document the pump the way the station does)."""
    codes = [wire_alarm_code(alarm, snap) for alarm in snap.alarms]
    return Telemetry(
        at=at,
        rate_ml_h=snap.rate_ml_h,
        volume_infused_ml=snap.volume_infused_ml,
        vtbi_ml=snap.vtbi_ml,
        pressure_mmhg=snap.pressure_mmhg,
        time_remaining_min=None if snap.time_remaining_s is None else snap.time_remaining_s / 60.0,
        state=snap.state,
        alarms=tuple(alarm_for(code) for code in codes),
        serial=snap.serial,
    )
