"""The Alaris GH/CC driver: start-up queries, the remote-communication handshake, then polling.

Each poll cycle (default every 1 s) sends ``INF``, ``INF_VTBI`` and ``ALARM`` and turns the three
replies into one `Telemetry`. With ``handshake`` on (the default, as OpenICE does) the driver sends
``REMOTE_CTRL^ENABLED^<code>`` after the start-up queries and again as a keep-alive (infupy: every
1 s). Monitoring only: every outgoing frame passes `messages.check_request`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from drivers.alaris import messages
from drivers.alaris.codec import Frame, FrameDecoder, decode_frame
from drivers.base import (
    Clock,
    ConfigError,
    DriverError,
    ForbiddenCommandError,
    ImplausibleReading,
    LinkState,
    LinkStateCallback,
    LinkStatus,
    ProtocolError,
    PumpIdentity,
    Telemetry,
    TelemetryCallback,
    implausibility,
    utc_now,
)
from drivers.link import (
    FaultLog,
    FrameChannel,
    LinkLostError,
    LinkSettings,
    LinkStats,
    ReplyTimeout,
    SerialLink,
    UnsolicitedFrames,
)

log = logging.getLogger(__name__)

MAX_RATE_ML_H = 1200.0
"""The highest rate an Alaris GH / CC syringe pump (and the GP volumetric pump) can be set to, from the
specifications in BD's Directions For Use (rate range 0.1-1200 mL/h). A reading above it is corrupt."""


def _guard(raw: bytes) -> None:
    try:
        frame = decode_frame(raw)
    except DriverError as error:
        raise ForbiddenCommandError(f"refusing to send a malformed frame {raw[:40]!r}") from error
    messages.check_request(frame.body)


def _is_reply_to(command: str) -> Callable[[Frame], bool]:
    return lambda frame: frame.command == command


