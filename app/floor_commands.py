"""The floor's subcommands: `chairside headless` (a station without a screen) and `chairside overview`
(the charge nurse's screen over every station, through the broker; `--board` for the wall).

The overview has its own database (`--db`: its accounts, managed with `chairside users --db`, and their
sign-ins) and its own Ed25519 key (`--key`, created at the first start); a station accepts its signed
commands once `[floor] overviews = [{name, public_key}]` names it (`--print-public-key` prints the line).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from app.station.headless import register as register_headless
from drivers.command_line import number_in, window_size

DEFAULT_OVERVIEW_NAME = "Floor overview"


def overview_key_path(args: argparse.Namespace) -> Path:
    from app.paths import config_dir
    from app.station.floor_signing import OVERVIEW_KEY_FILE

    return Path(args.key) if args.key else config_dir() / OVERVIEW_KEY_FILE


def run_overview(args: argparse.Namespace) -> int:
    from app.station.floor_signing import load_or_create_overview_key, public_text

    try:
        key = load_or_create_overview_key(overview_key_path(args))
    except (OSError, ValueError) as error:
        print(f"chairside: {error}", file=sys.stderr)
        return 2
    if args.print_public_key:
        print(f'{{ name = "{args.name}", public_key = "{public_text(key)}" }}')
        return 0
    if not args.broker:
        print("chairside: overview: --broker URL is required", file=sys.stderr)
        return 2
    from app.ui.floor_overview import OverviewIdentity, run  # Qt only when the overview runs

    identity = OverviewIdentity(args.name, key)
    if args.board or args.db is None:
        return int(run(args, None, identity if not args.board else None))
    from app.accounts.store import AccountStore
    from app.store.journal import Journal, JournalError
    from app.store.schema import NewerDatabaseError

    try:
        journal = Journal(Path(args.db))
    except (JournalError, NewerDatabaseError, OSError) as error:
        print(f"chairside: {args.db}: {error}", file=sys.stderr)
        return 2
    try:
        return int(run(args, AccountStore(journal), identity))
    finally:
        journal.close()


def register(subparsers: Any) -> None:
    register_headless(subparsers)
    p = subparsers.add_parser("overview", help="the charge nurse's screen: every chair of every station")
    p.add_argument("--broker", metavar="URL", help="the floor's broker: mqtts://host[:port]")
    p.add_argument("--username", default="overview", help="the overview's broker user (default: overview)")
    p.add_argument("--password-file", type=Path, metavar="PATH", help="its password (first line)")
    p.add_argument("--ca-file", type=Path, metavar="PATH", help="the CA that signed the broker's certificate")
    p.add_argument(
        "--allow-plaintext", action="store_true", help="allow mqtt:// to another computer (no TLS)"
    )
    p.add_argument(
        "--db",
        type=Path,
        metavar="PATH",
        help="the overview's own database: its accounts (chairside users --db PATH) and sign-ins",
    )
    p.add_argument(
        "--name",
        default=DEFAULT_OVERVIEW_NAME,
        help=f"this overview's name, as enrolled at the stations (default: {DEFAULT_OVERVIEW_NAME!r})",
    )
    p.add_argument("--key", type=Path, metavar="PATH", help="its Ed25519 key (created if missing)")
    p.add_argument(
        "--print-public-key",
        action="store_true",
        help="print the [floor] overviews entry that enrolls this overview at a station, and exit",
    )
    p.add_argument(
        "--board", action="store_true", help="wall board: no controls, large type, no patient initials"
    )
    p.add_argument(
        "--idle-lock-min",
        type=number_in(0.5, 240.0, unit="min"),
        default=5.0,
        metavar="MIN",
        help="sign out after this many minutes without input (default 5)",
    )
    p.add_argument(
        "--screenshot", type=Path, metavar="PATH", help="save the window as PNG after --quit-after"
    )
    p.add_argument(
        "--quit-after",
        type=number_in(0.0, 7 * 24 * 3600.0, unit="s"),
        metavar="S",
        help="quit after S seconds",
    )
    p.add_argument("--window-size", type=window_size, metavar="WxH", help="window size, e.g. 1366x768")
    p.set_defaults(func=run_overview)
