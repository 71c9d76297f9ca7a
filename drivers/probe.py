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

from drivers import available_protocols, open_driver
from drivers.base import DriverError, LinkState, PumpIdentity, Telemetry

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
        "--timeout", type=float, default=15.0, help="seconds to wait for a reading (default 15)"
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


def run(args: argparse.Namespace) -> int:
    got: list[Telemetry] = []
    states: list[LinkState] = []
    answered = threading.Event()

    def on_telemetry(telemetry: Telemetry) -> None:
        got.append(telemetry)
        answered.set()

    config = {
        "protocol": args.protocol,
        "url": args.url,
        "handshake": not args.no_handshake,
        "poll_interval_s": 0.5,
        "quiet_time_s": max(1.0, min(10.0, args.timeout)),
        "reconnect_max_s": 1.0,
    }
    try:
        driver = open_driver(config, on_telemetry=on_telemetry, on_link_state=states.append)
    except DriverError as error:
        print(f"chairside probe: {error}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    driver.start()
    try:
        answered.wait(args.timeout)
    finally:
        driver.stop()
    if not got:
        last = states[-1] if states else driver.link_state
        stats = getattr(driver, "stats", None)
        fault = getattr(stats, "last_fault", "")
        if fault:
            print(f"chairside probe: no usable reading on {args.url}: {fault}", file=sys.stderr)
            return EXIT_NO_PUMP
        print(
            f"chairside probe: no pump answered on {args.url} within {args.timeout:g} s "
            f"(link {last.status.value}: {last.reason})",
            file=sys.stderr,
        )
        return EXIT_NO_PUMP
    identity, telemetry = driver.identity, got[0]
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
    parser = argparse.ArgumentParser(prog="chairside probe", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
