"""``chairside config check``: is the station's configuration usable, and does every pump answer?

Validates the file, probes every configured pump at once (each with its own link settings: a pump is
given up on when its link says it is lost, or after `drivers.probe.probe_timeout_s`) and prints one
line per chair: the pump's identity and one reading, or why it failed. A chair without a pump is
reported, not failed. Exit 0 when every pump answered, 1 naming each chair that failed, 2 for a file
that cannot be used.
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.paths import default_config_path
from app.station.config import (
    ChairConfig,
    PumpConfig,
    StationConfig,
    StationConfigError,
    default_name_warning,
    load_station_config,
)
from drivers import available_protocols
from drivers.base import DriverError, LinkStatus
from drivers.link import LinkSettings
from drivers.probe import DEFAULT_POLL_INTERVAL_S, ProbeResult, probe_pump, probe_timeout_s

__all__ = [
    "ProbeResult",
    "check_pump",
    "check_pump_or_reason",
    "describe",
    "driver_defaults_text",
    "failure",
    "probe_wait_s",
    "pump_protocols",
]

EXIT_ALL_ANSWERED = 0
EXIT_PUMP_FAILED = 1
EXIT_BAD_CONFIG = 2

NO_PUMP = "no pump configured"


def check_pump(pump: PumpConfig) -> ProbeResult:
    """Probe one configured pump with its own link settings; blocks until it answers or is given up."""
    return probe_pump(pump.as_driver_config(), stop_on_loss=True)


def check_pump_or_reason(pump: PumpConfig) -> ProbeResult | str:
    """`check_pump`, or why no probe could run (the driver refused the settings)."""
    try:
        return check_pump(pump)
    except DriverError as error:
        return f"the driver refused the settings: {error}"


def probe_wait_s(pump: PumpConfig) -> float:
    """How long `check_pump` may take for this pump before it is given up."""
    return probe_timeout_s(pump.as_driver_config())


def pump_protocols() -> list[str]:
    """The pump protocols a chair may be configured with (one per driver package)."""
    return list(available_protocols())


def driver_defaults_text() -> str:
    """What an empty link setting means: the drivers' own defaults, in one sentence."""
    link = LinkSettings()
    return (
        f"An empty setting takes the driver's default: poll every {DEFAULT_POLL_INTERVAL_S:g} s; "
        f"quiet time {link.quiet_time_s:g} s (no reply for that long: the link is lost and the chair "
        f"alarms); reply wait {link.reply_timeout_s:g} s; retry a lost link at most every "
        f"{link.reconnect_max_s:g} s; handshake on."
    )


_HINTS = (
    ("No such file or directory", "no such port: is the adapter plugged in and the name right?"),
    ("Permission denied", "not allowed to open the port: add the station's user to the 'dialout' group"),
    (
        "Could not exclusively lock port",
        "the port is in use: by the running station's own link to this pump, or by another program",
    ),
    ("Device or resource busy", "the port is in use by another program"),
    ("Connection refused", "the device server refused the connection: check its address and port"),
    ("Name or service not known", "unknown host name: check the device server's address"),
    ("timed out", "the device server did not answer: check its address and the network"),
    (
        "no valid frame from the pump",
        "the port opens but no pump answers: is the pump on, its cable in, remote communication on?",
    ),
)
"""Known failure texts and what a biomedical engineer should check, in the order they are tried."""


def failure_hint(reason: str) -> str | None:
    """What to check for a link failure ``reason``, or None when it is not a known one."""
    for text, hint in _HINTS:
        if text in reason:
            return hint
    return None


def failure(result: ProbeResult) -> tuple[str, str]:
    """Why the probe got no reading: (what to check, the link's own words)."""
    raw = result.link.reason if result.link.status is LinkStatus.LOST else result.reason
    return failure_hint(raw) or raw, raw


