"""The station GUI's command-line options (`chairside` with no subcommand), declared where the command
line is parsed: the widgets never import the drivers' option parsers (app/ui/launch.py runs what these
options asked for)."""

from __future__ import annotations

import argparse
from pathlib import Path

from app.station.headless import add_station_arguments
from drivers.command_line import number_in, whole_in, window_size

MAX_SPEED = 10_000.0  # demo time at most this many times faster than real time
MAX_PREROLL_MIN = 24 * 60.0
MAX_QUIT_AFTER_S = 7 * 24 * 3600.0


def add_gui_arguments(parser: argparse.ArgumentParser) -> None:
    from app.station.config import MAX_CHAIRS

    chairs = whole_in(1, MAX_CHAIRS)
    gui = parser.add_argument_group("station (no subcommand)")
    gui.add_argument(
        "--db",
        help="the journal database (default: the user data folder; a temporary one for a demo that runs "
        "faster than real time)",
    )
    gui.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help="the station configuration: its chairs and their pumps (default: station.toml in the "
        "user config folder; example: docs/station.example.toml)",
    )
    gui.add_argument(
        "--chairs",
        type=chairs,
        help=f"without a configuration: a floor of N chairs with no pumps, 1 to {MAX_CHAIRS} (with --demo: "
        "default 6, or --demo's count)",
    )
    gui.add_argument(
        "--demo", type=chairs, metavar="N", help="run N simulated pumps and play the nurses' side"
    )
    gui.add_argument(
        "--speed",
        type=number_in(0.0, MAX_SPEED, above_low=True),
        default=1.0,
        help="demo time runs this many times faster (default 1)",
    )
    gui.add_argument(
        "--preroll",
        type=number_in(0.0, MAX_PREROLL_MIN, unit="min"),
        default=0.0,
        metavar="MIN",
        help="start the demo this many minutes in",
    )
    gui.add_argument(
        "--screenshot", type=Path, metavar="PATH", help="save the window as PNG after --quit-after"
    )
    gui.add_argument(
        "--quit-after",
        type=number_in(0.0, MAX_QUIT_AFTER_S, unit="s"),
        metavar="S",
        help="quit after S seconds (wall time)",
    )
    gui.add_argument("--chair", type=chairs, metavar="K", help="open chair K's view")
    gui.add_argument(
        "--nurse",
        metavar="ID",
        help="demo only: the demo account signed in (default RN-AB; another ID becomes a demo nurse)",
    )
    gui.add_argument("--window-size", type=window_size, metavar="WxH", help="window size, e.g. 1366x768")
    gui.add_argument(
        "--encrypt-journal",
        action="store_true",
        help="create the station's journal encrypted (SQLCipher); the key is asked for and kept in the OS keyring",
    )
    gui.add_argument(
        "--journal-key-prompt",
        action="store_true",
        help="ask for the encrypted journal's key instead of the keyring",
    )
    gui.add_argument(
        "--idle-lock-min",
        type=number_in(0.01, 24 * 60.0, unit="min"),
        metavar="MIN",
        help="lock the station after MIN minutes without input (default: the station configuration's, 5)",
    )
    add_station_arguments(gui)  # --broker URL, --station NAME (the floor; app.station.publish)
