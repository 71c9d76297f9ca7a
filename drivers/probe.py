"""``chairside probe URL``: is there a pump on this cable? Prints its identity and one reading.

The biomedical engineer's cable check: connect with the chair's driver, wait for one Telemetry,
print it (``--json`` for machines) and exit 0; exit 1 with the last link state when no pump answers
within ``--timeout`` seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import serial

from drivers import available_protocols, open_driver
from drivers.base import DriverError, LinkState, LinkStatus, PumpIdentity, Telemetry
from drivers.command_line import OneLineParser, number_in
from drivers.link import LinkSettings

EXIT_NO_PUMP = 1
EXIT_BAD_CONFIG = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "url", help="serial port or pyserial URL: /dev/ttyUSB0, COM3, socket://host:port, ..."
    )
    parser.add_argument(
        "--protocol",
        default="alaris",
        help=f"pump protocol (default alaris; known: {', '.join(available_protocols())})",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--timeout",
        type=number_in(0.0, 3600.0, unit="s", above_low=True),
        default=15.0,
        help="seconds to wait for a reading (default 15)",
    )
    parser.add_argument(
        "--no-handshake", action="store_true", help="do not send the remote-communication handshake"
    )


def _text(identity: PumpIdentity | None, telemetry: Telemetry) -> str:
    def number(value: float | None, unit: str, digits: int) -> str:
        return "-" if value is None else f"{value:.{digits}f} {unit}"

    lines = []
    if identity is not None:
        lines.append(f"pump      {identity.serial} ({identity.protocol}, {identity.protocol_version})")
        lines.append(f"port      {identity.url}")
    alarms = "; ".join(f"{a.code} {a.text}" for a in telemetry.alarms) or "none"
    lines += [
        f"state     {telemetry.state.value}",
        f"rate      {number(telemetry.rate_ml_h, 'mL/h', 2)}",
        f"volume    {number(telemetry.volume_infused_ml, 'mL', 3)}",
        f"vtbi      {number(telemetry.vtbi_ml, 'mL', 3)}",
        f"pressure  {number(telemetry.pressure_mmhg, 'mmHg', 1)}",
        f"remaining {number(telemetry.time_remaining_min, 'min', 1)}",
        f"alarms    {alarms}",
        f"at        {telemetry.at.isoformat()}",
    ]
    return "\n".join(lines)


def check_url(url: str) -> None:
    """A pyserial URL whose scheme pyserial does not know is a typo, not a missing pump."""
    if "://" not in url:
        return
    try:
        serial.serial_for_url(url, do_not_open=True)
    except (ValueError, serial.SerialException) as error:
        raise DriverError(f"{url}: {error}") from None


@dataclass(frozen=True)
class ProbeResult:
    """What one probe saw: the pump's identity and first reading, or the link state it ended in."""

    url: str
    identity: PumpIdentity | None
    telemetry: Telemetry | None
    link: LinkState
    elapsed_s: float
    fault: str = ""
    """The last reply the driver could not use (e.g. an implausible reading), when no reading came."""

    @property
    def answered(self) -> bool:
        return self.telemetry is not None

    @property
    def reason(self) -> str:
        """Why no reading came (empty when one did)."""
        if self.answered:
            return ""
        if self.fault:
            return f"no usable reading within {self.elapsed_s:.1f} s: {self.fault}"
        return f"no reading within {self.elapsed_s:.1f} s (link {self.link.status.value}: {self.link.reason})"


DEFAULT_POLL_INTERVAL_S = 1.0


def probe_timeout_s(config: Mapping[str, Any]) -> float:
    """Long enough for the link to give up on a silent pump by itself: its quiet time, the replies of
    the start-up queries, one poll, and a second to spare."""
    defaults = LinkSettings()
    quiet = float(config.get("quiet_time_s", defaults.quiet_time_s))
    reply = float(config.get("reply_timeout_s", defaults.reply_timeout_s))
    poll = float(config.get("poll_interval_s", DEFAULT_POLL_INTERVAL_S))
    return quiet + 6 * reply + poll + 1.0


def probe_pump(
    config: Mapping[str, Any], *, timeout_s: float | None = None, stop_on_loss: bool = False
) -> ProbeResult:
    """Connect with the driver ``config`` names, wait for one reading, stop. Blocks the calling thread.

    Ends at the first reading, at ``timeout_s`` (default `probe_timeout_s`), or, with ``stop_on_loss``,
    as soon as the link reports itself lost (a port that cannot be opened, a pump silent for its quiet
    time). DriverError (ConfigError) when no driver can be built from ``config``.
    """
    got: list[Telemetry] = []
    states: list[LinkState] = []
    done = threading.Event()

    def on_telemetry(telemetry: Telemetry) -> None:
        got.append(telemetry)
        done.set()

    def on_link_state(state: LinkState) -> None:
        states.append(state)
        if stop_on_loss and state.status is LinkStatus.LOST:
            done.set()

    started = time.monotonic()
    driver = open_driver(config, on_telemetry=on_telemetry, on_link_state=on_link_state)
    wait_s = probe_timeout_s(config) if timeout_s is None else timeout_s
    driver.start()
    try:
        done.wait(wait_s)
    finally:
        driver.stop()
    return ProbeResult(
        url=str(config.get("url", "")),
        identity=driver.identity,
        telemetry=got[0] if got else None,
        link=states[-1] if states else driver.link_state,
        elapsed_s=time.monotonic() - started,
        fault="" if got else str(getattr(getattr(driver, "stats", None), "last_fault", "")),
    )


def run(args: argparse.Namespace) -> int:
    config = {
        "protocol": args.protocol,
        "url": args.url,
        "handshake": not args.no_handshake,
        "poll_interval_s": 0.5,
        "quiet_time_s": max(1.0, min(10.0, args.timeout)),
        "reconnect_max_s": 1.0,
    }
    try:
        check_url(args.url)
        result = probe_pump(config, timeout_s=args.timeout)
    except DriverError as error:
        print(f"chairside probe: {error}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    if result.telemetry is None and result.fault:
        print(f"chairside probe: no usable reading on {args.url}: {result.fault}", file=sys.stderr)
        return EXIT_NO_PUMP
    if result.telemetry is None:
        last = result.link
        print(
            f"chairside probe: no pump answered on {args.url} within {args.timeout:g} s "
            f"(link {last.status.value}: {last.reason})",
            file=sys.stderr,
        )
        return EXIT_NO_PUMP
    identity, telemetry = result.identity, result.telemetry
    if args.json:
        document = {
            "url": args.url,
            "identity": identity.to_json() if identity else None,
            "telemetry": telemetry.to_json(),
        }
        print(json.dumps(document, indent=2))
    else:
        print(_text(identity, telemetry))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="chairside probe", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
