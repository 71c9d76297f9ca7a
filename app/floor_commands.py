"""The floor's subcommands: `chairside headless` (a station without a screen) and `chairside overview`
(the charge nurse's screen over every station, through the broker)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from app.cli_options import number_in, window_size
from app.station.headless import register as register_headless


def run_overview(args: argparse.Namespace) -> int:
    from app.ui.floor_overview import run  # Qt only when the overview runs

    return int(run(args))


def register(subparsers: Any) -> None:
    register_headless(subparsers)
    p = subparsers.add_parser("overview", help="the charge nurse's screen: every chair of every station")
    p.add_argument("--broker", metavar="URL", required=True, help="the floor's broker: mqtts://host[:port]")
    p.add_argument("--username", default="overview", help="the overview's broker user (default: overview)")
    p.add_argument("--password-file", type=Path, metavar="PATH", help="its password (first line)")
    p.add_argument("--ca-file", type=Path, metavar="PATH", help="the CA that signed the broker's certificate")
    p.add_argument(
        "--allow-plaintext", action="store_true", help="allow mqtt:// to another computer (no TLS)"
    )
    p.add_argument("--charge-nurse", metavar="ID", help="who acknowledges alarms from this screen")
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