class AlarisDriver:
    """Reads one Alaris GH/CC pump over ``url``. Callbacks run on the driver's I/O thread."""

    protocol = "alaris"

    def __init__(
        self,
        url: str,
        *,
        on_telemetry: TelemetryCallback,
        on_link_state: LinkStateCallback,
        poll_interval_s: float = 1.0,
        quiet_time_s: float = 10.0,
        handshake: bool = True,
        reply_timeout_s: float = 1.0,
        keepalive_s: float = 1.0,
        reconnect_max_s: float = 5.0,
        baudrate: int = 38400,
        clock: Clock = utc_now,
    ) -> None:
        if poll_interval_s <= 0 or keepalive_s <= 0:
            raise ConfigError("poll_interval_s and keepalive_s must be positive")
        self.url = url
        self.poll_interval_s = poll_interval_s
        self.handshake = handshake
        self.keepalive_s = keepalive_s
        self._on_telemetry = on_telemetry
        self._clock = clock
        self._quiet_time_s = quiet_time_s
        self._identity: PumpIdentity | None = None
        self._faults = FaultLog(log)
        try:
            settings = LinkSettings(
                baudrate=baudrate,
                quiet_time_s=quiet_time_s,
                reply_timeout_s=reply_timeout_s,
                reconnect_initial_s=min(0.25, reconnect_max_s),
                reconnect_max_s=reconnect_max_s,
            )
        except ValueError as error:
            raise ConfigError(str(error)) from error
        self._link: SerialLink[Frame] = SerialLink(
            url,
            self._session,
            FrameDecoder,
            on_state=on_link_state,
            outgoing_guard=_guard,
            settings=settings,
            name=f"alaris {url}",
        )

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **kwargs: Any) -> AlarisDriver:
        options = {k: v for k, v in config.items() if k != "protocol"}
        if "url" not in options:
            raise ConfigError("an alaris pump needs a url, e.g. /dev/ttyUSB3 or socket://host:port")
        allowed = {
            "url",
            "poll_interval_s",
            "quiet_time_s",
            "handshake",
            "reply_timeout_s",
            "reconnect_max_s",
        }
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise ConfigError(f"unknown alaris setting(s) {unknown}; known: {sorted(allowed)}")
        url = options.pop("url")
        if not isinstance(url, str) or not url:
            raise ConfigError(f"url must be a non-empty string, not {url!r}")
        if "handshake" in options and not isinstance(options["handshake"], bool):
            raise ConfigError("handshake must be true or false")
        for key in allowed - {"url", "handshake"}:
            if key in options and (
                isinstance(options[key], bool) or not isinstance(options[key], int | float)
            ):
                raise ConfigError(f"{key} must be a number of seconds, not {options[key]!r}")
        return cls(url, **options, **kwargs)

    # -- PumpDriver ------------------------------------------------------------------------------

    def start(self) -> None:
        self._link.start()

    def stop(self) -> None:
        self._link.stop()

    @property
    def identity(self) -> PumpIdentity | None:
        return self._identity

    @property
    def link_state(self) -> LinkState:
        return self._link.state

    @property
    def stats(self) -> LinkStats:
        return self._link.stats

    # -- the session, on the I/O thread ----------------------------------------------------------

    def _ask(self, channel: FrameChannel[Frame], command: str) -> Frame:
        """Query until answered; the channel's quiet-time watchdog ends a hopeless wait."""
        while True:
            try:
                return channel.request(messages.query(command), _is_reply_to(command))
            except ReplyTimeout:
                continue

    def _ask_optional(self, channel: FrameChannel[Frame], command: str, attempts: int = 2) -> Frame | None:
        for _ in range(attempts):
            try:
                return channel.request(messages.query(command), _is_reply_to(command))
            except ReplyTimeout:
                continue
        return None

    def _remote_enable(self, channel: FrameChannel[Frame], serial: str) -> None:
        reply = channel.request(messages.remote_ctrl_enable(serial), _is_reply_to("REMOTE_CTRL"))
        if not messages.handshake_accepted(reply):
            raise LinkLostError(
                f"pump {serial} refused remote communication (another pump on the cable, or remote "
                f"access switched off at the pump): {'^'.join(reply.fields)}"
            )

    def _negotiate(self, channel: FrameChannel[Frame]) -> PumpIdentity:
        serial = messages.parse_single(self._ask(channel, "INST_SERIALNO"), "INST_SERIALNO")
        # Not every pump may answer these two; they describe, they do not gate.
        reply = self._ask_optional(channel, "COMMS_RESPONSE_MAX")
        response_max_ms = messages.parse_response_max_ms(reply) if reply else None
        reply = self._ask_optional(channel, "COMMS_PROTOCOL")
        version = messages.parse_single(reply, "COMMS_PROTOCOL") if reply else "unknown"
        if self.handshake:
            while True:
                try:
                    self._remote_enable(channel, serial)
                    break
                except ReplyTimeout:
                    continue
        return PumpIdentity(
            serial=serial,
            protocol=self.protocol,
            protocol_version=version,
            url=self.url,
            response_max_ms=response_max_ms,
        )

    def _poll(self, channel: FrameChannel[Frame]) -> Telemetry:
        """One request, one reply, in turn. A frame that answered none of them (sent unasked, or a late
        reply) during the poll means one of the frames taken as a reply may not be the pump's answer:
        the reading is dropped."""
        unasked = channel.stats.unsolicited
        inf = messages.parse_inf(channel.request(messages.query("INF"), _is_reply_to("INF")))
        at = self._clock()
        vtbi = messages.parse_vtbi(channel.request(messages.query("INF_VTBI"), _is_reply_to("INF_VTBI")))
        alarm = messages.parse_alarm(channel.request(messages.query("ALARM"), _is_reply_to("ALARM")))
        channel.settle()
        if channel.stats.unsolicited > unasked:
            raise UnsolicitedFrames(
                f"{channel.stats.unsolicited - unasked} frames the driver did not ask for (unasked) came "
                "during the poll: reading dropped"
            )
        telemetry = messages.build_telemetry(at, inf, vtbi, alarm)
        problem = implausibility(telemetry, MAX_RATE_ML_H)
        if problem is not None:
            raise ImplausibleReading(f"implausible reading from pump {telemetry.serial}: {problem}")
        return telemetry

    def _session(self, channel: FrameChannel[Frame]) -> None:
        identity = self._negotiate(channel)
        self._identity = identity
        self._link.set_state(
            LinkStatus.CONNECTED, f"pump {identity.serial} ({identity.protocol_version}) on {self.url}"
        )
        stats = channel.stats
        last_keepalive = time.monotonic()
        next_poll = last_keepalive
        last_good = last_keepalive
        while True:
            channel.idle_until(next_poll)
            started = time.monotonic()
            next_poll = max(next_poll + self.poll_interval_s, started)
            try:
                if self.handshake and started - last_keepalive >= self.keepalive_s:
                    last_keepalive = started
                    self._remote_enable(channel, identity.serial)
                telemetry = self._poll(channel)
            except ReplyTimeout:
                continue  # the quiet-time watchdog inside the channel decides when this is a loss
            except ProtocolError as error:
                if isinstance(error, ImplausibleReading):
                    stats.implausible += 1
                elif not isinstance(error, UnsolicitedFrames):
                    stats.bad_replies += 1
                stats.last_fault = str(error)
                self._faults.note(type(error).__name__, "%s: unusable reply: %s", self.url, error)
                if time.monotonic() - last_good > self._quiet_time_s:
                    raise LinkLostError(f"no usable reading for {self._quiet_time_s:g} s: {error}") from error
                continue
            last_good = time.monotonic()
            if telemetry.serial != identity.serial:
                raise LinkLostError(
                    f"pump serial changed from {identity.serial} to {telemetry.serial}; renegotiating"
                )
            stats.polls += 1
            stats.last_poll_started = started
            try:
                self._on_telemetry(telemetry)
            except Exception:
                log.exception("on_telemetry callback failed for %s", self.url)
