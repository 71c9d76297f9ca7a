"""`chairside maintenance`'s options, declared where the command line is parsed (the store takes typed
values and never imports the drivers' option parsers)."""

from __future__ import annotations

from typing import Any

from app.paths import default_db_path
from app.store.maintenance import run
from app.store.telemetry import DEFAULT_KEEP_EVERY_S, DEFAULT_RETENTION_DAYS, MAX_RETENTION_DAYS
from drivers.command_line import number_in


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "maintenance",
        help="compact closed sessions' pump readings, delete expired ones and VACUUM (the journal is untouched)",
    )
    parser.add_argument("--db", help=f"database (default {default_db_path()})")
    parser.add_argument(
        "--retention-days",
        type=number_in(1, MAX_RETENTION_DAYS, unit="days"),
        default=DEFAULT_RETENTION_DAYS,
        metavar="N",
        help=f"delete pump readings older than N days, except open sessions' ({DEFAULT_RETENTION_DAYS:g})",
    )
    parser.add_argument(
        "--keep-every-min",
        type=number_in(0, 24 * 60, unit="minutes", above_low=True),
        default=DEFAULT_KEEP_EVERY_S / 60.0,
        metavar="M",
        help=f"a compacted session keeps its changes and one reading per M minutes ({DEFAULT_KEEP_EVERY_S / 60:g})",
    )
    parser.set_defaults(func=run)