def describe(result: ProbeResult) -> str:
    """One line: who answered and what it reads, or why nothing came (what to check, then the detail)."""
    telemetry = result.telemetry
    if telemetry is None:
        hint, raw = failure(result)
        return raw if hint == raw else f"{hint} ({raw})"
    identity = result.identity
    who = (
        f"pump {identity.serial} ({identity.protocol}, {identity.protocol_version})"
        if identity is not None
        else f"pump {telemetry.serial}"
    )
    reading = f"{telemetry.state.value}, {telemetry.rate_ml_h:.2f} mL/h, {telemetry.volume_infused_ml:.3f} mL infused"
    if telemetry.alarms:
        reading += ", alarm " + "; ".join(f"{a.code} {a.text}" for a in telemetry.alarms)
    return f"{who}: {reading}"


@dataclass(frozen=True)
class ChairCheck:
    chair: ChairConfig
    result: ProbeResult | None = None
    error: str | None = None
    """Why no probe could be made (the driver refused the settings)."""

    @property
    def status(self) -> str:
        if self.chair.pump is None:
            return "no pump"
        return "ok" if self.result is not None and self.result.answered else "failed"

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    @property
    def detail(self) -> str:
        if self.chair.pump is None:
            return NO_PUMP
        if self.error is not None:
            return self.error
        assert self.result is not None
        return describe(self.result)

    def to_json(self) -> dict[str, Any]:
        pump, result = self.chair.pump, self.result
        return {
            "chair": self.chair.name,
            "status": self.status,
            "protocol": pump.protocol if pump else None,
            "url": pump.url if pump else None,
            "detail": self.detail,
            "identity": result.identity.to_json() if result and result.identity else None,
            "telemetry": result.telemetry.to_json() if result and result.telemetry else None,
            "link": {"status": result.link.status.value, "reason": result.link.reason} if result else None,
            "elapsed_s": round(result.elapsed_s, 3) if result else None,
        }


def _check_chair(chair: ChairConfig) -> ChairCheck:
    if chair.pump is None:
        return ChairCheck(chair)
    try:
        return ChairCheck(chair, check_pump(chair.pump))
    except DriverError as error:
        return ChairCheck(chair, error=f"the driver refused the settings: {error}")


def check_station(config: StationConfig) -> list[ChairCheck]:
    """Probe every chair's pump concurrently; results in the configuration's chair order."""
    with ThreadPoolExecutor(
        max_workers=max(1, len(config.chairs)), thread_name_prefix="config-check"
    ) as pool:
        return list(pool.map(_check_chair, config.chairs))


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("config", help="the station's configuration file")
    actions = parser.add_subparsers(dest="config_action", required=True)
    check = actions.add_parser(
        "check",
        help="validate the configuration and probe every pump",
        description=(__doc__ or "").split("\n\n")[1].replace("\n", " "),
    )
    check.add_argument(
        "--config",
        dest="check_config",
        type=Path,
        metavar="PATH",
        help=f"the station configuration (default {default_config_path()})",
    )
    check.add_argument("--json", action="store_true", help="print one JSON document")
    check.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    path = args.check_config or getattr(args, "config", None) or default_config_path()
    try:
        config = load_station_config(path)
    except StationConfigError as error:
        print(f"chairside config check: {error}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    warning = default_name_warning(config)
    if warning:
        print(f"chairside config check: {path}: warning: {warning}", file=sys.stderr)
    checks = check_station(config)
    failed = [check.chair.name for check in checks if check.failed]
    if args.json:
        document = {
            "config": str(path),
            "station": config.name,
            "all_answered": not failed,
            "failed": failed,
            "chairs": [check.to_json() for check in checks],
        }
        print(json.dumps(document, indent=2))
    else:
        width = max(len(check.chair.name) for check in checks)
        for check in checks:
            where = f" on {check.chair.pump.url}" if check.status == "ok" and check.chair.pump else ""
            print(f"{check.chair.name:{width}}  {check.status.upper():7}  {check.detail}{where}")
    pumps = sum(1 for check in checks if check.chair.pump is not None)
    if failed:
        print(
            f"chairside config check: {len(failed)} of {pumps} pumps did not answer: {', '.join(failed)}",
            file=sys.stderr,
        )
        return EXIT_PUMP_FAILED
    return EXIT_ALL_ANSWERED
