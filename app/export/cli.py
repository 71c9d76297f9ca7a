"""`chairside export`: the shift log as PDF, CSV, JSON or HL7 (to a file and/or over MLLP)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.export.api import FORMATS, ExportRequest, run_export
from app.export.hl7_settings import Hl7Settings
from app.export.mllp import MllpError, parse_address
from app.export.model import ExportError
from app.export.pdf import PAPER
from app.export.shifts import ExportRange, ShiftConfig, ShiftError
from app.paths import default_config_path, default_db_path
from drivers.command_line import number_in


def register(
    sub: Any,
    hl7_settings: Callable[[Path | None], Hl7Settings],
    display_zone: Callable[[Path | None], str | None] | None = None,
) -> None:
    """`hl7_settings(--config)`: the station file's [hl7] identities; `display_zone(--config)`: the zone
    the station file names for its screens (the station reads its file; export is handed what it
    needs). The export's times are in that zone unless the shift file names its own."""
    parser = sub.add_parser(
        "export",
        help="export a shift log (PDF, CSV, JSON or HL7) verifiable against the journal",
        description="Export the journal entries recorded in a time range. Without --shift or --from/--to "
        "the current shift is exported. Shift boundaries come from resources/shifts.toml (or --shifts).",
    )
    parser.add_argument("--db", help=f"database (default {default_db_path()})")
    parser.add_argument(
        "--from", dest="since", metavar="ISO", help="start of the range (local time if no offset)"
    )
    parser.add_argument("--to", dest="until", metavar="ISO", help="end of the range, exclusive")
    parser.add_argument("--shift", metavar="DATE[/NAME]", help="a configured shift, e.g. 2026-01-05/day")
    parser.add_argument("--shifts", type=Path, help="shift configuration (TOML) instead of the shipped one")
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("-o", "--output", type=Path, help="file to write (required unless --mllp with hl7)")
    parser.add_argument("--mllp", metavar="HOST:PORT", help="send the HL7 messages to this MLLP receiver")
    parser.add_argument(
        "--mllp-timeout",
        type=number_in(0.0, 3600.0, unit="s", above_low=True),
        default=10.0,
        help="seconds to wait for each ACK (10)",
    )
    parser.add_argument(
        "--batch", action="store_true", help="HL7 file: the messages in an FHS/BHS batch envelope"
    )
    parser.add_argument("--paper", choices=tuple(PAPER), default="a4")
    parser.add_argument(
        "--hl7-sample-minutes",
        type=number_in(0.0, 24 * 60.0, unit="min"),
        help="pump samples as PCD-01 messages at most this often (0: none; default: [hl7] or 15)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        help=f"station configuration: the [hl7] identities and the display_tz the export's times are in "
        f"(default {default_config_path()}, if present)",
    )
    parser.set_defaults(func=run, hl7_settings=hl7_settings, display_zone=display_zone)


def resolve_range(args: argparse.Namespace, config: ShiftConfig, now: datetime) -> ExportRange:
    if args.shift and (args.since or args.until):
        raise ShiftError("use either --shift or --from/--to, not both")
    if args.shift:
        return config.parse_shift(args.shift)
    if args.since or args.until:
        if not (args.since and args.until):
            raise ShiftError("--from and --to go together")
        since, until = config.parse_moment(args.since), config.parse_moment(args.until)
        return ExportRange(since, until, f"{config.local.stamp(since)} to {config.local.stamp(until)}")
    return config.current(now)


def run(args: argparse.Namespace) -> int:
    try:
        reader = getattr(args, "display_zone", None)
        config = ShiftConfig.load(args.shifts).at_station(reader(args.config) if reader else None)
        export_range = resolve_range(args, config, datetime.now(UTC))
        mllp = parse_address(args.mllp) if args.mllp else None
        if mllp is not None and args.format != "hl7":
            raise ShiftError("--mllp sends HL7: use it with --format hl7")
        if args.output is None and mllp is None:
            raise ShiftError("say where to write the export: -o FILE")
        if args.batch and (args.format != "hl7" or args.output is None):
            raise ShiftError("--batch wraps an HL7 file: use it with --format hl7 -o FILE")
        request = ExportRequest(
            db_path=Path(args.db) if args.db else default_db_path(),
            export_range=export_range,
            fmt=args.format,
            output=args.output,
            local=config.local,
            paper=args.paper,
            mllp=mllp,
            mllp_timeout_s=args.mllp_timeout,
            hl7_sample_interval_min=args.hl7_sample_minutes,
            hl7_settings=args.hl7_settings(args.config),
            hl7_batch=args.batch,
        )
        result = run_export(request)
    except MllpError as exc:
        print(f"chairside export: HL7 not delivered: {exc} (the same command resumes)", file=sys.stderr)
        return 3
    except (ShiftError, ExportError, ValueError, OSError) as exc:
        print(f"chairside export: {exc}", file=sys.stderr)
        return 2
    for warning in result.warnings:
        print(f"chairside export: warning: {warning}", file=sys.stderr)
    print(f"{export_range.label}: {result.describe(args.format)}")
    return 0
